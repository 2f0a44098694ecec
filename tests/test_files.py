"""Files, folders and globs as sources: every regular file is one input, found once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import flows.extract.files as files_module
from flows.core.units import Rejection, WorkUnit
from flows.extract.files import (
    SourceNotFound,
    check_sources,
    count_files,
    discover_files,
    fingerprint,
)

from .items import PARAGRAPHS


def _page(url: str) -> str:
    return (
        f'<html><head><title>Page {url}</title><link rel="canonical" href="{url}"></head>'
        f"<body><article><p>{PARAGRAPHS[0]}</p></article></body></html>"
    )


def test_folders_are_walked_and_globs_matched_each_file_once(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.html", "a/b/two.html", "three.txt"):
        (tmp_path / name).write_text(_page(f"https://a.example/{name}"), "utf-8")
    sources = [str(tmp_path / "a"), str(tmp_path / "*.txt"), str(tmp_path / "a" / "one.html")]
    found = list(discover_files(sources))
    assert all(isinstance(f, WorkUnit) for f in found)
    names = sorted(Path(f.source).name for f in found)
    assert names == ["one.html", "three.txt", "two.html"]  # one.html named twice, found once
    assert count_files([str(tmp_path / "a")]) == 2


def test_a_source_that_matches_nothing_fails_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound):
        check_sources([str(tmp_path / "missing"), str(tmp_path / "none-*.html")])


def test_a_files_fingerprint_changes_with_its_size_or_time(tmp_path: Path) -> None:
    path = tmp_path / "a.html"
    path.write_text("one", "utf-8")
    before = fingerprint(path.stat())
    assert fingerprint(path.stat()) == before
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1_000_000_000))
    assert fingerprint(path.stat()) != before


def test_discovery_goes_on_past_an_entry_that_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a.html", "b.html", "c.html"):
        (tmp_path / name).write_text(_page(f"https://a.example/{name}"), "utf-8")
    real = files_module.fingerprint
    calls: list[int] = []

    def fragile(st: os.stat_result) -> str:
        calls.append(1)
        if len(calls) == 2:  # the second entry in walk order: b.html
            raise OverflowError("a platform oddity")
        return real(st)

    monkeypatch.setattr(files_module, "fingerprint", fragile)
    found = list(discover_files([str(tmp_path)]))
    assert [type(f).__name__ for f in found] == ["WorkUnit", "Rejection", "WorkUnit"]
    rejected = found[1]
    assert isinstance(rejected, Rejection) and rejected.source.endswith("b.html")
    assert (rejected.reason, rejected.detail) == (
        "internal_error",
        "OverflowError: a platform oddity",
    )
