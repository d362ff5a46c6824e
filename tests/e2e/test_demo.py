"""The demo path end to end, as `make demo` runs it, on a small slice of the data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_the_demo_runs_every_stage_and_reports_from_the_cloud(tmp_path: Path) -> None:
    summary_path = tmp_path / "demo.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cataloop_local.cli.main",
            "--state-dir",
            str(tmp_path / "state"),
            "demo",
            "--products",
            "20",
            "--korean",
            "12",
            "--json",
            str(summary_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    summary = json.loads(summary_path.read_text(encoding="utf-8"))

    assert summary["replay"]["products"] == 20 and summary["replay"]["failed_executions"] == 0
    assert len(summary["replay"]["slices"]) == 10
    assert all(0 <= s["disagreement_rate"] <= 1 and s["f1"] is not None for s in summary["replay"]["slices"])
    assert summary["korean_catalog"]["failed_executions"] == 0
    assert summary["feedback"]["signals"] > 0 and summary["feedback"]["failed"] == 0
    by_label = {search["label"]: search for search in summary["searches"]}
    assert by_label["chosung (initial consonants)"]["results"], "ㅇㅋㄹㅌ should find the 야쿠르트 products"
    assert (
        by_label["personal data is refused or masked"].get("refused")
        or by_label["personal data is refused or masked"]["results"]
    )
    assert "North star" in completed.stdout
    # The state stays for later commands: the knowledge base and the index are on disk.
    assert (tmp_path / "state" / "tables" / "KnowledgeTable.json").is_file()
    assert (tmp_path / "state" / "search").is_dir()
    # The demo's searches are logged as the API function logs them: into the stack's (moto) bucket.
    bucket = json.loads((tmp_path / "state" / "s3" / "SearchLogStore" / "index.json").read_text("utf-8"))
    assert any(key.startswith("search-log/") for key in bucket)


def _cataloop(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cataloop_local.cli.main", *words],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_learn_then_deploy_is_a_parameter_override_and_an_expert_approves(tmp_path: Path) -> None:
    """`cataloop --parameter-overrides DeploymentMode=learn_then_deploy demo ...`: the template parameter,
    not a local switch, keeps new learnings `proposed`; `kb approve` activates one."""
    state = str(tmp_path / "state")
    demo = _cataloop(
        "--state-dir",
        state,
        "--parameter-overrides",
        "DeploymentMode=learn_then_deploy",
        "demo",
        "--products",
        "20",
        "--korean",
        "0",
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    exported = tmp_path / "snapshot.json"
    assert _cataloop("--state-dir", state, "kb", "export", str(exported)).returncode == 0
    learnings = json.loads(exported.read_text(encoding="utf-8"))["learnings"]
    assert learnings and {learning["status"] for learning in learnings} == {"proposed"}

    chosen = learnings[0]["id"]
    approved = _cataloop("--state-dir", state, "kb", "approve", chosen, "--reason", "checked by an expert")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    shown = _cataloop("--state-dir", state, "kb", "show", chosen, "--json", str(tmp_path / "shown.json"))
    assert shown.returncode == 0
    assert json.loads((tmp_path / "shown.json").read_text(encoding="utf-8"))["learning"]["status"] == "active"


def test_a_parameter_the_template_does_not_allow_is_refused_before_anything_runs(tmp_path: Path) -> None:
    refused = _cataloop(
        "--state-dir",
        str(tmp_path / "state"),
        "--parameter-overrides",
        "DeploymentMode=sometimes",
        "kb",
        "tree",
    )
    assert refused.returncode != 0
    assert "DeploymentMode='sometimes': allowed values are" in refused.stdout + refused.stderr
