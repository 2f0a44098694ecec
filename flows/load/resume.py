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

What is read back here is input, not our own memory: a staging folder may be shared (a
cluster's ``--staging``) or tampered with. A note is signed with a key kept in the warehouse
folder, over its inputs and its parts' digests; it names its parts by plain file names inside
its own folder, a part must be a regular file (never a symlink) with exactly its schema, and
every row must pass the checks a fresh article passes. A note that fails any check is
ignored (its inputs are simply processed again), never acted on.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows import __version__
from flows.core.atomic import real_dir, regular_file, write_atomic
from flows.core.settings import RESUME_DIRNAME
from flows.core.units import TRANSIENT_REASONS, BatchResult, RejectReason, WorkUnit

KEY_FILENAME = ".resume-key"  # in the warehouse folder, never in staging: signs the notes
NOTE_GLOB = "done-*.json"
DOWNLOADS_DIRNAME = "downloads"  # a run's web archives, in its staging folder
UNUSED_FOR_S = 7 * 86400  # a dead run's outcomes no run has asked for are dropped after this
# What a worker reads back: the parts of the batch that held the input (meta keys of a unit).
RESUME_ARTICLES = "resume_articles"
RESUME_REJECTS = "resume_rejects"
RESUME_DIGEST = "sha256:"  # prefix of the meta key holding a part's digest
# The only names a note may give its parts (flows/executors/batch.py writes them): a plain
# file name, no separator, no `..`, nothing absolute.
_PART_NAME = {
    "articles": re.compile(r"articles-[A-Za-z0-9_-]{1,64}\.parquet"),
    "rejects": re.compile(r"rejects-[A-Za-z0-9_-]{1,64}\.parquet"),
}
_NOTE_NAME = re.compile(r"done-[A-Za-z0-9_-]{1,64}\.json")
_DOWNLOAD_NAME = re.compile(r"[0-9a-f]{16}(-[0-9a-f]{16})?\.warc(\.gz)?(\.part)?")
_KNOWN_REASONS = frozenset(RejectReason)
# Outcomes a later run must find again itself: what may pass now, and what a bug caused.
_NOT_RESUMED = TRANSIENT_REASONS | {RejectReason.INTERNAL_ERROR}


def identity(unit: WorkUnit) -> str | None:
    """What must be unchanged for an earlier outcome of ``unit`` to stand; None: never
    reused (a fetched page)."""
    if unit.path is None:
        return None
    if "warc_id" in unit.meta:
        return f"warc:{unit.meta.get('warc_fingerprint', '')}:{unit.meta['warc_id']}"
    return unit.fingerprint


def resume_key(warehouse: Path) -> bytes:
    """The warehouse's secret for signing notes (made on first use, readable by its owner
    only). A note is trusted only with this warehouse's signature over it and its parts'
    bytes: whoever can write a shared ``--staging`` folder but not the warehouse cannot make
    a run load what its inputs do not hold."""
    path = warehouse / KEY_FILENAME
    if regular_file(path):
        key = path.read_bytes()
        if len(key) == 32:
            return key
    warehouse.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)

    def write(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)

    write_atomic(path, write)
    return key


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _signature(key: bytes, note: dict[str, Any]) -> str:
    body = {k: v for k, v in note.items() if k != "mac"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=True).encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def note_batch(stage: Path, result: BatchResult, units: Iterable[WorkUnit], key: bytes) -> None:
    """Write the note of one finished batch: its parts (names and digests) and its inputs'
    identities, signed with the warehouse's key (``resume_key``)."""
    ids = {u.source: found for u in units if (found := identity(u)) is not None}
    if not ids:
        return
    note: dict[str, Any] = {"version": __version__, "inputs": ids}
    for kind, path in (("articles", result.articles_path), ("rejects", result.rejects_path)):
        note[kind] = Path(path).name if path else None
        note[f"{kind}_sha256"] = _digest(path) if path else None
    note["mac"] = _signature(key, note)
    path = stage / f"done-{result.batch_id}.json"
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(note), encoding="utf-8"))


@dataclass(slots=True, frozen=True)
class Note:
    """A note that passed its checks: its parts' paths ('' for none), their SHA-256 digests
    and its inputs."""

    articles: str
    rejects: str
    inputs: dict[str, str]
    articles_sha256: str = ""
    rejects_sha256: str = ""


def read_note(path: Path, key: bytes) -> Note | None:
    """The note at ``path`` if a batch of this version and warehouse wrote it (its signature
    holds), with parts that are regular files in its own folder and still the bytes it
    signed; None otherwise."""
    if not (_NOTE_NAME.fullmatch(path.name) and regular_file(path) and real_dir(path.parent)):
        return None
    try:
        note = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict) or note.get("version") != __version__:
        return None  # another version's transform: its outcomes may differ
    mac = note.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _signature(key, note)):
        return None  # not this warehouse's note
    inputs = note.get("inputs")
    if not isinstance(inputs, dict) or not inputs:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
        return None
    parts: list[str] = []
    digests: list[str] = []
    for kind, pattern in _PART_NAME.items():
        name = note.get(kind)
        if name is None:
            parts.append("")
            digests.append("")
            continue
        if not isinstance(name, str) or not pattern.fullmatch(name):
            return None
        if not regular_file(path.parent / name):
            return None
        try:
            if _digest(str(path.parent / name)) != note.get(f"{kind}_sha256"):
                return None  # changed since the note was written
        except OSError:
            return None
        parts.append(str(path.parent / name))
        digests.append(str(note[f"{kind}_sha256"]))
    if not any(parts):
        return None
    return Note(parts[0], parts[1], inputs, digests[0], digests[1])


def keep(staging: Path, run_dir: Path, key: bytes) -> None:
    """Recovery of a dead, uncommitted run: keep what its finished batches did (their notes
    and the parts they name) and the web archives it was downloading (the next run resumes
    them where they stopped); drop the rest (discovery's parts, temporary files).

    Only names that pass ``read_note`` are moved, and only within the staging folder."""
    wanted: set[str] = set()
    if real_dir(run_dir):
        for path in run_dir.glob(NOTE_GLOB):
            note = read_note(path, key)
            if note is not None:
                wanted |= {path.name} | {Path(p).name for p in (note.articles, note.rejects) if p}
        downloads = run_dir / DOWNLOADS_DIRNAME
        if real_dir(downloads):
            wanted |= {
                f"{DOWNLOADS_DIRNAME}/{p.name}"
                for p in downloads.iterdir()
                if _DOWNLOAD_NAME.fullmatch(p.name) and regular_file(p)
            }
    resume = staging / RESUME_DIRNAME
    if wanted and _own_folder(resume):
        target = resume / run_dir.name
        for name in wanted:
            with contextlib.suppress(OSError):
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(run_dir / name, target / name)
    remove(run_dir)


def _own_folder(folder: Path) -> bool:
    """``folder`` is (or is made) a real folder: a symlink in its place is removed first."""
    with contextlib.suppress(OSError):
        if folder.is_symlink() or (folder.exists() and not real_dir(folder)):
            folder.unlink()
        folder.mkdir(exist_ok=True)
    return real_dir(folder)


def remove(path: Path) -> None:
    """Remove a staging entry: a symlink or file as itself (never what a link points to), a
    folder with what is in it."""
    if real_dir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


class Resume:
    """The outcomes that killed runs left, by input; ``mark`` points units at theirs."""

    def __init__(self, *staging: Path, key: bytes) -> None:
        """``staging``: the warehouse's staging folder, and a ``--staging`` folder if the run
        has one (recovery keeps a killed run's outcomes beside its parts); ``key``: the
        warehouse's (``resume_key``), which every note must be signed with."""
        self.folders = [root / RESUME_DIRNAME for root in staging]
        self.found: dict[str, tuple[str, Note]] = {}  # source -> (identity, its note)
        self.used: set[Path] = set()  # dead runs' folders whose outcomes this run took
        # A note's parts (by their paths) -> each input's outcome, once they passed the checks
        self.checked: dict[tuple[str, str], dict[str, str] | None] = {}
        for folder in self.folders:
            if not real_dir(folder):
                continue
            for path in sorted(folder.glob(f"*/{NOTE_GLOB}")):
                note = read_note(path, key)
                if note is None:
                    continue  # a note that cannot be trusted: its inputs are transformed again
                for source, earlier in note.inputs.items():
                    self.found[source] = (earlier, note)

    def mark(self, units: Iterable[WorkUnit]) -> None:
        if not self.found:
            return
        for unit in units:
            hit = self.found.get(unit.source)
            if hit is None or hit[0] != identity(unit):
                continue
            note = hit[1]
            key = (note.articles, note.rejects)
            if key not in self.checked:  # read once, and only when an input asks for it
                self.checked[key] = _outcomes(note)
            outcome = (self.checked[key] or {}).get(unit.source)
            if outcome is None or outcome in _NOT_RESUMED:
                continue  # not vouched for, or worth trying again: transformed again
            unit.meta[RESUME_ARTICLES], unit.meta[RESUME_REJECTS] = note.articles, note.rejects
            # The worker reads the parts again: it takes them only with the bytes checked here.
            unit.meta[RESUME_DIGEST + RESUME_ARTICLES] = note.articles_sha256
            unit.meta[RESUME_DIGEST + RESUME_REJECTS] = note.rejects_sha256
            self.used.add(Path(note.articles or note.rejects).parent)

    def discard(self) -> None:
        """After this run has loaded: drop the folders it took outcomes from (what they held
        of its inputs is in the warehouse now; the rest changed since), and stale ones."""
        stale = time.time() - UNUSED_FOR_S
        for folder in self.folders:
            if not real_dir(folder):
                continue
            for run_dir in folder.iterdir():
                try:
                    if run_dir in self.used or run_dir.lstat().st_mtime < stale:
                        remove(run_dir)
                except OSError:
                    continue
            with contextlib.suppress(OSError):  # another run's outcomes may still be there
                folder.rmdir()


def _outcomes(note: Note) -> dict[str, str] | None:
    """Each input's outcome in the note's parts ('article' or a reject reason), when both
    parts have exactly their schema and every row passes the checks a fresh outcome passes;
    None when anything fails (the whole note is then ignored)."""
    import pyarrow.parquet as pq

    from flows.core.schema import REJECT_SCHEMA, STAGING_SCHEMA

    outcomes: dict[str, str] = {}
    try:
        for path, schema in ((note.articles, STAGING_SCHEMA), (note.rejects, REJECT_SCHEMA)):
            if not path:
                continue
            if not pq.read_schema(path).equals(schema):
                return None
            for row in pq.read_table(path, schema=schema).to_pylist():
                source = row["source"]
                if source not in note.inputs or source in outcomes:
                    return None
                if schema is STAGING_SCHEMA:
                    if article_problem(row) is not None:
                        return None
                    outcomes[source] = "article"
                else:
                    if row["reason"] not in _KNOWN_REASONS:
                        return None
                    outcomes[source] = str(row["reason"])
    except Exception:  # whatever a damaged or forged file raises: not trusted
        return None
    return outcomes


def article_problem(row: dict[str, Any]) -> str | None:
    """Why a staged article row is not one the transform could have written, or None: the
    checks every fresh article passes (canonical http(s) url, a plausible timestamp or none,
    a title and a body without control characters, an image that is an http(s) URL)."""
    from flows.core.dates import is_plausible
    from flows.core.urls import BadURL, canonical_url, url_problem
    from flows.transform.metadata import collapse

    url, title, body = row.get("url"), row.get("title"), row.get("body")
    try:
        if not isinstance(url, str) or canonical_url(url) != url:
            return "url"
    except BadURL:
        return "url"
    for when in (row.get("timestamp"), row.get("crawled_at")):
        if when is not None and not is_plausible(when):
            return "timestamp"
    if not isinstance(title, str) or not title or collapse(title) != title:
        return "title"
    if not isinstance(body, str) or not body.strip():
        return "body"
    if any(collapse(line) != line or not line for line in body.split("\n")):
        return "body"
    image = row.get("image")
    if image is not None and (not isinstance(image, str) or url_problem(image) is not None):
        return "image"
    return None
