"""The unpacked language model: the same verdicts as py3langid's own loader, a cache file
that is checked like any input, and a run that never depends on the cache being there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from flows.transform.language_model import (
    ModelFileError,
    cache_dir,
    cache_path,
    load_identifier,
    read_model,
)

from .test_stories import GERMAN, OTHER, WIRE

TEXTS = [
    "\n".join(WIRE),
    "\n".join(OTHER),
    "\n".join(GERMAN),
    "Le gouvernement a annoncé mardi de nouvelles mesures pour les ménages.",
    "El gobierno anunció el martes nuevas medidas para los hogares.",
    "政府は火曜日、家計を支援する新たな措置を発表した。",
    "Правительство во вторник объявило о новых мерах поддержки семей.",
    "12:30 14:45 — 2026",
    "",
]


@pytest.fixture(scope="module")
def reference() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _package_model() -> Path:
    from py3langid.langid import MODEL_DIR

    return Path(MODEL_DIR) / MODEL_FILE


def test_the_cached_model_gives_py3langids_own_verdicts(
    tmp_path: Path, reference: LanguageIdentifier
) -> None:
    built = load_identifier(tmp_path)  # unpacks the model into the folder
    assert [p.name for p in tmp_path.iterdir()] == [cache_path(tmp_path, _package_model()).name]
    mapped = load_identifier(tmp_path)  # maps the file written just now
    for text in TEXTS:
        assert built.classify(text) == mapped.classify(text) == reference.classify(text)
        assert mapped.rank(text)[:5] == reference.rank(text)[:5]


def test_the_cache_folder_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTICLE_ETL_CACHE_DIR", "/srv/etl-cache")
    assert cache_dir() == Path("/srv/etl-cache")
    monkeypatch.delenv("ARTICLE_ETL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/me")
    assert cache_dir() == Path("/var/cache/me/article-etl")


def _damage(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def _offset_of(path: Path, name: str) -> int:
    """Where array ``name`` starts in the file (after the magic line, the header's length
    and the header, aligned to 64 bytes)."""
    data = path.read_bytes()
    at = data.index(b"\n") + 1
    length = int.from_bytes(data[at : at + 8], "little")
    header = json.loads(data[at + 8 : at + 8 + length])
    start = -(-(at + 8 + length) // 64) * 64
    return start + header["arrays"][name]["offset"]


@pytest.mark.parametrize(
    "damage",
    ["truncated", "magic", "header", "transition", "empty"],
)
def test_a_damaged_cache_file_is_refused_and_rebuilt(
    tmp_path: Path, reference: LanguageIdentifier, damage: str
) -> None:
    load_identifier(tmp_path)
    path = cache_path(tmp_path, _package_model())
    size = path.stat().st_size
    if damage == "truncated":
        os.truncate(path, size // 2)
    elif damage == "magic":
        _damage(path, 0, b"X")
    elif damage == "header":
        _damage(path, 40, b"{{{{")
    elif damage == "transition":  # a transition that points past every state
        _damage(path, _offset_of(path, "nextmove"), b"\xff\xff\xff\xff")
    elif damage == "empty":
        path.write_bytes(b"")
    with pytest.raises(ModelFileError):
        read_model(path)
    again = load_identifier(tmp_path)  # refuses the file, writes it anew
    assert read_model(path) is not None
    assert path.stat().st_size == size
    for text in TEXTS:
        assert again.classify(text) == reference.classify(text)


def test_a_symlink_in_place_of_the_cache_is_never_followed(
    tmp_path: Path, reference: LanguageIdentifier
) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not yours")
    path = cache_path(folder, _package_model())
    path.symlink_to(target)
    with pytest.raises(ModelFileError):
        read_model(path)
    identifier = load_identifier(folder)
    assert target.read_bytes() == b"not yours"  # the rebuild replaced the link, not its target
    assert not path.is_symlink() and path.is_file()
    assert identifier.classify(TEXTS[2]) == reference.classify(TEXTS[2])


def test_without_a_usable_cache_folder_the_model_loads_as_py3langid_loads_it(
    tmp_path: Path, reference: LanguageIdentifier
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the cache folder would be")
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real").mkdir()
    for folder in (blocked, linked):
        identifier = load_identifier(folder)
        assert [identifier.classify(t) for t in TEXTS] == [reference.classify(t) for t in TEXTS]
    assert blocked.read_text() == "a file where the cache folder would be"
    assert list((tmp_path / "real").iterdir()) == []  # nothing written through the symlink
