"""Where the evaluation finds the project's data and how it writes JSON reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def write_json(path: str | Path | None, payload: Any) -> None:
    """Write `payload` as indented UTF-8 JSON to `path` (parents created); nothing when `path` is empty."""
    if path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
        )
