"""What a run shows before and while it works: its name keeps the sources' paths, a warehouse
that cannot be written fails first in one line naming the parameter, batches log a running
total."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from flows.ingest import _short
from flows.load.warehouse import WarehouseUnwritable

from .conftest import EXAMPLES, REPO
from .test_crash import article_etl, run_cli


def test_run_labels_keep_the_whole_path_or_both_ends() -> None:
    assert _short("/data/in/gen") == "/data/in/gen"
    assert _short("inbox/") == "inbox/"
    assert _short("https://news.example/feed.xml") == "news.example/feed.xml"
    long = "/srv/article-etl/inboxes/customer-a/2026/12/07/incoming/batch-0001"
    label = _short(long)
    assert label.startswith("/srv/article-etl") and label.endswith("incoming/batch-0001")
    assert "…" in label and len(label) <= 48
    assert _short(long.replace("0001", "0002")) != label


def test_an_unwritable_warehouse_fails_first_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", "utf-8")
    done = subprocess.run(
        [*article_etl(), "ingest", str(EXAMPLES / "items"), "--warehouse", str(blocker / "wh")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    err = done.stderr.strip()
    assert err.startswith("article-etl: error: warehouse ") and len(err.splitlines()) == 1
    assert "(parameter warehouse, --warehouse) cannot be written: Not a directory" in err


def test_the_flow_names_the_parameter_too(tmp_path: Path, prefect_api: None) -> None:
    from flows.ingest import ingest

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", "utf-8")
    with pytest.raises(WarehouseUnwritable) as info:
        ingest(sources=[str(EXAMPLES / "items")], warehouse=str(blocker / "wh"), workers=1)
    assert "(parameter warehouse, --warehouse) cannot be written" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_batch_lines_carry_the_running_total(tmp_path: Path, prefect_api: None) -> None:
    done = run_cli("ingest", EXAMPLES / "items", "--warehouse", tmp_path / "wh", check=True)
    lines = [line for line in done.stderr.splitlines() if "inputs done" in line]
    assert lines and lines[-1].rstrip().endswith("34 of 34 inputs done"), done.stderr[-2000:]


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("prefect_api")
def test_a_feed_run_does_not_log_zero_inputs(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from .test_web_flow import _ingest, _serve

    _serve(httpserver)
    url = httpserver.url_for("/feed.xml")
    with caplog.at_level(logging.INFO):
        assert _ingest(url, tmp_path / "wh")["inputs"] == 2
    text = caplog.text
    assert "0 local inputs" not in text
    assert f"reading {url} (inputs are counted as they are fetched)" in text
    assert "2 of 2 inputs done" in text
