"""The handlers' logger, tracer and metrics: created once, patching only what the functions call out through."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json
import sys

import pytest
import aws_xray_sdk.core.patcher as patcher
from cataloop import observability
at_import = sorted(patcher._PATCHED_MODULES)
requests_imported = "requests" in sys.modules
import requests
print(json.dumps({
    "patched_at_import": at_import,
    "requests_imported_at_import": requests_imported,
    "patched": sorted(patcher._PATCHED_MODULES),
    "disabled": bool(observability.tracer.disabled),
    "service": observability.logger.service,
    "namespace": observability.metrics.provider.namespace,
}))
"""


def _probe(**environment: str) -> dict[str, object]:
    return _probe_code(PROBE, **environment)


def _probe_code(code: str, **environment: str) -> dict[str, object]:
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_LAMBDA_"))
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**keep, "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR", **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(result.stdout.splitlines()[-1]))


def test_in_lambda_the_tracer_patches_only_botocore_and_requests() -> None:
    probe = _probe(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_SERVICE_NAME="cataloop")
    assert probe["disabled"] is False
    # botocore at import; requests only once something imports it (opensearch-py, in the searching functions).
    assert probe["patched_at_import"] == ["botocore"]
    assert probe["requests_imported_at_import"] is False
    assert probe["patched"] == ["botocore", "requests"]


def test_requests_imported_before_the_tracer_is_patched_too() -> None:
    early = _probe_code("import requests\n" + PROBE, LAMBDA_TASK_ROOT="/var/task")
    assert early["patched_at_import"] == ["botocore", "requests"]


def test_tracing_stays_off_locally_and_the_names_match_the_template() -> None:
    local = _probe(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true")
    assert local["disabled"] is True and local["patched"] == []
    # Imported first by a test or script, without the template's environment: the same names.
    assert (local["service"], local["namespace"]) == ("cataloop", "Cataloop")
    renamed = _probe(POWERTOOLS_SERVICE_NAME="other", POWERTOOLS_METRICS_NAMESPACE="Elsewhere")
    assert (renamed["service"], renamed["namespace"]) == ("other", "Elsewhere")


def test_logs_go_to_the_stdout_of_the_moment() -> None:
    from cataloop.observability import logger

    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(first):
        logger.info("to the first")
    with contextlib.redirect_stdout(second):
        logger.info("to the second")
    assert json.loads(first.getvalue())["message"] == "to the first"
    assert json.loads(second.getvalue())["message"] == "to the second"


def test_every_handler_uses_the_shared_objects() -> None:
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        source = app.read_text(encoding="utf-8")
        assert not re.search(r"\b(Logger|Tracer|Metrics)\(", source), f"{app} creates its own"
        assert "from cataloop.observability import" in source, app


def test_with_tracing_off_no_xray_recorder_is_built_and_decorators_still_run() -> None:
    code = """
import json, sys
from cataloop.observability import tracer
@tracer.capture_method
def work(x):
    tracer.put_annotation("k", "v")
    return x + 1
@tracer.capture_lambda_handler
def handler(event, context):
    return work(event["x"])
class Context:
    function_name = "f"
print(json.dumps({"result": handler({"x": 1}, Context()), "recorder": "aws_xray_sdk.core" in sys.modules,
                  "provider": type(tracer.provider).__name__}))
"""
    local = _probe_code(code, POWERTOOLS_TRACE_DISABLED="true")
    assert local == {"result": 2, "recorder": False, "provider": "_NoTracing"}
    in_lambda = _probe_code(code, LAMBDA_TASK_ROOT="/var/task")
    assert in_lambda["result"] == 2 and in_lambda["recorder"] is True


def test_an_invocation_that_raises_before_any_metric_prints_no_empty_metrics_warning() -> None:
    """In a fresh process, as in Lambda or the CLI (pytest resets warning filters around each test)."""
    probe = (
        "from cataloop.observability import metrics\n"
        "@metrics.log_metrics\n"
        "def handler(event, context):\n"
        "    raise ValueError('not in the catalog')\n"
        "try:\n"
        "    handler({}, None)\n"
        "except ValueError:\n"
        "    print('raised')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True, timeout=120
    )
    assert done.stdout.strip().endswith("raised")
    assert "No application metrics" not in done.stderr
