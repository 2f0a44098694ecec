"""Web archives (WARC 1.0/1.1; plain, gzip or zstd) with fastwarc: discovery indexes a file in
one pass (``index``); a worker reads one record at its offset (``read``, ``http``)."""

from flows.extract.warc.detect import is_warc_file, sniff_warc
from flows.extract.warc.http import RecordError
from flows.extract.warc.index import Found, index_warc
from flows.extract.warc.read import read_payload

__all__ = ["Found", "RecordError", "index_warc", "is_warc_file", "read_payload", "sniff_warc"]
