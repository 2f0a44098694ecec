"""The README, .ci/run and prefect.yaml agree with the code (DESIGN.md §4.11)."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import re
import shutil
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from flows.core.units import RejectReason

from .conftest import EXAMPLES, REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    tail = README.split(f"<!-- {marker} -->", 1)[1]
    return tail.split("```text\n", 1)[1].split("```", 1)[0]


def test_every_reject_reason_is_in_the_readme_table() -> None:
    table = README.split("### Reject reasons", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^\| `([a-z_]+)` \|", "|" + table, re.MULTILINE)
    assert sorted(listed) == sorted(r.value for r in RejectReason)


def test_quick_start_commands_are_what_ci_runs() -> None:
    commands = re.findall(r"```sh\n(.+?)\n```", README.split("## Using it")[0])
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in commands:
        assert command in ci


@pytest.mark.usefixtures("prefect_api")
def test_readme_output_is_what_the_main_command_prints(tmp_path: Path) -> None:
    # Same relative paths as the README, in a scratch copy so ./warehouse is not touched.
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "sql").symlink_to(REPO / "sql")
    out = io.StringIO()
    with contextlib.chdir(tmp_path), contextlib.redirect_stdout(out):
        assert main(["ingest", "examples/"]) == 0
        assert main(["query", "sql/queries/sample.sql"]) == 0
    printed = out.getvalue()
    volatile = re.compile(r"^(\| (seconds|pages_per_s) .*|warehouse: .*)$")
    expected = [ln for ln in _block_after("ingest-output").splitlines() if not volatile.match(ln)]
    expected += _block_after("sample-output").splitlines()
    assert [ln for ln in printed.splitlines() if not volatile.match(ln)] == expected


def test_every_query_file_the_readme_names_exists() -> None:
    for name in set(re.findall(r"sql/queries/([a-z_]+\.sql)", README)):
        assert (REPO / "sql" / "queries" / name).is_file(), name


def test_prefect_yaml_entrypoints_resolve_and_parameters_exist() -> None:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    assert config["deployments"]
    for deployment in config["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        params = inspect.signature(flow.fn).parameters
        assert set(deployment.get("parameters", {})) <= set(params), deployment["name"]
        assert deployment["work_pool"]["name"] == "article-etl"
        assert deployment["schedules"][0]["cron"]


def test_the_server_settings_the_readme_documents_are_prefect_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each `Environment=PREFECT_...=VALUE` of the README's unit is a setting Prefect reads
    (a misspelt name would be ignored silently), and the benchmark measures the same set."""
    from prefect.settings import Settings

    from bench.items import LEAN_SERVER_ENV

    documented = dict(re.findall(r"^Environment=(PREFECT_[A-Z_]+)=(\S+)$", README, re.M))
    documented.pop("PREFECT_HOME")
    assert documented == LEAN_SERVER_ENV
    for name, value in documented.items():
        monkeypatch.setenv(name, value)
    applied = Settings().to_environment_variables(exclude_unset=True)
    for name, value in documented.items():
        assert applied[name].lower() in {value, f"{value}.0"}, name
