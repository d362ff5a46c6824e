"""Shared fixtures: the project root and a local cloud running the real template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:  # noqa: F821 - imported lazily below
    """The real template on a fresh local cloud, with its state kept in a temporary directory."""
    from cataloop_local.cloud import LocalCloud

    local = LocalCloud(TEMPLATE, state_dir=tmp_path / "state")
    local.start()
    try:
        yield local
    finally:
        local.stop(save=False)
