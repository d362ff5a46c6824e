"""One configuration: every variable a function reads is declared on `Settings` and set by template.yaml,
and an inconsistent environment fails at cold start with a message naming what to set."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cataloop.settings import ConfigurationError, Settings, environment_variables
from cataloop_local.emulator.cfn import load_template, merged_function_properties
from tests.conftest import ROOT, TEMPLATE

# Set by the Lambda runtime or by Powertools' own conventions, not by the template.
RUNTIME_VARIABLES = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME"}


def _function_environments() -> dict[str, dict[str, Any]]:
    template = load_template(TEMPLATE)
    return {
        name: merged_function_properties(template, spec.get("Properties", {}))
        .get("Environment", {})
        .get("Variables", {})
        for name, spec in template["Resources"].items()
        if spec["Type"] == "AWS::Serverless::Function"
    }


def _variables_read_by_code() -> set[str]:
    """Environment variables named in os.environ / os.getenv reads anywhere in the layer and the handlers."""
    pattern = re.compile(r"os\.(?:environ\.get|environ\[|getenv)\(?\s*[\"']([A-Z0-9_]+)[\"']")
    found: set[str] = set()
    for folder in ("layers/cataloop/cataloop", "functions"):
        for path in (ROOT / folder).rglob("*.py"):
            found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("function, environment", sorted(_function_environments().items()))
def test_every_setting_a_function_reads_is_set_by_its_template_entry_or_documented(
    function: str, environment: dict[str, Any]
) -> None:
    missing = []
    for field, variable in environment_variables().items():
        if variable in environment or variable in RUNTIME_VARIABLES:
            continue
        if not Settings.model_fields[field].description:
            missing.append(variable)
    assert not missing, (
        f"{function} reads {missing} but template.yaml sets none of them and no default is documented"
    )


@pytest.mark.parametrize("function, environment", sorted(_function_environments().items()))
def test_variables_read_directly_are_set_too(function: str, environment: dict[str, Any]) -> None:
    unset = _variables_read_by_code() - set(environment) - RUNTIME_VARIABLES
    assert not unset, f"{function}: code reads {sorted(unset)}, which its template entry does not set"


def test_every_variable_the_template_sets_is_a_setting_or_a_powertools_one() -> None:
    known = set(environment_variables().values())
    for function, environment in _function_environments().items():
        stray = {name for name in environment if name not in known and not name.startswith("POWERTOOLS_")}
        assert not stray, f"{function} sets {sorted(stray)}, which no Settings field declares"


def test_every_setting_is_set_by_some_function_or_has_a_documented_default() -> None:
    set_somewhere = {name for environment in _function_environments().values() for name in environment}
    for field, variable in environment_variables().items():
        assert (
            variable in set_somewhere
            or variable in RUNTIME_VARIABLES
            or Settings.model_fields[field].description
        ), f"{variable} is set by no function and its default is not documented"


def test_no_setting_is_read_with_getattr() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("layers", "functions", "local", "eval", "bench", "scripts")
        for path in (ROOT / folder).rglob("*.py")
        if "getattr(settings" in path.read_text(encoding="utf-8")
        or "getattr(config" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_variables_map_to_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEW_CONFIDENCE_THRESHOLD", "0.8")
    monkeypatch.setenv("GUARDRAIL_ID", "gr-123")
    monkeypatch.setenv("COMMENT_TOKEN_SECRET", "s3cret")
    monkeypatch.setenv("DATA_DIR", "/tmp/cataloop-test")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    config = Settings.from_environment()
    assert config.review_confidence_threshold == 0.8
    assert config.guardrail_id == "gr-123"
    assert config.comment_token_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)  # a secret never reaches a log line
    assert config.region == "eu-west-1"


def test_empty_variables_mean_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_SAMPLE_RATE", "")
    monkeypatch.setenv("DATA_DIR", "/tmp/cataloop-test")
    assert Settings.from_environment().audit_sample_rate == 0.05


@pytest.mark.parametrize(
    "values, message",
    [
        ({"model_provider": "bedrock"}, "MODEL_PROVIDER=bedrock needs GENERATOR_MODEL_ID"),
        ({"search_backend": "opensearch", "data_dir": ""}, "SEARCH_BACKEND=opensearch needs OPENSEARCH_HOST"),
        ({"search_backend": "embedded", "data_dir": ""}, "SEARCH_BACKEND=embedded needs DATA_DIR"),
        ({"embedding_provider": "e5", "embedding_dimension": 1024}, "gives 384 dimensions, not 1024"),
        ({"embedding_provider": "bedrock", "embedding_dimension": 384}, "not 384"),
        ({"learnings_alias": "products"}, "LEARNINGS_ALIAS must differ"),
    ],
)
def test_an_inconsistent_configuration_fails_at_cold_start(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, Any], message: str
) -> None:
    monkeypatch.setenv("DATA_DIR", "/tmp/cataloop-test")
    for field, value in values.items():
        monkeypatch.setenv(environment_variables()[field], str(value))
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings.from_environment()
