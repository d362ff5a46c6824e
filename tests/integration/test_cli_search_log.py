"""`cataloop search` runs the search service as the ApiFunction sees it, so the local search log goes through
the same S3 adapter as in AWS into the stack's (moto) bucket, and survives the command."""

from __future__ import annotations

import json
from pathlib import Path

from cataloop_local.cli.main import main


def test_a_cli_search_is_logged_in_the_stacks_bucket(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert main(["--state-dir", str(state), "search", "유산균"]) == 0
    index = json.loads((state / "s3" / "SearchLogStore" / "index.json").read_text(encoding="utf-8"))
    keys = [key for key in index if key.startswith("search-log/")]
    assert keys, f"no search-log object in the bucket: {sorted(index)}"
    assert not (state / "search-log").exists(), "the search log must not fall back to files"
