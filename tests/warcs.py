"""WARC files written by hand for the tests: each record as bytes, gzipped one member each."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

from fastwarc.stream_io import ZstdWriter


def page(title: str, words: str = "The council approved the new budget for the city") -> bytes:
    para = " ".join([words] * 4)
    return (
        f"<html><head><title>{title}</title>"
        '<meta property="article:published_time" content="2023-03-04T05:06:07Z">'
        f"</head><body><article><h1>{title}</h1><p>{para}.</p><p>{para} again.</p>"
        "</article></body></html>"
    ).encode()


def http_block(body: bytes, status: str = "200 OK", content_type: str = "text/html") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def encoded_response(url: str, body: bytes, headers: str) -> bytes:
    """A response archived as the server sent it: ``headers`` (CRLF-ended lines such as
    Transfer-Encoding or Content-Encoding) and ``body`` already framed or compressed."""
    block = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{headers}\r\n".encode() + body
    return record("response", url, block)


def chunked(body: bytes, size: int = 100) -> bytes:
    """``body`` in HTTP/1.1 chunks of ``size`` bytes."""
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def record(
    kind: str,
    url: str | None,
    block: bytes,
    *,
    date: str = "2024-05-01T10:00:00Z",
    content_type: str = "application/http; msgtype=response",
    version: str = "1.0",
    extra: dict[str, str] | None = None,
) -> bytes:
    headers = {
        "WARC-Type": kind,
        "WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>",
        "WARC-Date": date,
    }
    if url is not None:
        headers["WARC-Target-URI"] = url
    headers["Content-Type"] = content_type
    headers.update(extra or {})
    headers["Content-Length"] = str(len(block))
    head = f"WARC/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + block + b"\r\n\r\n"


def response(url: str, body: bytes, **kw: str) -> bytes:
    status = kw.pop("status", "200 OK")
    ctype = kw.pop("http_content_type", "text/html")
    return record("response", url, http_block(body, status, ctype), **kw)


def write_warc(path: Path, records: list[bytes], *, gzipped: bool | None = None) -> Path:
    """Concatenate records; gzipped (``.gz`` by default) writes one gzip member per record."""
    if gzipped is None:
        gzipped = path.name.endswith(".gz")
    with open(path, "wb") as fh:
        for rec in records:
            fh.write(gzip.compress(rec, mtime=0) if gzipped else rec)
    return path


def write_zstd_warc(path: Path, records: list[bytes], dictionary: bytes | None = None) -> Path:
    """One zstd frame per record; with ``dictionary``, that dictionary in a skippable frame
    first and every frame compressed with it (the zstd WARC layout of the IIPC proposal)."""
    with open(path, "wb") as fh:
        writer = ZstdWriter(fh, dictionary=dictionary) if dictionary else ZstdWriter(fh)
        for rec in records:
            writer.write(rec)
            writer.finish()
        writer.close()
    return path


def digested(rec: bytes) -> bytes:
    """``rec`` with a WARC-Block-Digest of its block (sha1, base32, as crawlers write it)."""
    import base64
    import hashlib

    head, sep, rest = rec.partition(b"\r\n\r\n")
    block = rest[: int(head.rsplit(b"Content-Length: ", 1)[1])]
    digest = base64.b32encode(hashlib.sha1(block).digest())
    return head + b"\r\nWARC-Block-Digest: sha1:" + digest + sep + rest
