"""The committed OpenAPI document is the one the API function generates, and it documents the search API."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _exporter():
    spec = importlib.util.spec_from_file_location("export_openapi", ROOT / "scripts" / "export_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_openapi_document_equals_the_generated_one() -> None:
    exporter = _exporter()
    committed = exporter.OPENAPI_FILE.read_text(encoding="utf-8")

    assert committed == exporter.generate(), "docs/openapi.json is stale: run scripts/export_openapi.py"


def test_search_routes_document_parameters_results_and_errors() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    search = document["paths"]["/search"]["get"]

    parameters = {parameter["name"]: parameter for parameter in search["parameters"]}
    assert parameters["q"]["required"] is True and parameters["q"]["schema"]["maxLength"] == 200
    assert set(search["responses"]) == {"200", "400", "503"}
    assert "/search/comment" in document["paths"] and "/health" in document["paths"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
