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
    merge = {step for step, _ in MERGE_STEPS}
    assert merge <= _stems("load"), "a merge step without its file"
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
