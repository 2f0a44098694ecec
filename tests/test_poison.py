"""The big check of issue 16: 1,000 good files and 10 poison files of 10 kinds, through the
real command line once. Every good file is loaded, every poison file rejected with a reason,
and the run completes (exit 0)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
from pathlib import Path

import pytest

from flows.cli import main
from flows.core.settings import MAX_INPUT_BYTES
from flows.load.warehouse import connect

from .items import PARAGRAPHS, item_text, write_item

T0 = 1690933501000
GOOD = 1000


_MENU = '<p><a href="/">Home</a> | <a href="/news">News</a></p>'


def _page(url: str, head: str = "", body: str = "") -> str:
    text = body or "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return (
        f'<html><head><title>Poison</title><link rel="canonical" href="{url}">{head}</head>'
        f"<body><article><h1>Poison</h1>{text}</article></body></html>"
    )


def _write(folder: Path, name: str | bytes, data: bytes) -> None:
    path = os.fsencode(folder) + b"/" + (name if isinstance(name, bytes) else name.encode())
    with open(path, "wb") as fh:
        fh.write(data)


# name -> (bytes, the reasons it may be rejected with). Two are being reworked elsewhere in
# the transform (a page date past a day's offset; an invalid canonical link), so either
# reason passes; what may never happen is a lost run or a lost good file. Pages whose poison
# is not their text (an offset, a file name) have nothing but a menu as their body.
POISON: dict[str | bytes, tuple[bytes, frozenset[str]]] = {
    "offset_99h.html": (
        _page(
            "https://p.example/offset",
            '<meta property="article:published_time" content="2024-05-01T10:00:00+99:00">',
            _MENU,
        ).encode(),
        frozenset({"internal_error", "empty_body"}),
    ),
    b"name_not_utf8_\xff\xfe.html": (
        _page("https://p.example/name", body=_MENU).encode(),
        frozenset({"empty_body"}),
    ),
    "truncated.html.gz": (
        gzip.compress(item_text(T0, "Cut", "https://p.example/cut").encode() * 3)[:-200],
        frozenset({"read_error"}),
    ),
    "far_future_header.txt": (
        item_text(4_102_444_800_000, "Year 2100", "https://p.example/future").encode(),
        frozenset({"bad_timestamp"}),
    ),
    "binary.html": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        frozenset({"not_html"}),
    ),
    "empty.html": (b"", frozenset({"empty_file"})),
    "bad_header.txt": (
        b"<!--1690933501000-->\n[T](https://p.example/h)\n<p>no dashed rule</p>",
        frozenset({"bad_header"}),
    ),
    "bomb.html.gz": (
        gzip.compress(b"<p>" + b"\0" * (MAX_INPUT_BYTES + 1), compresslevel=9),
        frozenset({"too_large"}),
    ),
    "deep.html": (
        _page("https://p.example/deep", body="<div>" * 5000 + PARAGRAPHS[0]).encode(),
        frozenset({"parse_error"}),
    ),
    "invalid_canonical.html": (
        _page("javascript:alert(1)").encode(),
        frozenset({"bad_url", "no_url"}),
    ),
}


@pytest.mark.timeout(240)
def test_a_thousand_good_files_and_ten_poison_ones(tmp_path: Path, prefect_api: None) -> None:
    src = tmp_path / "inbox"
    for i in range(GOOD):
        write_item(
            src / f"d{i // 100}", f"{i:04d}.txt", T0 + i, f"Story {i}", f"https://g.example/{i}"
        )
    poison = src / "poison"
    poison.mkdir()
    for name, (data, _) in POISON.items():
        _write(poison, name, data)
    wh = tmp_path / "wh"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["ingest", str(src), "--warehouse", str(wh), "--json", "--batch-size", "200"])
    assert code == 0  # the run completed
    summary = json.loads(out.getvalue())
    assert (summary["inputs"], summary["new"], summary["rejected"]) == (GOOD + 10, GOOD, 10)

    con = connect(wh, read_only=True)
    try:
        loaded = con.execute("SELECT count(*) FROM articles WHERE url LIKE 'https://g.example/%'")
        assert loaded.fetchall() == [(GOOD,)]
        rejects = dict(con.execute("SELECT source, reason FROM rejects").fetchall())
        status = con.execute("SELECT inputs, new, rejected FROM runs").fetchall()
    finally:
        con.close()
    assert status == [(GOOD + 10, GOOD, 10)]
    assert len(rejects) == 10
    for name, (_, reasons) in POISON.items():
        label = name if isinstance(name, str) else name.decode("utf-8", "backslashreplace")
        source = str(poison / label)
        assert rejects.get(source) in reasons, (label, rejects.get(source))
