"""Each thing is declared once and every declaration is used: SQL files, the orders that run
them, deployment entrypoints, reject codes, and the staging rows' columns."""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import fields
from pathlib import Path

import yaml
from prefect import Flow

from flows.core import schema
from flows.core.sqlfiles import SQL_DIR, files
from flows.core.units import TRANSIENT_REASONS, Article, Rejection, RejectReason
from flows.extract.web.options import Validator
from flows.load.merge import MERGE_STEPS
from flows.load.warehouse import TABLES, VIEWS

from .conftest import REPO

FLOWS_TEXT = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "flows").rglob("*.py"))


def _stems(folder: str) -> set[str]:
    return {p.stem for p in files(folder)}


def test_every_table_and_view_file_is_created_in_the_declared_order() -> None:
    assert _stems("ddl") == set(TABLES)
    assert _stems("views") == set(VIEWS)
    assert len(TABLES) == len(set(TABLES)) and len(VIEWS) == len(set(VIEWS))


def test_views_come_after_the_views_they_read() -> None:
    for i, name in enumerate(VIEWS):
        text = (SQL_DIR / "views" / f"{name}.sql").read_text(encoding="utf-8")
        for later in VIEWS[i + 1 :]:
            assert not re.search(rf"\b{later}\b", text), f"{name} reads {later}, created after it"


def test_every_sql_file_is_used_by_the_code() -> None:
    merge = {step for step, _, _ in MERGE_STEPS}
    merge |= {keys for _, _, keys in MERGE_STEPS if keys is not None}
    assert merge <= _stems("load"), "a merge step (or its keys) without its file"
    for path in sorted(SQL_DIR.rglob("*.sql")):
        folder = path.parent.name
        if folder in ("ddl", "views", "queries"):
            continue  # created from TABLES/VIEWS (above); queries are the user's examples
        if folder == "load" and path.stem in merge:
            continue
        assert f'"{folder}/{path.name}"' in FLOWS_TEXT, f"sql/{folder}/{path.name} is unused"


def test_every_prefect_yaml_entrypoint_resolves_to_a_flow() -> None:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    assert config["deployments"]
    for deployment in config["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(Path(path).with_suffix("").as_posix().replace("/", "."))
        assert isinstance(getattr(module, name), Flow), deployment["entrypoint"]
        limit = deployment["concurrency_limit"]
        assert (limit["limit"], limit["collision_strategy"]) == (1, "ENQUEUE")


def test_reject_codes_are_spelled_only_in_the_enum() -> None:
    codes = {r.value for r in RejectReason}
    for path in (REPO / "flows").rglob("*.py"):
        if path.name == "units.py":
            continue
        text = path.read_text(encoding="utf-8")
        for code in codes:
            assert f'"{code}"' not in text and f"'{code}'" not in text, (path, code)
    # SQL cannot import the enum: its list of transient codes must be the same set.
    transient = (SQL_DIR / "load" / "transient_rejects.sql").read_text(encoding="utf-8")
    assert set(re.findall(r"'([a-z_]+)'", transient)) == {r.value for r in TRANSIENT_REASONS}


def test_staging_rows_are_the_schemas_columns() -> None:
    assert [f.name for f in fields(Article)] == schema.STAGING_SCHEMA.names
    assert [f.name for f in fields(Rejection)] == schema.REJECT_SCHEMA.names
    assert [f.name for f in fields(Validator)] == schema.VALIDATOR_SCHEMA.names


# The stages in the order the data flows; a module may import its own layer or an earlier one.
LAYERS = ("core", "extract", "transform", "load", "executors", "")  # "": the flows, CLI, UI


def _layer(module: str) -> int:
    """The layer of a ``flows.…`` module: its sub-package, or the top for the flows' modules."""
    name = module.split(".")[1] if "." in module else ""
    return LAYERS.index(name) if name in LAYERS else LAYERS.index("")


def _imports(path: Path) -> list[str]:
    """Every ``flows…`` module the file imports, at any depth of the file (lazy imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            found += [
                f"{base}.{a.name}" if base in ("flows", *_packages()) else base for a in node.names
            ]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return [m for m in found if m == "flows" or m.startswith("flows.")]


def _packages() -> tuple[str, ...]:
    return tuple(f"flows.{name}" for name in LAYERS if name)


def test_no_stage_imports_a_later_one() -> None:
    """The tree reads as the data flows: core, extract, transform, load, executors, the flows."""
    backwards = []
    for path in sorted((REPO / "flows").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for imported in _imports(path):
            if imported not in ("flows", "flows.__version__") and _layer(imported) > _layer(module):
                backwards.append(f"{module} imports {imported}")
    assert backwards == []


def test_the_layer_rule_catches_a_backward_import() -> None:
    assert _layer("flows.core.units") < _layer("flows.extract.files") < _layer("flows.ingest")
    assert _layer("flows.transform.article") < _layer("flows.load.merge")
    assert _layer("flows.executors.batch") < _layer("flows.cli") == _layer("flows.plan")


# Tests use what the code offers, not its insides: a private name read by a test is one that
# cannot change without breaking it. Each exception says why it is still here.
PRIVATE_READS_ALLOWED = {
    # The WARC reader is being rewritten on the library's API (issue 29); its test goes with it.
    ("test_warc.py", "_classify"),
}


def _private_names(path: Path) -> list[tuple[int, str]]:
    """Underscore names (not dunders) a test file reads from a module or an object: attribute
    access, ``from flows… import _x``, and get/set/has/delattr with the name as a string."""

    def private(name: str) -> bool:
        return name.startswith("_") and not name.endswith("__")

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and private(node.attr):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flows"):
            found += [(node.lineno, a.name) for a in node.names if private(a.name)]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("getattr", "setattr", "hasattr", "delattr"):
                found += [
                    (node.lineno, arg.value)
                    for arg in node.args
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    if private(arg.value)
                ]
    return found


def test_no_test_reads_a_private_name() -> None:
    reads = [
        f"tests/{path.name}:{line} reads {name}"
        for path in sorted((REPO / "tests").glob("*.py"))
        for line, name in _private_names(path)
        if (path.name, name) not in PRIVATE_READS_ALLOWED
    ]
    assert reads == []


def test_the_private_name_rule_catches_each_kind(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "from flows.ingest import _hidden\n"
        "pool._idle.qsize()\n"
        "monkeypatch.setattr(module, '_inner', None)\n"
        "x.__class__, x.public\n",
        encoding="utf-8",
    )
    assert sorted(_private_names(sample)) == [(1, "_hidden"), (2, "_idle"), (3, "_inner")]


# A module is tested in tests/test_<name>.py (or test_<package>_<name>.py); these are tested
# elsewhere, each for the reason given.
TESTED_IN = {
    "flows.artifacts": ("test_flow.py", "artifacts exist only in a flow run"),
    "flows.core.atomic": ("test_crash.py", "atomic writes are what a kill -9 must not tear"),
    "flows.core.params": ("test_robust.py", "with the other guards at the edge"),
    "flows.core.schema": ("test_storage_format.py", "a declaration: its files are tested"),
    "flows.core.settings": ("test_cli.py", "constants, tested where used; defaults there"),
    "flows.core.sqlfiles": ("test_sql.py", "every SQL file it reads runs there"),
    "flows.core.units": ("test_robust.py", "the records every stage passes; printable there"),
    "flows.executors.base": ("test_pool.py", "a Protocol: its implementations are tested"),
    "flows.extract.discover": ("test_known.py", "routing each source and its known state"),
    "flows.extract.warc.detect": ("test_warc.py", "the WARC reader's parts, through its files"),
    "flows.extract.warc.http": ("test_warc.py", "the WARC reader's parts, through its files"),
    "flows.extract.warc.index": ("test_warc.py", "the WARC reader's parts, through its files"),
    "flows.extract.web.downloaded": ("test_warc_remote.py", "deleting downloaded WARCs"),
    "flows.load.search.index": ("test_search.py", "the search package, through real ingests"),
    "flows.load.search.tasks": ("test_search.py", "the search package, through real ingests"),
    "flows.load.search.tokenize": ("test_search.py", "the search package, through real ingests"),
    "flows.transform.about": ("test_stories.py", "the side tables, through real ingests"),
    "flows.transform.signature": ("test_stories.py", "the side tables, through real ingests"),
    "flows.extract.web.bridge": ("test_web_flow.py", "the web flow runs through it"),
    "flows.extract.web.download": ("test_warc_remote.py", "it downloads remote WARC files"),
    "flows.extract.web.feeds": ("test_web_units.py", "the web package's pure parts, together"),
    "flows.extract.web.limiter": ("test_web_fetch.py", "pacing, measured on a local server"),
    "flows.extract.web.netguard": ("test_web_units.py", "the web package's pure parts, together"),
    "flows.extract.web.options": ("test_web_fetch.py", "the settings each fetch test varies"),
    "flows.extract.web.robots": ("test_web_units.py", "the web package's pure parts, together"),
    "flows.extract.web.sitemaps": ("test_web_units.py", "the web package's pure parts, together"),
    "flows.extract.web.sniff": ("test_web_units.py", "the web package's pure parts, together"),
    "flows.extract.web.sources": ("test_web_units.py", "the web package's pure parts, together"),
    "flows.extract.web.xmlsafe": ("test_web_units.py", "the web package's pure parts, together"),
    "flows.ingest": ("test_flow.py", "the ingest flow, end to end"),
    "flows.load.merge": ("test_load.py", "the load"),
    "flows.load.warehouse": ("test_load.py", "with the load; its lock in test_concurrency"),
    "flows.maintenance": ("test_maintenance_cli.py", "the maintenance flow and its command"),
    "flows.progress": ("test_flow.py", "a flow run's progress events"),
    "flows.transform.article": ("test_transform.py", "the transform of one document"),
}


def _own_test_files(module: str) -> set[str]:
    parts = module.split(".")[1:]
    return {f"test_{parts[-1]}.py", f"test_{'_'.join(parts[-2:])}.py"}


def test_every_module_has_a_test_module() -> None:
    tests = {p.name for p in (REPO / "tests").glob("test_*.py")}
    untested, stale = [], []
    for path in sorted((REPO / "flows").rglob("*.py")):
        if path.name == "__init__.py":
            continue  # a package's imports and version
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        own = _own_test_files(module) & tests
        if own and module in TESTED_IN:
            stale.append(f"{module} has {sorted(own)[0]} now: drop it from TESTED_IN")
        elif not own and TESTED_IN.get(module, ("",))[0] not in tests:
            untested.append(f"{module}: no tests/test_<name>.py (or TESTED_IN entry)")
    modules = {
        ".".join(p.relative_to(REPO).with_suffix("").parts) for p in (REPO / "flows").rglob("*.py")
    }
    stale += [f"{module} is gone: drop it from TESTED_IN" for module in set(TESTED_IN) - modules]
    assert untested == [] and stale == []
