"""Bytes to text: BOM, then HTTP charset, then <meta> charset (UTF-8 declared and mostly
valid is taken with its stray bytes replaced), then UTF-8, then a detector."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_\-.]+)""")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Legacy labels are decoded with their supersets, as browsers do (WHATWG encoding spec).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "cp950": "big5hkscs",
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "shift_jis": "cp932",
    "euc-kr": "cp949",
}


class DecodeError(ValueError):
    """The bytes are not text in any encoding we can establish."""


def normalise_charset(label: str | None) -> str | None:
    """A Python codec name for a declared label, or None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _SUPERSETS.get(label, _SUPERSETS.get(name, name))


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def looks_binary(data: bytes) -> bool:
    """NUL bytes early on mean binary, unless it is UTF-16/32 with a BOM."""
    head = data[:4096]
    return b"\x00" in head and not head.startswith(tuple(b for b, _ in _BOMS))


# What a binary input most likely is, by its first bytes: a reject then says what was given.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
    (b"\x04\x22\x4d\x18", "LZ4-compressed data (decompress it first)"),
    (b"BZh", "bzip2-compressed data (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first)"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)


def binary_kind(data: bytes) -> str:
    """What binary ``data`` is, when its first bytes say (else 'binary content')."""
    if data[1:4] == b"\x2a\x4d\x18" and 0x50 <= data[0] <= 0x5F:  # a zstd skippable frame
        return _MAGIC[0][1]
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return "binary content"


def _mostly_utf8(data: bytes) -> str | None:
    """``data`` as UTF-8 with stray invalid bytes replaced, as browsers decode a page that
    declares UTF-8, when most of its non-ASCII text is valid UTF-8 (a page pasted together
    from a cp1252 source); None when most is not (a page in another encoding, mislabelled)."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for c in text if c > "\x7f") - bad
    return text if good > bad else None


def decode_html(data: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """Return (text, encoding used). A declared charset that does not decode is not trusted."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace"), encoding
    declared = [normalise_charset(http_charset)]
    head = data[:4096]
    if m := _META_CHARSET.search(head) or _XML_ENCODING.search(head):
        declared.append(normalise_charset(m.group(1).decode("ascii", "ignore")))
    for label in declared:
        if label and (text := _strict(data, label)) is not None:
            # A page declaring a legacy charset (cp1252, Shift_JIS, GBK...) while its non-ASCII
            # bytes are valid UTF-8 is UTF-8: legacy text passes UTF-8's strict check by chance
            # almost never, while copied templates keep stale labels all the time.
            if (
                label != "utf-8"
                and not data.isascii()
                and (utf8 := _strict(data, "utf-8")) is not None
            ):
                return utf8, "utf-8"
            return text, label
    if "utf-8" in declared and (text := _mostly_utf8(data)) is not None:
        return text, "utf-8"
    if (text := _strict(data, "utf-8")) is not None:
        return text, "utf-8"
    best = from_bytes(data[:65536] if len(data) > 65536 else data).best()
    if best is None:
        raise DecodeError("no encoding fits the bytes")
    encoding = normalise_charset(best.encoding) or best.encoding
    text = data.decode(encoding, errors="replace")
    if text.count("\ufffd") > max(8, len(text) // 100):
        raise DecodeError(f"bytes do not decode as {encoding}")
    return text, encoding
