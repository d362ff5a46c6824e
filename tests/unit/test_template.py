"""Static checks of template.yaml, the ASL files and the sample events (the linters skip ASL under SAM)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cataloop_local.emulator.cfn import load_template
from tests.conftest import ROOT, TEMPLATE


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    resources = load_template(TEMPLATE)["Resources"]
    return {name: spec for name, spec in resources.items() if spec["Type"] == kind}


@pytest.mark.parametrize("name, spec", sorted(_resources("AWS::Serverless::Function").items()))
def test_every_function_has_its_handler_file(name: str, spec: dict[str, Any]) -> None:
    props = spec["Properties"]
    module, _, function = props["Handler"].rpartition(".")
    path = ROOT / props["CodeUri"] / f"{module}.py"
    assert path.is_file(), f"{name}: {path} is missing"
    assert re.search(rf"^def {function}\(", path.read_text(encoding="utf-8"), re.M), (
        f"{name}: no {function}()"
    )


@pytest.mark.parametrize("name, spec", sorted(_resources("AWS::Serverless::StateMachine").items()))
def test_every_state_machine_definition_parses_and_its_substitutions_are_complete(
    name: str, spec: dict[str, Any]
) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    props = spec["Properties"]
    definition = (ROOT / props["DefinitionUri"]).read_text(encoding="utf-8")
    placeholders = set(re.findall(r"\$\{(\w+)\}", definition))
    assert placeholders == set(props.get("DefinitionSubstitutions", {})), name
    for key in placeholders:
        definition = definition.replace(
            "${" + key + "}", f"arn:aws:lambda:us-east-1:123456789012:function:{key}"
        )
    AmazonStateLanguageParser.parse(definition)  # raises on an invalid definition
    # moto evaluates `$[0].field` paths to a list; keep them out of the definitions.
    assert "$[0]" not in definition


def test_the_asl_parser_rejects_an_invalid_definition() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    broken = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Nex": "B"}}})
    with pytest.raises(Exception):  # noqa: B017 - the parser raises its own ASL error types
        AmazonStateLanguageParser.parse(broken)


def test_stream_tables_use_new_and_old_images() -> None:
    tables = _resources("AWS::DynamoDB::Table")
    for name in ("ProductsTable", "KnowledgeTable"):
        assert tables[name]["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    for spec in tables.values():
        assert spec["Properties"]["SSESpecification"]["SSEEnabled"] is True


@pytest.mark.parametrize("path", sorted((ROOT / "events").glob("*.json")), ids=lambda p: p.name)
def test_sample_events_are_json(path: Path) -> None:
    json.loads(path.read_text(encoding="utf-8"))


# Functions whose sample is named after their event rather than after the function.
SAMPLE_FOR = {
    "PrepareContextFunction": "product_created.json",
    "LearnTriageFunction": "seller_dispute_filed.json",
}


@pytest.mark.parametrize("name", sorted(_resources("AWS::Serverless::Function")))
def test_every_function_has_a_sample_event(name: str) -> None:
    base = name.removesuffix("Function")
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in base).lstrip("_")
    sample = ROOT / "events" / SAMPLE_FOR.get(name, f"{snake}.json")
    assert sample.is_file(), (
        f"{name}: add a sample event {sample.relative_to(ROOT)} (scripts/capture_events.py)"
    )
