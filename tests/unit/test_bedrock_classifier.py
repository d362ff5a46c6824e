"""The Bedrock query classifier (real Converse shapes through botocore's Stubber), its fallback to the rules
(failure, invalid output, latency budget), its few-shot examples from S3 (TTL, last good version kept) and the
search metrics the API function emits."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import time
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from cataloop.adapters.bedrock_classifier import BedrockQueryClassifier, ClassifierAnswer
from cataloop.adapters.bedrock_models import BedrockModelClient, tool_name_for
from cataloop.adapters.classifier_examples_s3 import ClassifierExamplesS3
from cataloop.domain.search.classification import (
    FewShotIndex,
    QueryVocabulary,
    RulesQueryClassifier,
    load_query_vocabulary,
)
from tests.conftest import ROOT

MODEL = "us.amazon.nova-micro-v1:0"
TOOL = tool_name_for(ClassifierAnswer)


@pytest.fixture
def runtime() -> Any:
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


@pytest.fixture(scope="module")
def rules() -> RulesQueryClassifier:
    return RulesQueryClassifier(FewShotIndex(load_query_vocabulary().examples))


class SlowClient:
    """Forwards to the stubbed client after `delay` seconds, keeping each request."""

    def __init__(self, client: Any, delay: float = 0.0) -> None:
        self._client = client
        self.delay = delay
        self.requests: list[dict[str, Any]] = []

    def converse(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        time.sleep(self.delay)
        return self._client.converse(**kwargs)


def _converse_response(tool_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": TOOL, "input": tool_input}}],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 420, "outputTokens": 31, "totalTokens": 451},
        "metrics": {"latencyMs": 240},
    }


def _classifier(client: Any, rules: RulesQueryClassifier, **kwargs: Any) -> BedrockQueryClassifier:
    vocabulary = load_query_vocabulary()
    return BedrockQueryClassifier(
        BedrockModelClient(client, model_ids={"classifier": MODEL}),
        rules,
        examples=kwargs.pop("examples", lambda: vocabulary),
        **kwargs,
    )


def test_the_model_classifies_the_query(runtime: Any, rules: RulesQueryClassifier) -> None:
    answer = {
        "kind": "natural_language",
        "sort_intent": "price_asc",
        "food_intent": True,
        "cleaned_query": "아침에 마시기 좋은 음료",
        "reason": "describes a need; asks for cheap",
    }
    client = SlowClient(runtime)
    with Stubber(runtime) as stub:
        stub.add_response("converse", _converse_response(answer))
        result = _classifier(client, rules).classify("저렴한 아침에 마시기 좋은 음료")
        stub.assert_no_pending_responses()
    assert result.classifier == "bedrock" and not result.fell_back
    assert (result.kind, result.sort_intent, result.food_intent) == ("natural_language", "price_asc", True)
    assert result.cleaned_query == "아침에 마시기 좋은 음료"
    assert result.reasons[0].startswith(f"classified by {MODEL}")
    (request,) = client.requests
    assert request["modelId"] == MODEL
    assert request["toolConfig"]["toolChoice"] == {"tool": {"name": TOOL}}
    user = request["messages"][0]["content"][0]["text"]
    assert "<query>\n저렴한 아침에 마시기 좋은 음료\n</query>" in user
    assert '"kind": "natural_language"' in user  # the nearest labelled examples are in the prompt


def test_malformed_output_falls_back_to_the_rules(runtime: Any, rules: RulesQueryClassifier) -> None:
    bad = {"kind": "maybe", "cleaned_query": "유산균"}
    with Stubber(runtime) as stub:
        stub.add_response("converse", _converse_response(bad))
        stub.add_response("converse", _converse_response(bad))  # the repair turn fails too
        result = _classifier(runtime, rules).classify("저렴한 유산균")
        stub.assert_no_pending_responses()
    assert result.classifier == "rules (fallback: invalid output)" and result.fell_back
    expected = rules.classify("저렴한 유산균")
    assert (result.kind, result.sort_intent, result.cleaned_query) == (
        expected.kind,
        expected.sort_intent,
        expected.cleaned_query,
    )


def test_a_cleaned_query_with_words_the_shopper_never_typed_falls_back(
    runtime: Any, rules: RulesQueryClassifier
) -> None:
    invented = {"kind": "keyword", "cleaned_query": "probiotics", "food_intent": True}
    with Stubber(runtime) as stub:
        stub.add_response("converse", _converse_response(invented))
        result = _classifier(runtime, rules).classify("유산균")
    assert result.classifier == "rules (fallback: invalid output)"


def test_a_late_answer_falls_back_at_the_latency_budget(runtime: Any, rules: RulesQueryClassifier) -> None:
    client = SlowClient(runtime, delay=0.5)
    with Stubber(runtime) as stub:
        stub.add_response("converse", _converse_response({"kind": "keyword", "cleaned_query": "유산균"}))
        started = time.perf_counter()
        result = _classifier(client, rules, latency_budget_ms=50).classify("유산균")
        waited = time.perf_counter() - started
        time.sleep(0.6)  # let the abandoned call finish against the stub
    assert result.classifier == "rules (fallback: timeout)"
    assert waited < 0.4


def test_a_throttled_model_falls_back(runtime: Any, rules: RulesQueryClassifier) -> None:
    with Stubber(runtime) as stub:
        stub.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
        result = _classifier(runtime, rules).classify("유산균")
    assert result.classifier.startswith("rules (fallback: ")
    assert result.kind == "keyword"


# --- examples from S3 ---------------------------------------------------------------------------------------


def _object(body: bytes, etag: str) -> dict[str, Any]:
    return {
        "Body": StreamingBody(io.BytesIO(body), len(body)),
        "ContentLength": len(body),
        "ETag": etag,
    }


def _examples_json(*texts: str) -> bytes:
    examples = [{"text": text, "kind": "keyword", "food_intent": True} for text in texts]
    return json.dumps({"version": 1, "examples": examples}, ensure_ascii=False).encode("utf-8")


def test_examples_are_read_from_s3_cached_and_a_malformed_object_keeps_the_last_good(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    now = [0.0]
    shipped = load_query_vocabulary()
    source = ClassifierExamplesS3(
        "bucket",
        "classifier/query_examples.json",
        client=s3,
        fallback=shipped,
        max_age_seconds=300,
        clock=lambda: now[0],
    )
    params = {"Bucket": "bucket", "Key": "classifier/query_examples.json"}
    with Stubber(s3) as stub:
        stub.add_response("get_object", _object(_examples_json("유산균", "두유"), '"v1"'), params)
        stub.add_response("get_object", _object(b'{"examples": [{"text": "", "kind": "?"}]}', '"v2"'), params)
        stub.add_response("get_object", _object(b"not json", '"v3"'), params)
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)

        good = source.vocabulary()
        assert [example.text for example in good.examples] == ["유산균", "두유"]
        now[0] = 299
        assert source.vocabulary() is good  # within the TTL: no S3 call (the stub would refuse one)

        with caplog.at_level(logging.WARNING, logger="cataloop.adapters.classifier_examples_s3"):
            for step in (300, 600, 900):
                now[0] = step
                assert source.vocabulary() is good
                assert source.last_error
        stub.assert_no_pending_responses()
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "keeping the last good version (2 examples)" in messages
    assert "examples.0.text" in messages or "text" in messages
    assert "not UTF-8 JSON" in messages and "NoSuchKey" in messages


def test_without_a_readable_object_the_shipped_examples_are_used() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    shipped = load_query_vocabulary()
    source = ClassifierExamplesS3("bucket", "classifier/x.json", client=s3, fallback=shipped)
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
        assert source.vocabulary() is shipped


def test_the_model_prompt_uses_the_current_examples(runtime: Any, rules: RulesQueryClassifier) -> None:
    vocabulary = QueryVocabulary(
        examples=({"text": "맑은빨래 세제", "kind": "keyword", "food_intent": False},)
    )  # type: ignore[arg-type]
    client = SlowClient(runtime)
    with Stubber(runtime) as stub:
        stub.add_response("converse", _converse_response({"kind": "keyword", "cleaned_query": "세제"}))
        result = _classifier(client, rules, examples=lambda: vocabulary).classify("세제")
    assert result.classifier == "bedrock"
    assert "맑은빨래 세제" in client.requests[0]["messages"][0]["content"][0]["text"]


# --- the search service and the API function's metrics ---------------------------------------------------


def test_the_search_plan_names_the_classifier(rules: RulesQueryClassifier) -> None:
    from cataloop.services.search_models import ClassificationSummary

    fallen = rules.classify("유산균").model_copy(update={"classifier": "rules (fallback: timeout)"})
    summary = ClassificationSummary.from_classification(fallen)
    assert summary.classifier == "rules (fallback: timeout)" and summary.fell_back
    assert ClassificationSummary.from_classification(rules.classify("유산균")).classifier == "rules"


def _api_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "api_app_metrics_test", ROOT / "functions" / "api" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_function_emits_the_search_metrics(
    rules: RulesQueryClassifier, capsys: pytest.CaptureFixture[str]
) -> None:
    from cataloop.observability import metrics
    from cataloop.services.search_models import (
        ClassificationSummary,
        GuardrailSummary,
        SearchPlanSummary,
        SearchResponse,
    )

    app = _api_module()
    fallen = rules.classify("유산균").model_copy(update={"classifier": "rules (fallback: timeout)"})
    plan = SearchPlanSummary(
        exact_match=False,
        guardrail=GuardrailSummary(action="masked", reasons=["phone number"]),
        classification=ClassificationSummary.from_classification(fallen),
        mode="hybrid",
        sort="relevance",
        clauses=[],
        candidates=0,
    )
    response = SearchResponse(query="유산균", page=1, size=20, total=0, results=[], plan=plan)
    capsys.readouterr()
    app._search_metrics(response, 123.4)
    metrics.flush_metrics()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    values: dict[str, Any] = {}
    dimensions: dict[str, Any] = {}
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values[metric["Name"]] = value[0] if isinstance(value, list) else value
                dimensions[metric["Name"]] = {name: document[name] for name in directive["Dimensions"][0]}
    assert values["SearchLatencyMs"] == 123.4
    assert dimensions["SearchLatencyMs"] == {"service": "cataloop", "path": "hybrid"}
    assert (values["ZeroResultSearches"], values["GuardrailActions"], values["ClassifierFallbacks"]) == (
        1,
        1,
        1,
    )
    assert dimensions["ClassifierFallbacks"] == {"service": "cataloop"}
