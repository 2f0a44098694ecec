"""The benchmark: corpus, baseline ("limit"), peer tool and pipeline side by side in one run."""

from __future__ import annotations

from pathlib import Path

# ../shared beside the repository; never copied into it (the pages belong to their publishers).
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
