"""`cataloop doctor`: which adapter each port of each function resolves to under template parameters, and the
configuration errors found without calling AWS; its description is the builders' own decisions."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cataloop import wiring
from cataloop.settings import Settings
from cataloop_local.cli.common import PARAMETER_OVERRIDES
from cataloop_local.cli.doctor import (
    BUILDER_PORTS,
    NO_PORT,
    WIRING_CALL,
    diagnose,
    settings_from_environment,
)
from cataloop_local.cli.main import main
from cataloop_local.emulator.cloud import local_parameters
from tests.conftest import ROOT, TEMPLATE

SEARCH_PORTS = {
    "product_index",
    "embedder",
    "classifier",
    "guardrail",
    "commenter",
    "search_log",
    "product_store",
    "dictionaries",
}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # boto3 clients are created by the agreement tests, never called; main() fills the shared overrides.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    saved = dict(PARAMETER_OVERRIDES)
    yield
    PARAMETER_OVERRIDES.clear()
    PARAMETER_OVERRIDES.update(saved)


def test_the_deployed_defaults_resolve_without_errors() -> None:
    diagnosis = diagnose(TEMPLATE)
    assert diagnosis.ok, diagnosis.as_json()
    functions = diagnosis.functions
    assert "ApiFunction" in functions and "GenerateFunction" in functions
    assert set(functions["ApiFunction"].ports) == SEARCH_PORTS
    assert functions["ApiFunction"].ports["product_index"] == "OpenSearchIndex"
    assert functions["GenerateFunction"].ports == {"model_client": "BedrockModelClient"}
    assert functions["ConsensusFunction"].ports == {}  # no adapter: it decides on what it is given


def test_bedrock_and_opensearch_give_the_aws_adapters(tmp_path: Path) -> None:
    out = tmp_path / "doctor.json"
    code = main(
        [
            "--parameter-overrides",
            "ModelProvider=bedrock",
            "SearchBackend=opensearch",
            "doctor",
            "--template",
            str(TEMPLATE),
            "--json",
            str(out),
        ]
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    assert code == 0, report
    api = report["functions"]["ApiFunction"]
    assert api["errors"] == []
    assert api["ports"]["product_index"] == "OpenSearchIndex"
    # The model classifies queries (the rules are its fallback); a small model writes the comment.
    assert api["ports"]["classifier"] == "BedrockQueryClassifier"
    assert api["ports"]["commenter"] == "BedrockModelClient"
    assert report["functions"]["GenerateFunction"]["ports"]["model_client"] == "BedrockModelClient"
    assert report["functions"]["IndexerFunction"]["ports"]["learnings_index"] == "OpenSearchLearningIndex"
    assert report["parameters"]["ModelProvider"] == "bedrock"


def test_a_configured_guardrail_commenter_and_bucket_switch_the_search_ports() -> None:
    diagnosis = diagnose(
        TEMPLATE,
        {
            "ModelProvider": "bedrock",
            "SearchBackend": "opensearch",
            "EmbeddingProvider": "bedrock",
            "GuardrailId": "gr-abc123",
            "CommenterModelId": "us.amazon.nova-micro-v1:0",
            "SearchLogBucket": "cataloop-dev-search-log",
            "CommentTokenSecret": "one key",
        },
    )
    api = diagnosis.functions["ApiFunction"]
    assert api.ports["guardrail"] == "BedrockGuardrail"
    assert api.ports["commenter"] == "BedrockModelClient"
    assert api.ports["search_log"] == "SearchLogS3"
    assert api.ports["embedder"] == "TitanEmbedder"
    assert api.errors == [] and api.warnings == []
    assert diagnosis.parameters["CommentTokenSecret"] == "****"  # NoEcho stays unprinted


def test_the_local_defaults_are_offline_and_embedded(tmp_path: Path) -> None:
    diagnosis = diagnose(TEMPLATE, base_parameters=local_parameters(tmp_path))
    assert diagnosis.ok, diagnosis.as_json()
    api = diagnosis.functions["ApiFunction"].ports
    assert (api["product_index"], api["embedder"], api["guardrail"], api["commenter"]) == (
        "EmbeddedSearchIndex",
        "E5Embedder",
        "OfflineGuardrail",
        wiring.NONE,  # the offline comment template
    )
    assert api["classifier"] == "RulesQueryClassifier"
    assert api["search_log"] == "SearchLogS3"  # the stack's bucket, on moto locally
    assert diagnosis.functions["GenerateFunction"].ports["model_client"] == "OfflineModelClient"
    assert diagnosis.functions["PlaceLearningsFunction"].ports["memory_manager"] == wiring.NONE
    assert diagnosis.functions["PlaceLearningsFunction"].ports["learnings_index"] == "EmbeddedLearningIndex"


def test_an_unknown_parameter_and_a_value_not_allowed_are_errors(tmp_path: Path) -> None:
    out = tmp_path / "doctor.json"
    code = main(
        [
            "doctor",
            "--template",
            str(TEMPLATE),
            "--json",
            str(out),
            "--parameter-overrides",
            "Nope=1",
            "ModelProvider=gpt-9",
        ]
    )
    assert code == 1
    report = json.loads(out.read_text(encoding="utf-8"))
    assert any("Nope: no such parameter" in error for error in report["errors"])
    assert any("ModelProvider='gpt-9': allowed values are" in error for error in report["errors"])
    # Every function reports them: the stack would not deploy.
    assert all(len(function["errors"]) >= 2 for function in report["functions"].values())


def test_settings_validation_errors_name_the_function_and_what_to_set() -> None:
    # Both values are allowed by the template, but e5 gives 384 dimensions: every function fails at cold start.
    diagnosis = diagnose(TEMPLATE, {"EmbeddingProvider": "e5", "EmbeddingDimension": "1024"})
    api = diagnosis.functions["ApiFunction"]
    assert not diagnosis.ok and diagnosis.errors == []
    assert any("EMBEDDING_PROVIDER=e5 gives 384 dimensions, not 1024" in error for error in api.errors)
    assert set(api.ports) == SEARCH_PORTS and set(api.ports.values()) == {"?"}


def test_this_shells_environment_does_not_leak_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    handler = tmp_path / "fn" / "app.py"
    handler.parent.mkdir()
    handler.write_text("wiring.model_client(c), wiring.guardrail(c)\n", encoding="utf-8")
    template = tmp_path / "template.yaml"
    template.write_text(
        textwrap.dedent(
            f"""\
            Resources:
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: fn/
                  Handler: app.lambda_handler
                  Environment:
                    Variables: {{MODEL_PROVIDER: offline, SEARCH_BACKEND: embedded, DATA_DIR: {tmp_path}}}
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("MODEL_PROVIDER", "openai-compatible")
    monkeypatch.setenv("GUARDRAIL_ID", "gr-from-my-shell")
    function = diagnose(template).functions["Fn"]
    assert function.errors == []
    assert function.ports == {"model_client": "OfflineModelClient", "guardrail": "OfflineGuardrail"}


def _small_stack(
    tmp_path: Path,
    host: str = "!If [CreateDomain, !GetAtt Domain.DomainEndpoint, !Ref OpenSearchEndpoint]",
) -> Path:
    """A template with a conditionally created domain and guardrail, as a deployed stack would create them."""
    handler = tmp_path / "functions" / "search" / "app.py"
    handler.parent.mkdir(parents=True)
    handler.write_text(
        "from cataloop import wiring\n"
        "def lambda_handler(event, context):\n"
        "    return wiring.search_service(None), wiring.query_classifier(None)\n",
        encoding="utf-8",
    )
    template = tmp_path / "template.yaml"
    template.write_text(
        textwrap.dedent(
            f"""\
            Parameters:
              OpenSearchEndpoint: {{Type: String, Default: ""}}
              CreateGuardrail: {{Type: String, Default: "yes", AllowedValues: ["yes", "no"]}}
            Conditions:
              CreateDomain: !Equals [!Ref OpenSearchEndpoint, ""]
              HasGuardrail: !Equals [!Ref CreateGuardrail, "yes"]
            Globals:
              Function:
                Environment:
                  Variables:
                    MODEL_PROVIDER: bedrock
                    GENERATOR_MODEL_ID: g
                    GENERATOR_B_MODEL_ID: g2
                    EVALUATOR_MODEL_ID: e
                    SUPERVISOR_MODEL_ID: s
                    SEARCH_BACKEND: opensearch
                    EMBEDDING_PROVIDER: bedrock
                    EMBEDDING_DIMENSION: 1024
                    OPENSEARCH_HOST: {host}
                    SEARCH_LOG_BUCKET: !Ref SearchLog
            Resources:
              Domain:
                Type: AWS::OpenSearchService::Domain
                Condition: CreateDomain
              Guardrail:
                Type: AWS::Bedrock::Guardrail
                Condition: HasGuardrail
              SearchLog:
                Type: AWS::S3::Bucket
                Properties: {{BucketName: !Sub "cataloop-${{AWS::Region}}-search-log"}}
              SearchFunction:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: functions/search/
                  Handler: app.lambda_handler
                  Environment:
                    Variables:
                      GUARDRAIL_ID: !GetAtt Guardrail.GuardrailId
            """
        ),
        encoding="utf-8",
    )
    return template


def test_resources_the_stack_creates_stand_in_for_their_parameters(tmp_path: Path) -> None:
    diagnosis = diagnose(_small_stack(tmp_path))
    function = diagnosis.functions["SearchFunction"]
    assert function.handler == "functions/search/app.py"
    assert function.errors == [], function.errors
    assert function.ports["product_index"] == "OpenSearchIndex"
    assert function.ports["guardrail"] == "BedrockGuardrail"
    assert function.ports["search_log"] == "SearchLogS3"
    assert diagnosis.conditions == {"CreateDomain": True, "HasGuardrail": True}
    assert any("wiring.query_classifier()" in warning for warning in function.warnings)


def test_a_reference_to_a_resource_not_created_is_an_error(tmp_path: Path) -> None:
    diagnosis = diagnose(_small_stack(tmp_path), {"CreateGuardrail": "no"})
    errors = diagnosis.functions["SearchFunction"].errors
    assert any(
        error.startswith("GUARDRAIL_ID: refers to Guardrail, which these parameters do not create")
        for error in errors
    ), errors


def test_a_variable_left_unresolved_is_reported_once(tmp_path: Path) -> None:
    template = _small_stack(tmp_path, host="!GetAtt Domain.DomainEndpoint")
    function = diagnose(template, {"OpenSearchEndpoint": "search-mine.us-east-1.es.amazonaws.com"}).functions[
        "SearchFunction"
    ]
    # Not also "SEARCH_BACKEND=opensearch needs OPENSEARCH_HOST": that only repeats the missing variable.
    assert function.errors == [
        "OPENSEARCH_HOST: refers to Domain, which these parameters do not create (Condition CreateDomain is false)"
    ]
    assert set(function.ports.values()) == {"?"}


def test_every_builder_a_handler_calls_is_known_to_doctor() -> None:
    called = {
        name
        for path in (ROOT / "functions").glob("*/app.py")
        for name in WIRING_CALL.findall(path.read_text(encoding="utf-8"))
    }
    assert called - set(BUILDER_PORTS) - NO_PORT == set()
    assert {port for ports in BUILDER_PORTS.values() for port in ports} <= set(
        wiring.describe_adapters(Settings(data_dir="/tmp/x"))
    )
    for builder in {*BUILDER_PORTS, *NO_PORT}:
        assert callable(getattr(wiring, builder)), builder


# --- the description agrees with what the builders build ---------------------------------------------------


def _name(built: Any) -> str:
    return wiring.NONE if built is None else type(built).__name__


def _describe_and_build(config: Settings) -> dict[str, tuple[str, str]]:
    """Port -> (described, built) for the ports whose adapter is cheap to build (clients created, never
    called; indexes built without ensure_index)."""
    described = wiring.describe_adapters(config)
    built = {
        "model_client": wiring.model_client(config),
        "memory_manager": wiring.memory_manager_model(config),
        "product_store": wiring.product_store(config),
        "knowledge_store": wiring.knowledge_store(config),
        "embedder": wiring.embedder(config),
        "guardrail": wiring.guardrail(config),
        "search_log": wiring.search_log(config),
        "commenter": wiring.commenter_model(config),
        "product_index": wiring._build_search_index(config),
        "learnings_index": wiring._build_learning_index(config),
        "dictionaries": wiring.dictionaries(config),
    }
    pairs = {port: (described[port], _name(adapter)) for port, adapter in built.items()}
    for adapter in built.values():
        close = getattr(adapter, "close", None)
        if close is not None and adapter.__class__.__name__.startswith("Embedded"):
            close()
    return pairs


def _agree(pairs: dict[str, tuple[str, str]]) -> None:
    disagreements = {port: pair for port, pair in pairs.items() if pair[0] != pair[1]}
    assert disagreements == {}


def test_the_description_is_what_the_builders_build_offline_and_embedded(tmp_path: Path) -> None:
    config = Settings(model_provider="offline", search_backend="embedded", data_dir=str(tmp_path))
    pairs = _describe_and_build(config)
    _agree(pairs)
    assert pairs["product_index"][1] == "EmbeddedSearchIndex" and pairs["search_log"][1] == "SearchLogFiles"
    assert pairs["dictionaries"][1] == "DictionaryFiles"


def test_the_description_is_what_the_builders_build_on_aws() -> None:
    config = settings_from_environment(
        {
            "MODEL_PROVIDER": "bedrock",
            "GENERATOR_MODEL_ID": "g",
            "GENERATOR_B_MODEL_ID": "g2",
            "EVALUATOR_MODEL_ID": "e",
            "SUPERVISOR_MODEL_ID": "s",
            "MEMORY_MANAGER_MODEL_ID": "m",
            "COMMENTER_MODEL_ID": "c",
            "GUARDRAIL_ID": "gr-1",
            "SEARCH_LOG_BUCKET": "bucket",
            "DICTIONARY_BUCKET": "bucket",
            "SEARCH_BACKEND": "opensearch",
            "OPENSEARCH_HOST": "search-x.us-east-1.es.amazonaws.com",
            "EMBEDDING_PROVIDER": "bedrock",
            "EMBEDDING_DIMENSION": "1024",
        }
    )
    pairs = _describe_and_build(config)
    _agree(pairs)
    assert pairs["product_index"][1] == "OpenSearchIndex" and pairs["guardrail"][1] == "BedrockGuardrail"
    assert pairs["dictionaries"][1] == "DictionaryS3"  # built without reading the bucket


def test_the_description_is_what_the_builders_build_with_an_openai_compatible_server() -> None:
    config = Settings(
        model_provider="openai-compatible",
        openai_base_url="http://127.0.0.1:11434/v1",
        generator_model_id="g",
        generator_b_model_id="g2",
        evaluator_model_id="e",
        supervisor_model_id="s",
        memory_manager_model_id="m",
        commenter_model_id="c",
        search_backend="opensearch",
        opensearch_host="search-x.us-east-1.es.amazonaws.com",
    )
    described = wiring.describe_adapters(config)
    for port, adapter in (
        ("model_client", wiring.model_client(config)),
        ("memory_manager", wiring.memory_manager_model(config)),
        ("commenter", wiring.commenter_model(config)),
        ("search_log", wiring.search_log(config)),
    ):
        assert described[port] == _name(adapter), port
    assert described["model_client"] == "OpenAICompatibleClient"


def test_the_classifier_is_the_one_build_search_service_builds() -> None:
    class _Embedder:
        def embed(self, texts: list[str], kind: str = "document") -> list[list[float]]:
            return [[1.0, float(len(text))] for text in texts]

    class _Index:
        def vocabulary(self) -> list[str]:
            return []

        def in_catalog(self, term: str) -> bool:
            return False

    index: Any = _Index()
    embedder: Any = _Embedder()
    offline = Settings(data_dir="/tmp/x")
    service = wiring.build_search_service(
        index=index,
        embedder=embedder,
        guardrail=wiring.guardrail(offline),
        token_secret=b"k" * 32,
        classifier_model=wiring.classifier_model(offline),
    )
    assert type(service.classifier).__name__ == wiring.describe_adapters(offline)["classifier"]

    on_aws = settings_from_environment(
        {
            "MODEL_PROVIDER": "bedrock",
            "GENERATOR_MODEL_ID": "g",
            "GENERATOR_B_MODEL_ID": "g2",
            "EVALUATOR_MODEL_ID": "e",
            "SUPERVISOR_MODEL_ID": "s",
            "CLASSIFIER_MODEL_ID": "us.amazon.nova-micro-v1:0",
            "CLASSIFIER_EXAMPLES_BUCKET": "bucket",
            "SEARCH_BACKEND": "opensearch",
            "OPENSEARCH_HOST": "search-x.us-east-1.es.amazonaws.com",
        }
    )
    service = wiring.build_search_service(
        index=index,
        embedder=embedder,
        guardrail=wiring.guardrail(offline),
        token_secret=b"k" * 32,
        classifier_model=wiring.classifier_model(on_aws),
        classifier_examples=wiring.classifier_examples(on_aws),
    )
    assert type(service.classifier).__name__ == wiring.describe_adapters(on_aws)["classifier"]
    assert wiring.describe_adapters(on_aws)["classifier"] == "BedrockQueryClassifier"


def test_the_offline_provider_keeps_the_offline_comment_and_the_rules_classifier() -> None:
    # The template's default commenter and classifier model ids reach the local cloud too.
    config = Settings(
        data_dir="/tmp/x", commenter_model_id="us.amazon.nova-micro-v1:0", classifier_model_id="m"
    )
    assert wiring.commenter_model(config) is None and wiring.classifier_model(config) is None
    described = wiring.describe_adapters(config)
    assert (described["commenter"], described["classifier"]) == (wiring.NONE, "RulesQueryClassifier")
