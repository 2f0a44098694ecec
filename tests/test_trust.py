"""Issue 27: nothing read back is trusted, no value makes a run hang or forget.

Real processes throughout: the installed ``article-etl`` command, real folders, a real DuckDB
file. Staging notes and parts are input (forged ones change nothing), listings and folders
that cannot be read are one input's reject, parameters are bounded above as below.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flows.extract.warc import crawled_at, index_warc
from flows.transform.urls import BadURL, absolute_http_url, canonical_url
from flows.units import Rejection, WorkUnit

from .conftest import REPO
from .test_crash import article_etl
from .warcs import page, record, response, write_warc

T0 = 1690933501000


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*article_etl(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


# --- parameters: bounded above as below, one line naming the parameter --------------------


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--time-budget", "inf", "time_budget_s (--time-budget) must be a finite number"),
        ("--time-budget", "1e10", "time_budget_s (--time-budget) must be at most 600"),
        ("--min-delay", "inf", "min_delay_s (--min-delay) must be a finite number"),
        ("--min-delay", "3601", "min_delay_s (--min-delay) must be at most 3600"),
        ("--lock-wait", "inf", "lock_wait_s (--lock-wait) must be a finite number"),
        ("--per-host", "100000", "per_host_concurrency (--per-host) must be at most 64"),
        ("--workers", "100000", "workers (--workers) must be at most 1024"),
        ("--batch-size", "100000000", "batch_size (--batch-size) must be at most 1e+06"),
        ("--max-internal-error-share", "nan", "max_internal_error_share"),
    ],
)
def test_out_of_range_parameters_are_refused_in_one_line(
    tmp_path: Path, option: str, value: str, named: str
) -> None:
    done = cli("ingest", tmp_path, "--warehouse", tmp_path / "wh", option, value)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"article-etl: error: {named}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "wh").exists()  # refused before anything ran


def test_maintenance_parameters_are_bounded_too(tmp_path: Path) -> None:
    for option, value in (("--lock-wait", "inf"), ("--lineage-retention-days", "-1")):
        done = cli("maintenance", "--warehouse", tmp_path / "wh", option, value)
        assert done.returncode == 1 and option in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


# --- WARC: an empty HTTP block, an implausible WARC-Date ----------------------------------


@pytest.mark.parametrize("block", [b"", b"\r\n", b"\r\n\r\n", b"   \r\n\r\n"])
@pytest.mark.parametrize("name", ["empty.warc", "empty.warc.gz"])
def test_a_response_with_an_empty_http_block_is_a_corrupt_record(
    tmp_path: Path, block: bytes, name: str
) -> None:
    path = write_warc(
        tmp_path / name,
        [
            record("response", "https://a.example/x", block),
            response("https://a.example/y", page("Y")),
        ],
    )
    first, second = index_warc(str(path), str(path))
    assert isinstance(first, Rejection) and first.reason == "corrupt_record", first
    assert "no HTTP status" in first.detail
    assert isinstance(second, WorkUnit) and second.url == "https://a.example/y"


@pytest.mark.parametrize(
    ("warc_date", "kept"),
    [
        ("2024-05-01T10:00:00Z", True),
        ("9999-12-31T23:59:59Z", False),
        ("1800-01-01T00:00:00Z", False),
        ("yesterday", False),
    ],
)
def test_crawled_at_passes_the_plausibility_window(warc_date: str, kept: bool) -> None:
    value = crawled_at(WorkUnit("w#0", meta={"crawled_at": warc_date}))
    assert (value is not None) == kept


# --- URLs: no control character, canonical form idempotent ---------------------------------


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x7f", "\x80", "\x85", "\x9b"])
def test_urls_and_images_with_a_control_character_are_refused(control: str) -> None:
    for raw in (f"https://a.example/x{control}[31m", f"https://a{control}.example/"):
        with pytest.raises(BadURL):
            canonical_url(raw)
        assert absolute_http_url(raw, None) is None
    assert absolute_http_url(f"/img{control}.png", "https://a.example/") is None


def test_canonical_form_of_an_odd_netloc_is_stable() -> None:
    canonical = canonical_url("http://&[::1]/a")
    assert canonical == "http://[::1]/a" and canonical_url(canonical) == canonical
