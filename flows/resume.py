"""Resume: a run killed in its transform leaves its finished batches for the next run.

A run loads in one transaction, so a kill loses nothing of the warehouse but all of the run's
transform work. Each finished batch therefore leaves, beside its staging parts, a note of the
inputs it holds and what identifies each (a file's fingerprint; a WARC record's file
fingerprint and WARC-Record-ID). The next run's recovery keeps a dead run's notes and parts
in ``staging/.resume/`` (a run staged in a ``--staging`` folder: in that folder's
``.resume/``); an input whose identity is unchanged takes its outcome from there instead of
being read and parsed again. A dead run's folder goes once a run that used it has loaded, or
after a week unused. Web pages are fetched again (their bytes are not kept), so
they are transformed again too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from flows import __version__
from flows.atomic import write_atomic
from flows.units import BatchResult, WorkUnit

RESUME_DIRNAME = ".resume"  # under the staging folder; a dot keeps it apart from runs' folders
NOTE_GLOB = "done-*.json"
DOWNLOADS_DIRNAME = "downloads"  # a run's web archives, in its staging folder
UNUSED_FOR_S = 7 * 86400  # a dead run's outcomes no run has asked for are dropped after this
# What a worker reads back: the parts of the batch that held the input (meta keys of a unit).
RESUME_ARTICLES = "resume_articles"
RESUME_REJECTS = "resume_rejects"


def identity(unit: WorkUnit) -> str | None:
    """What must be unchanged for an earlier outcome of ``unit`` to stand; None: never
    reused (a fetched page)."""
    if unit.path is None:
        return None
    if "warc_id" in unit.meta:
        return f"warc:{unit.meta.get('warc_fingerprint', '')}:{unit.meta['warc_id']}"
    return unit.fingerprint


def note_batch(stage: Path, result: BatchResult, units: Iterable[WorkUnit]) -> None:
    """Write the note of one finished batch: its parts and its inputs' identities."""
    ids = {u.source: key for u in units if (key := identity(u)) is not None}
    if not ids:
        return
    note = {
        "version": __version__,
        "articles": Path(result.articles_path).name if result.articles_path else None,
        "rejects": Path(result.rejects_path).name if result.rejects_path else None,
        "inputs": ids,
    }
    path = stage / f"done-{result.batch_id}.json"
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(note), encoding="utf-8"))


def keep(staging: Path, run_dir: Path) -> None:
    """Recovery of a dead, uncommitted run: keep what its finished batches did (their notes
    and the parts they name) and the web archives it was downloading (the next run resumes
    them where they stopped); drop the rest (discovery's parts, temporary files)."""
    wanted: set[str] = set()
    for path in run_dir.glob(NOTE_GLOB):
        try:
            note = json.loads(path.read_text(encoding="utf-8"))
            wanted |= {path.name} | {note[k] for k in ("articles", "rejects") if note.get(k)}
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    wanted |= {
        f"{DOWNLOADS_DIRNAME}/{p.name}"
        for p in run_dir.glob(f"{DOWNLOADS_DIRNAME}/*")
        if p.is_file() and not p.name.startswith(".")
    }
    if wanted:
        target = staging / RESUME_DIRNAME / run_dir.name
        for name in wanted:
            with contextlib.suppress(OSError):
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(run_dir / name, target / name)
    shutil.rmtree(run_dir, ignore_errors=True)


class Resume:
    """The outcomes that killed runs left, by input; ``mark`` points units at theirs."""

    def __init__(self, *staging: Path) -> None:
        """``staging``: the warehouse's staging folder, and a ``--staging`` folder if the run
        has one (recovery keeps a killed run's outcomes beside its parts)."""
        self.folders = [root / RESUME_DIRNAME for root in staging]
        self.found: dict[str, tuple[str, str, str]] = {}  # source -> (identity, parts)
        self.used: set[Path] = set()  # dead runs' folders whose outcomes this run took
        notes = [p for folder in self.folders for p in sorted(folder.glob(f"*/{NOTE_GLOB}"))]
        for path in notes:
            try:
                note = json.loads(path.read_text(encoding="utf-8"))
                if note.get("version") != __version__:
                    continue  # another version's transform: its outcomes may differ
                parts = [
                    str(path.parent / name) if name else ""
                    for name in (note.get("articles"), note.get("rejects"))
                ]
                for source, key in note["inputs"].items():
                    self.found[source] = (str(key), parts[0], parts[1])
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # a note that cannot be read: its inputs are transformed again

    def mark(self, units: Iterable[WorkUnit]) -> None:
        if not self.found:
            return
        for unit in units:
            hit = self.found.get(unit.source)
            if hit is not None and hit[0] == identity(unit):
                unit.meta[RESUME_ARTICLES], unit.meta[RESUME_REJECTS] = hit[1], hit[2]
                self.used.add(Path(hit[1] or hit[2]).parent)

    def discard(self) -> None:
        """After this run has loaded: drop the folders it took outcomes from (what they held
        of its inputs is in the warehouse now; the rest changed since), and stale ones."""
        stale = time.time() - UNUSED_FOR_S
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for run_dir in folder.iterdir():
                try:
                    if run_dir in self.used or run_dir.stat().st_mtime < stale:
                        shutil.rmtree(run_dir, ignore_errors=True)
                except OSError:
                    continue
            with contextlib.suppress(OSError):  # another run's outcomes may still be there
                folder.rmdir()
