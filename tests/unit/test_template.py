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


# ---------------------------------------------------------------- hardening (static)


def _strings(value: Any) -> list[str]:
    """Every string inside `value` (intrinsics included: an `Fn::Sub` template is a string too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _statement_actions(value: Any) -> list[str]:
    """Every IAM action named in a statement anywhere inside `value`."""
    found: list[str] = []
    if isinstance(value, dict):
        action = value.get("Action")
        if "Effect" in value and action is not None:
            found.extend([action] if isinstance(action, str) else [a for a in action if isinstance(a, str)])
        for item in value.values():
            found.extend(_statement_actions(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_statement_actions(item))
    return found


def test_bedrock_permissions_are_pinned_to_the_configured_models() -> None:
    resources = load_template(TEMPLATE)["Resources"]
    strings = _strings(resources)
    assert not [s for s in strings if "foundation-model/*" in s]
    actions = _statement_actions(resources)
    # The Converse API is authorised by bedrock:InvokeModel; bedrock:Converse is no IAM action.
    assert "bedrock:InvokeModel" in actions
    assert not [a for a in actions if a.startswith("bedrock:Converse")]
    assert "bedrock:*" not in actions
    guardrails = [s for s in strings if ":guardrail/" in s]
    assert guardrails and all(s.endswith(":guardrail/${GuardrailId}") for s in guardrails)


def test_the_public_api_is_throttled_and_its_function_reserved() -> None:
    api = _resources("AWS::Serverless::Function")["ApiFunction"]["Properties"]
    assert "ReservedConcurrentExecutions" in api
    (http_api,) = _resources("AWS::Serverless::HttpApi").values()
    settings = http_api["Properties"]["DefaultRouteSettings"]
    assert {"ThrottlingBurstLimit", "ThrottlingRateLimit"} <= set(settings)


def _queue_name(logical: str, spec: dict[str, Any]) -> str:
    name = spec.get("Properties", {}).get("QueueName", logical)
    return str(name.get("Fn::Sub", logical) if isinstance(name, dict) else name)


# Failure queues (dead-letter, on-failure) hold the only copy of what failed.
FAILURE_QUEUES = {
    logical: spec
    for logical, spec in _resources("AWS::SQS::Queue").items()
    if _queue_name(logical, spec).lower().endswith(("dlq", "failures"))
}


def test_the_known_failure_queues_are_recognised() -> None:
    assert {"HumanReviewDeadLetterQueue", "EventDeadLetterQueue", "StreamFailureQueue"} <= set(FAILURE_QUEUES)


@pytest.mark.parametrize("logical", sorted(FAILURE_QUEUES))
def test_failure_queues_are_retained(logical: str) -> None:
    spec = FAILURE_QUEUES[logical]
    assert spec.get("DeletionPolicy") == "Retain", f"{logical}: DeletionPolicy: Retain"
    assert spec.get("UpdateReplacePolicy") == "Retain", f"{logical}: UpdateReplacePolicy: Retain"


def test_the_event_dead_letter_queue_accepts_only_this_stacks_rules() -> None:
    policy = _resources("AWS::SQS::QueuePolicy")["EventDeadLetterQueuePolicy"]["Properties"]
    for statement in policy["PolicyDocument"]["Statement"]:
        if statement["Effect"] == "Allow":
            assert "aws:SourceArn" in json.dumps(statement.get("Condition", {})), statement


@pytest.mark.parametrize("name, spec", sorted(_resources("AWS::Serverless::StateMachine").items()))
def test_every_state_machine_logs_errors_to_a_retained_log_group(name: str, spec: dict[str, Any]) -> None:
    props = spec["Properties"]
    logging = props["Logging"]
    assert logging["Level"] in ("ERROR", "ALL", "FATAL")
    assert logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert _resources("AWS::Logs::LogGroup")[group]["Properties"]["RetentionInDays"] > 0
    # SAM does not grant log delivery for `Logging`: the role needs it from the Policies.
    assert "logs:CreateLogDelivery" in _statement_actions(props.get("Policies", []))


def test_checkov_skips_give_a_reason() -> None:
    for logical, spec in load_template(TEMPLATE)["Resources"].items():
        for skip in spec.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), logical
            assert len(skip.get("comment", "")) > 20, f"{logical}: {skip['id']} needs a reason"
