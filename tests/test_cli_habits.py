"""Command-line habits, through the real command: help that shows each default once in the
user's terms, and a mistyped option answered with the sub-command's usage and a suggestion."""

from __future__ import annotations

import re
import subprocess

import pytest

from flows.core.settings import WARC_BASE_URL

from .conftest import REPO
from .test_crash import article_etl

COMMANDS = ("ingest", "query", "export", "maintenance")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*article_etl(), *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_defaults_once_in_the_users_terms(command: str) -> None:
    done = cli(command, "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "default: None" not in text and "default: False" not in text
    assert not re.search(r"\(default: [^)]*\) \(default:", text)
    assert text.count("(default:") == len(re.findall(r"\(default: [^)]+\)", text))
    for option in re.findall(r"--[a-z-]+ SECONDS", text):
        assert "SECONDS" in option  # every wait and delay has its unit


def test_ingest_help_names_the_real_defaults() -> None:
    text = " ".join(cli("ingest", "--help").stdout.split())
    assert "--warc-base-url URL what the paths" in text and f"(default: {WARC_BASE_URL})" in text
    assert "ARTICLE_ETL_WORKERS" in text and "(default: 5)" in text
    query = " ".join(cli("query", "--help").stdout.split())
    assert "--wait SECONDS" in query and "--timeout SECONDS" in query and "--nl" in query


@pytest.mark.parametrize(
    ("argv", "usage", "suggestion"),
    [
        (["query", "SELECT 1", "--wrehouse", "x"], "usage: article-etl query", "--warehouse"),
        (["export", "o.csv", "--fromat", "csv"], "usage: article-etl export", "--format"),
        (["ingest", "x", "--wokers=2"], "usage: article-etl ingest", "--workers"),
    ],
)
def test_a_mistyped_option_gets_its_commands_usage_and_a_suggestion(
    argv: list[str], usage: str, suggestion: str
) -> None:
    done = cli(*argv)
    assert done.returncode == 2
    assert done.stderr.startswith(usage)
    assert f"(did you mean {suggestion}?)" in done.stderr
