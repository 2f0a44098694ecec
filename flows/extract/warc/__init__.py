"""Web archives (WARC 1.0/1.1; plain, gzip or zstd) as work units, read with fastwarc.

Discovery indexes a file's records in one pass (``index``), so the flow process holds no
page; each record becomes a unit naming its file and offset, and the worker that transforms
it seeks there and reads that record only (``read``, ``http``).
"""

from flows.extract.warc.detect import compression, is_warc_file, sniff_warc
from flows.extract.warc.http import RecordError
from flows.extract.warc.index import Found, index_warc
from flows.extract.warc.read import read_payload

__all__ = ["Found", "RecordError", "compression", "index_warc", "is_warc_file"]
__all__ += ["read_payload", "sniff_warc"]
