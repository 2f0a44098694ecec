"""Discovery output routed to the run: inputs counted, unchanged ones skipped, rejects and
feed validators written as staging parts, the rest cut into batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from flows.core.atomic import real_dir
from flows.core.settings import (
    BATCH_BYTES,
    RESUME_DIRNAME,
    TAIL_BATCH_BYTES,
    UNKNOWN_UNIT_BYTES,
    WARC_BASE_URL,
)
from flows.core.units import TRANSIENT_REASONS, Lookup, Rejection, WorkUnit, row
from flows.extract.discover import (
    Discovered,
    FileEstimate,
    FileIndexed,
    FileUnchanged,
    KnownStates,
    NothingKnown,
    chunked,
    count_local,
    discover,
)
from flows.extract.web.options import NotModified, Validator, WebOptions
from flows.load.resume import DOWNLOADS_DIRNAME

TAIL_BATCH_MIN = 25


class PartWriter:
    """Rows found outside the batches (discovery rejects, HTTP validators) as staging parts."""

    def __init__(
        self,
        staging: Path,
        prefix: str,
        schema: Literal["REJECT_SCHEMA", "VALIDATOR_SCHEMA", "SOURCE_STATE_SCHEMA"],
    ) -> None:
        self.staging, self.prefix, self.schema = staging, prefix, schema
        self.rows: list[dict[str, Any]] = []
        self.parts: list[str] = []
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        """Add one row; a full chunk is written out."""
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= 1000:
            self.flush()

    def flush(self) -> None:
        """Write the rows held so far to a new Parquet part."""
        if self.rows:
            # Imported when there are rows: a run whose inputs are all unchanged never loads
            # pyarrow in the flow process (its import costs start-up time and memory).
            import pyarrow as pa

            from flows.core import schema
            from flows.core.atomic import write_parquet

            path = self.staging / f"{self.prefix}-{len(self.parts):04d}.parquet"
            table = pa.Table.from_pylist(self.rows, schema=getattr(schema, self.schema))
            write_parquet(table, path)
            self.parts.append(str(path))
            self.rows = []


def _ends_chunk(item: Discovered) -> bool:
    return isinstance(item, FileIndexed) or (isinstance(item, WorkUnit) and item.path is None)


class Router:
    """Routes discovery output: rejects and validators to their parts, unchanged inputs
    skipped, the rest on to the batches; counts every input exactly once."""

    def __init__(self, staging: Path, known: KnownStates | None = None) -> None:
        self.known = known if known is not None else NothingKnown()
        self.rejects = PartWriter(staging, "rejects-discovery", "REJECT_SCHEMA")
        self.validators = PartWriter(staging, "validators", "VALIDATOR_SCHEMA")
        self.files = PartWriter(staging, "source-files", "SOURCE_STATE_SCHEMA")
        self.reasons: dict[str, int] = {}
        self.inputs = self.skipped = 0
        # web inputs, and those whose fetch failed: all of them failing means the network or
        # the sites are down, which the run reports instead of a plain success
        self.web_inputs = self.web_failed = 0
        self.estimated = 0  # inputs expected beyond one per local file (a WARC's records)

    def route(self, stream: Iterator[Discovered]) -> Iterator[WorkUnit]:
        """``stream`` in chunks: the warehouse is asked once per chunk which of its inputs it
        has seen unchanged. A fetched page, or the end of a WARC file, ends its chunk at once:
        what follows comes at the network's pace (a page, a download), and waiting for it
        would hold back a batch that can start."""
        for chunk in chunked(stream, ends=_ends_chunk):
            yield from self._route(chunk)

    def _route(self, chunk: list[Discovered]) -> Iterator[WorkUnit]:
        asked = [i.source for i in chunk if isinstance(i, WorkUnit) and i.fingerprint is not None]
        known = self.known.fingerprints(asked) if asked else {}
        for item in chunk:
            if isinstance(item, Validator):  # state of a feed or sitemap, not an input
                self.validators.add(row(item))
                continue
            if isinstance(item, FileIndexed):  # a WARC file's state, loaded with its records
                self.files.add({"source": item.source, "fingerprint": item.fingerprint})
                continue
            if isinstance(item, FileEstimate):
                self.estimated += max(0, item.records - 1)
                continue
            if isinstance(item, FileUnchanged):  # its records were loaded before: not read
                self.inputs += item.records
                self.skipped += item.records
                continue
            item_seq = self.inputs
            self.inputs += 1
            if item.source.startswith(("http://", "https://")):
                self.web_inputs += 1
                failed = isinstance(item, Rejection) and item.reason in TRANSIENT_REASONS
                self.web_failed += failed
            if isinstance(item, NotModified):
                self.skipped += 1
            elif isinstance(item, Rejection):
                item.seq = item_seq
                self.rejects.add(row(item))
                self.reasons[item.reason] = self.reasons.get(item.reason, 0) + 1
            elif item.fingerprint is not None and known.get(item.source) == item.fingerprint:
                self.skipped += 1
            else:
                item.seq = item_seq
                if item.path is None and item.source.startswith(("http://", "https://")):
                    fetched = Validator(
                        item.source,
                        item.meta.get("etag"),
                        item.meta.get("last_modified"),
                        item.fingerprint,
                    )
                    self.validators.add(row(fetched))
                yield item

    def flush(self) -> None:
        """Write out every part still held."""
        self.rejects.flush()
        self.validators.flush()
        self.files.flush()


def unit_bytes(unit: WorkUnit) -> int:
    """What a unit weighs in a batch: its bytes when discovery knows them, else a page's."""
    if unit.data is not None:
        return max(1, len(unit.data))
    return max(1, unit.size) if unit.size is not None else UNKNOWN_UNIT_BYTES


def batches(
    units: Iterator[WorkUnit],
    size: int,
    expected: int | Callable[[], int],
    workers: int,
    on_first_unit: Callable[[], None] | None = None,
    most_bytes: int = BATCH_BYTES,
    tail_bytes: int = TAIL_BATCH_BYTES,
) -> Iterator[list[WorkUnit]]:
    """Batches of ``size`` units or ``most_bytes`` of input, whichever comes first; the last
    rounds smaller, so every worker finishes at about once, but no smaller than ``tail_bytes``
    (or TAIL_BATCH_MIN units). ``expected`` may be a callable: the count grows as discovery
    estimates what a file holds. ``on_first_unit`` is called once, when the run turns out to
    have work, before the first batch is filled (a run with nothing to transform never calls
    it)."""
    taken = 0
    seen = seen_bytes = 0  # what discovery has given so far: the average unit's size
    while True:
        first = next(units, None)  # discovery has begun the next file: its estimate counts
        if first is None:
            return
        if taken == 0 and on_first_unit is not None:
            on_first_unit()
        held = unit_bytes(first)
        seen, seen_bytes = seen + 1, seen_bytes + held
        average = seen_bytes / seen
        remaining = (expected() if callable(expected) else expected) - taken
        n = size  # or fewer: the batch ends at most_bytes
        full = max(1, min(size, int(most_bytes // average)))  # a full batch's count, estimated
        if 0 < remaining < 2 * full * workers:
            least = max(TAIL_BATCH_MIN, int(tail_bytes // average))
            n = min(full, max(least, -(-remaining // (2 * workers))))
        chunk = [first]
        while len(chunk) < n and held < most_bytes:
            unit = next(units, None)
            if unit is None:
                break
            chunk.append(unit)
            weight = unit_bytes(unit)
            held += weight
            seen, seen_bytes = seen + 1, seen_bytes + weight
        taken += len(chunk)
        yield chunk


def kept_downloads(staging: Path) -> list[Path]:
    """The folders in which recovery keeps the downloads of killed runs (flows/resume.py),
    oldest run first: only real folders, never one reached through a symlink."""
    resume = staging / RESUME_DIRNAME
    if not real_dir(resume):
        return []
    return [
        run / DOWNLOADS_DIRNAME
        for run in sorted(resume.iterdir())
        if real_dir(run) and real_dir(run / DOWNLOADS_DIRNAME)
    ]


def plan(
    sources: list[str],
    stage: Path,
    known: KnownStates,
    options: WebOptions,
    validators: Lookup[Validator],
    batch_size: int,
    workers: int,
    warc_base_url: str = WARC_BASE_URL,
    on_first_unit: Callable[[], None] | None = None,
) -> tuple[Router, int, Iterator[list[WorkUnit]]]:
    """A run's discovery, routed and cut into batches (lazily): the router, the number of
    local inputs, and the batches."""
    total = count_local(sources)
    router = Router(stage, known)
    kept = kept_downloads(stage.parent)
    found = discover(
        sources, options, validators, known, stage / DOWNLOADS_DIRNAME, warc_base_url, kept
    )
    fresh = router.route(found)

    def expected() -> int:
        return total + router.estimated

    return router, total, batches(fresh, batch_size, expected, workers, on_first_unit)
