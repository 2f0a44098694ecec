"""Reading an input's bytes (flows/extract/read.py): files, bytes in hand, gzip."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

import flows.extract.read as read_module
from flows.core.units import WorkUnit
from flows.extract.read import Unreadable, read_bytes


def test_bytes_in_hand_are_taken_as_they_are() -> None:
    assert read_bytes(WorkUnit(source="x", data=b"<p>hi</p>")) == b"<p>hi</p>"


def test_gzip_is_inflated_and_a_truncated_stream_is_refused(tmp_path: Path) -> None:
    page = b"<html><body><p>" + b"word " * 2000 + b"</p></body></html>"
    packed = tmp_path / "page.html.gz"
    packed.write_bytes(gzip.compress(page))
    assert read_bytes(WorkUnit(source=str(packed), path=str(packed))) == page
    cut = tmp_path / "cut.html.gz"
    cut.write_bytes(gzip.compress(page)[:-12])
    with pytest.raises(Unreadable) as truncated:
        read_bytes(WorkUnit(source=str(cut), path=str(cut)))
    assert truncated.value.reason == "read_error"


def test_a_missing_file_is_a_read_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone.html"
    with pytest.raises(Unreadable) as missing:
        read_bytes(WorkUnit(source=str(gone), path=str(gone)))
    assert missing.value.reason == "read_error"


def test_a_file_that_grows_while_read_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read is sized by fstat; bytes added after it are read too, up to the limit."""
    page = tmp_path / "page.html"
    page.write_bytes(b"<p>" + b"y" * 5000)
    real_fstat = read_module.os.fstat

    def stale_fstat(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((*st[:6], 100, *st[7:]))  # st_size as it was, 100 bytes ago

    monkeypatch.setattr(read_module.os, "fstat", stale_fstat)
    assert read_bytes(WorkUnit(source=str(page), path=str(page))) == page.read_bytes()
    with pytest.raises(Unreadable) as too_large:  # and the limit still holds
        read_bytes(WorkUnit(source=str(page), path=str(page)), limit=1000)
    assert too_large.value.reason == "too_large"
