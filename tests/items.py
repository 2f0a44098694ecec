"""Builders for archived items and pages written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

PARAGRAPHS = (
    "The city council approved the new budget on Tuesday after a debate that lasted "
    "more than six hours and drew hundreds of residents to the public gallery.",
    "Officials said the plan would fund road repairs, two new libraries and a pilot "
    "programme for free public transport for students during the winter months.",
    "Opposition members argued that the spending relied on optimistic revenue forecasts "
    "and warned that taxes could rise if the economy slowed next year.",
)


def item_text(
    epoch_ms: int | str,
    title: str,
    url: str,
    paragraphs: tuple[str, ...] = PARAGRAPHS,
    image: str | None = None,
    marker: str = "",
) -> str:
    img = f'<img src="{image}">' if image else ""
    body = "".join(f"<p>{p} {marker}</p>" for p in paragraphs)
    return (
        f"<!--{epoch_ms}-->\n[{title}]({url})\n------\n\n"
        f"<div>01/08/2023 - 22:48</div>{img}<div>{body}</div>"
        '<div><div>Share :</div><div><a href="https://www.facebook.com/sharer?u=x">f</a>'
        '<a href="https://twitter.com/intent/tweet?url=x">t</a></div></div>'
    )


def write_item(folder: Path, name: str, *args: object, **kwargs: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(item_text(*args, **kwargs), encoding="utf-8")  # type: ignore[arg-type]
    return path
