"""One verified TLS context for Prefect's API clients, instead of a new one per client.

Prefect builds a verified ``SSLContext`` for every API client it opens: four in an unchanged
ingest (the engine's, the run's sync client, the log handler's, the events worker's), even
against a plain-HTTP local server. Each parses the CA bundle, 30 to 55 ms of CPU with
OpenSSL 3: a twentieth of a run with nothing to do. The clients are configured alike (the
same CA file, the same HTTP/2 setting, no client certificate), so they can share one; an open
upstream pull request (PrefectHQ/prefect#19106) lets a shared context be passed in instead.

Only Prefect's client module is given the shared context, and only for its verified contexts
(``cafile=``): the no-verify context it builds for ``PREFECT_API_TLS_INSECURE_SKIP_VERIFY``
is changed after creation and stays per client, and other libraries (our fetcher's httpx,
which may negotiate HTTP/2) keep their own.
"""

from __future__ import annotations

import functools
import os
import ssl
import types
from typing import Any

_SHIM_NAME = "flows.prefect_tls.ssl"
_SERVER = ssl.Purpose.SERVER_AUTH


@functools.lru_cache(maxsize=4)
def _verified(cafile: str, stamp: tuple[int, int]) -> ssl.SSLContext:
    # ``stamp`` (size, mtime): a CA file replaced while the process runs is read again.
    return ssl.create_default_context(cafile=cafile)


def create_default_context(
    purpose: ssl.Purpose = _SERVER,
    *,
    cafile: str | os.PathLike[str] | None = None,
    capath: str | None = None,
    cadata: Any = None,
) -> ssl.SSLContext:
    """``ssl.create_default_context``, shared for a server-verifying context from one CA file."""
    if cafile is None or capath is not None or cadata is not None or purpose != _SERVER:
        return ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
    path = os.fspath(cafile)
    st = os.stat(path)
    return _verified(path, (st.st_size, st.st_mtime_ns))


def share_api_context() -> None:
    """Make Prefect's API clients (``prefect.client.orchestration``) share verified contexts."""
    import prefect.client.orchestration as orchestration

    if getattr(orchestration.ssl, "__name__", "") == _SHIM_NAME:
        return
    shim = types.ModuleType(_SHIM_NAME)
    shim.__dict__.update({k: v for k, v in vars(ssl).items() if not k.startswith("__")})
    shim.create_default_context = create_default_context  # type: ignore[attr-defined]
    orchestration.ssl = shim  # type: ignore[attr-defined]
