"""Prefect's API clients share one verified TLS context; other contexts stay their own."""

from __future__ import annotations

import contextlib
import io
import json
import os
import ssl
from pathlib import Path

import certifi
import pytest
from prefect.client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient
from prefect.client.orchestration import PrefectClient, SyncPrefectClient
from prefect.settings import PREFECT_API_TLS_INSECURE_SKIP_VERIFY, temporary_settings

from flows import prefect_tls
from flows.cli import main

from .items import write_item


@pytest.fixture
def client_contexts(monkeypatch: pytest.MonkeyPatch) -> list[ssl.SSLContext]:
    """The TLS context of every Prefect API client created while the test runs."""
    seen: list[ssl.SSLContext] = []
    for cls in (PrefectHttpxAsyncClient, PrefectHttpxSyncClient):
        real = cls.__init__

        def init(self: object, *args: object, _real: object = real, **kwargs: object) -> None:
            seen.append(kwargs["verify"])  # type: ignore[arg-type]
            _real(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(cls, "__init__", init)
    return seen


def test_an_ingest_builds_one_tls_context_for_its_api_clients(
    prefect_api: None, tmp_path: Path, client_contexts: list[ssl.SSLContext]
) -> None:
    write_item(tmp_path / "in", "a.txt", 1690933501000, "Budget passes", "https://city.example/a")
    args = ["ingest", str(tmp_path / "in"), "--warehouse", str(tmp_path / "wh"), "--json"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(args) == 0
    assert json.loads(out.getvalue())["new"] == 1
    # The engine's and the command's clients at least (the log handler's and the events
    # worker's are made once per process: here, unless an earlier test made them).
    assert len(client_contexts) >= 2
    assert len({id(ctx) for ctx in client_contexts}) == 1
    ctx = client_contexts[0]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_the_no_verify_context_stays_per_client(client_contexts: list[ssl.SSLContext]) -> None:
    prefect_tls.share_api_context()
    with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        PrefectClient("http://127.0.0.1:9/api")
        SyncPrefectClient("http://127.0.0.1:9/api")
    PrefectClient("http://127.0.0.1:9/api")
    insecure_a, insecure_b, shared = client_contexts
    assert insecure_a is not insecure_b
    assert insecure_a.verify_mode == insecure_b.verify_mode == ssl.CERT_NONE
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname


def test_a_context_is_shared_per_ca_file_and_read_again_when_it_changes(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    first = prefect_tls.create_default_context(cafile=str(bundle))
    assert prefect_tls.create_default_context(cafile=bundle) is first
    assert prefect_tls.create_default_context(cafile=certifi.where()) is not first
    assert prefect_tls.create_default_context() is not prefect_tls.create_default_context()
    os.utime(bundle, ns=(1, 1))  # replaced on disk: a new context from the new file
    assert prefect_tls.create_default_context(cafile=str(bundle)) is not first
    client_side = prefect_tls.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(bundle))
    assert client_side is not prefect_tls.create_default_context(
        ssl.Purpose.CLIENT_AUTH, cafile=str(bundle)
    )
