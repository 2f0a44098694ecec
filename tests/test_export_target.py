"""`article-etl export` writes only where it is told, to a regular file outside the warehouse,
or to standard output; its format is explicit or named by OUT's suffix. Through the real CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import EXAMPLES, REPO
from .test_crash import article_etl, cli_env


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory, prefect_api: None) -> Path:
    wh = tmp_path_factory.mktemp("export") / "wh"
    done = subprocess.run(
        [*article_etl(), "ingest", str(EXAMPLES / "items"), "--warehouse", str(wh), "-q"],
        env=cli_env(),
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return wh


def export(wh: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*article_etl(), "export", *args, "--warehouse", str(wh)],
        cwd=cwd,
        capture_output=True,
        timeout=120,
    )


def _refused(done: subprocess.CompletedProcess[bytes], words: str) -> None:
    err = done.stderr.decode()
    assert done.returncode == 1 and err.startswith("article-etl: error: "), err
    assert words in err and len(err.strip().splitlines()) == 1, err


def test_a_symlink_is_refused_and_its_target_untouched(wh: Path, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me", "utf-8")
    link = tmp_path / "out.csv"
    link.symlink_to(target)
    _refused(export(wh, str(link)), "is a symbolic link")
    assert link.is_symlink() and target.read_text("utf-8") == "keep me"


def test_devices_and_fifos_are_refused(wh: Path, tmp_path: Path) -> None:
    _refused(export(wh, "/dev/null", "--format", "csv"), "not a regular file")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    _refused(export(wh, str(fifo)), "not a regular file")  # refused before any open: no hang
    _refused(export(wh, str(tmp_path), "--format", "csv"), "is a folder")


def test_nothing_inside_the_warehouse_folder(wh: Path, tmp_path: Path) -> None:
    lock = wh / ".ingest.lock"
    lock.touch()
    inode = lock.stat().st_ino
    _refused(export(wh, str(lock), "--format", "csv"), "inside the warehouse folder")
    assert lock.stat().st_ino == inode
    _refused(export(wh, str(wh / "articles.csv")), "inside the warehouse folder")
    # ...also through a symlinked folder that leads into it
    (tmp_path / "door").symlink_to(wh)
    _refused(export(wh, str(tmp_path / "door" / "x.csv")), "inside the warehouse folder")
    assert not (wh / "x.csv").exists() and not (wh / "articles.csv").exists()


def test_a_regular_file_is_replaced_whole(wh: Path, tmp_path: Path) -> None:
    out = tmp_path / "articles.ndjson"
    out.write_text("old\n", "utf-8")
    done = export(wh, str(out))
    assert done.returncode == 0 and done.stdout.decode().endswith("(jsonl)\n")
    lines = out.read_text("utf-8").splitlines()
    assert len(lines) > 30 and all(json.loads(line)["url"] for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left


def test_dash_streams_to_stdout(wh: Path) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    done = export(wh, "-", "--format", "csv")
    assert done.returncode == 0 and b"to standard output (csv)" in done.stderr
    table = pcsv.read_csv(io.BytesIO(done.stdout))
    assert table.num_rows > 30 and str(table.schema.field("timestamp").type).startswith("timestamp")
    parquet = export(wh, "-", "--format", "parquet", "-q")
    assert parquet.returncode == 0 and parquet.stderr == b""
    assert pq.read_table(io.BytesIO(parquet.stdout)).num_rows == table.num_rows
    _refused(export(wh, "-"), "choose --format")


@pytest.mark.parametrize("name", ["out.json", "out.xlsx", "out"])
def test_an_unknown_suffix_needs_a_format(wh: Path, tmp_path: Path, name: str) -> None:
    _refused(export(wh, name, cwd=tmp_path), "cannot tell the format")
    assert not (tmp_path / name).exists()
    assert export(wh, name, "--format", "jsonl", cwd=tmp_path).returncode == 0
