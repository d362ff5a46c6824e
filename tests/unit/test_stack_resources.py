"""What the deployed stack creates for the search side and for operations: the OpenSearch domain, the search-log
bucket, the comment-token secret, the guardrail, the dashboard and the sweet-spot alarms (template.yaml), each
under the Condition that makes it optional, and how the functions are wired to them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cataloop.settings import Settings
from cataloop_local.emulator.cfn import IntrinsicResolver, load_template, merged_function_properties
from cataloop_local.emulator.cloud import local_parameters
from tests.conftest import ROOT, TEMPLATE

TEMPLATE_DATA = load_template(TEMPLATE)
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE_DATA["Resources"]

# What a deployed stack's resources answer to Ref/GetAtt, as far as these tests need it.
FAKE_ATTRIBUTES = {
    ("OpenSearchDomain", "DomainEndpoint"): "search-cataloop-dev-abc.us-east-1.es.amazonaws.com",
    ("SearchGuardrail", "GuardrailId"): "gr0abc123",
    ("SearchGuardrail", "GuardrailArn"): "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr0abc123",
    ("SearchGuardrailVersion", "Version"): "1",
    ("SearchLogStore", None): "cataloop-dev-searchlogstore-1a2b3c",
    ("SearchLogStore", "Arn"): "arn:aws:s3:::cataloop-dev-searchlogstore-1a2b3c",
    ("CommentTokenSecretStore", None): "arn:aws:secretsmanager:us-east-1:123456789012:secret:key-AbCdEf",
}


def _deployed(logical_id: str, attribute: str | None) -> Any:
    if (logical_id, attribute) in FAKE_ATTRIBUTES:
        return FAKE_ATTRIBUTES[(logical_id, attribute)]
    if RESOURCES[logical_id]["Type"] == "AWS::Serverless::Function" and attribute is None:
        return f"cataloop-dev-{logical_id}"
    if attribute == "StreamArn":
        return f"arn:aws:dynamodb:us-east-1:123456789012:table/{logical_id}/stream/2024-01-01T00:00:00.000"
    return f"arn:aws:local:{logical_id}:{attribute}"


def _resolver(**overrides: str) -> IntrinsicResolver:
    return IntrinsicResolver(TEMPLATE_DATA, _deployed, overrides)


def _environment(function: str, **overrides: str) -> dict[str, str]:
    props = merged_function_properties(TEMPLATE_DATA, RESOURCES[function]["Properties"])
    variables = _resolver(**overrides).resolve(props["Environment"]["Variables"])
    return {key: str(value) for key, value in variables.items()}


def _policies(function: str, **overrides: str) -> str:
    """The function's resolved policies, as one JSON text to search."""
    return json.dumps(_resolver(**overrides).resolve(RESOURCES[function]["Properties"].get("Policies", [])))


# ---------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    "overrides, created",
    [
        ({}, {"OpenSearchDomain", "SearchGuardrail", "SearchLogStore", "CommentTokenSecretStore"}),
        # What the local cloud passes: no domain, no guardrail; the search-log bucket and the secret on moto.
        ({**local_parameters(ROOT / ".cataloop")}, {"SearchLogStore", "CommentTokenSecretStore"}),
        (
            {
                "OpenSearchEndpoint": "search-mine.us-east-1.es.amazonaws.com",
                "OpenSearchDomainArn": "arn:aws:es:us-east-1:123456789012:domain/mine",
                "GuardrailId": "gr1",
                "SearchLogBucket": "my-logs",
                "CommentTokenSecret": "k",
            },
            set(),
        ),
    ],
    ids=["deployed-defaults", "local-cloud", "existing-resources-given"],
)
def test_the_stack_creates_what_no_parameter_names(overrides: dict[str, str], created: set[str]) -> None:
    resolver = _resolver(**overrides)
    optional = {
        "OpenSearchDomain",
        "SearchGuardrail",
        "SearchGuardrailVersion",
        "SearchLogStore",
        "SearchLogStorePolicy",
        "CommentTokenSecretStore",
    }
    made = {name for name in optional if resolver.condition(RESOURCES[name]["Condition"])}
    companions = {"SearchGuardrail": "SearchGuardrailVersion", "SearchLogStore": "SearchLogStorePolicy"}
    assert made == created | {companions[name] for name in created if name in companions}


def test_the_deployed_defaults_make_a_consistent_search_function_with_the_created_resources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sam deploy` with no overrides: the search function is pointed at what the stack creates."""
    environment = _environment("ApiFunction")
    for variable in list(Settings.model_fields):
        monkeypatch.delenv(variable.upper(), raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    config = Settings.from_environment()
    assert (config.model_provider, config.search_backend, config.embedding_provider) == (
        "bedrock",
        "opensearch",
        "bedrock",
    )
    assert config.opensearch_host == FAKE_ATTRIBUTES[("OpenSearchDomain", "DomainEndpoint")]
    assert (config.guardrail_id, config.guardrail_version) == ("gr0abc123", "1")
    assert config.search_log_bucket == FAKE_ATTRIBUTES[("SearchLogStore", None)]
    assert config.comment_token_secret_arn == FAKE_ATTRIBUTES[("CommentTokenSecretStore", None)]


def test_given_resources_are_used_instead() -> None:
    given = {
        "OpenSearchEndpoint": "search-mine.us-east-1.es.amazonaws.com",
        "OpenSearchDomainArn": "arn:aws:es:us-east-1:123456789012:domain/mine",
        "GuardrailId": "gr1",
        "GuardrailVersion": "4",
        "SearchLogBucket": "my-logs",
        "CommentTokenSecret": "k",
    }
    environment = _environment("ApiFunction", **given)
    assert environment["OPENSEARCH_HOST"] == "search-mine.us-east-1.es.amazonaws.com"
    assert (environment["GUARDRAIL_ID"], environment["GUARDRAIL_VERSION"]) == ("gr1", "4")
    assert environment["SEARCH_LOG_BUCKET"] == "my-logs"
    assert environment["COMMENT_TOKEN_SECRET_ARN"] == ""
    policies = _policies("ApiFunction", **given)
    assert "arn:aws:es:us-east-1:123456789012:domain/mine/*" in policies
    assert "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr1" in policies
    assert "arn:aws:s3:::my-logs/search-log/*" in policies
    assert "secretsmanager" not in policies


def test_an_existing_endpoint_needs_its_arn() -> None:
    (rule,) = TEMPLATE_DATA["Rules"].values()
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OpenSearchEndpoint"}, ""]}]}
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OpenSearchDomainArn"}, ""]}]
    }


# ---------------------------------------------------------------- OpenSearch domain


def _functions_calling(action_prefix: str) -> set[str]:
    return {
        name
        for name, spec in RESOURCES.items()
        if spec["Type"] == "AWS::Serverless::Function" and action_prefix in _policies(name)
    }


def test_the_domain_is_encrypted_https_only_and_open_to_the_opensearch_functions_only() -> None:
    props = RESOURCES["OpenSearchDomain"]["Properties"]
    assert props["EngineVersion"].startswith("OpenSearch_2.")
    assert props["EncryptionAtRestOptions"] == {"Enabled": True}
    assert props["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    endpoint = props["DomainEndpointOptions"]
    assert endpoint["EnforceHTTPS"] is True and "TLS-1-2" in endpoint["TLSSecurityPolicy"]
    assert props["EBSOptions"] == {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": 10}
    assert props["ClusterConfig"] == {
        "InstanceType": {"Ref": "OpenSearchInstanceType"},
        "InstanceCount": {"Ref": "OpenSearchInstanceCount"},
    }
    parameters = TEMPLATE_DATA["Parameters"]
    assert (
        parameters["OpenSearchInstanceType"]["Default"],
        parameters["OpenSearchInstanceCount"]["Default"],
    ) == (
        "t3.small.search",
        1,
    )
    (statement,) = props["AccessPolicies"]["Statement"]
    principals = {item["Fn::GetAtt"][0].removesuffix("Role") for item in statement["Principal"]["AWS"]}
    assert (
        principals
        == _functions_calling("es:ESHttp")
        == {"IndexerFunction", "ApiFunction", "PlaceLearningsFunction"}
    )


def test_the_functions_reach_the_created_domain_by_its_name() -> None:
    policies = _policies("IndexerFunction")
    assert "arn:aws:es:us-east-1:123456789012:domain/cataloop-dev/*" in policies
    assert RESOURCES["OpenSearchDomain"]["Properties"]["DomainName"] == {"Fn::Sub": "cataloop-${Stage}"}


# ---------------------------------------------------------------- search log, secret, guardrail


def test_the_search_log_bucket_is_private_versioned_encrypted_expiring_and_tls_only() -> None:
    props = RESOURCES["SearchLogStore"]["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    expiring = [rule for rule in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in rule]
    assert expiring and expiring[0]["ExpirationInDays"] == {"Ref": "SearchLogRetentionDays"}
    (statement,) = RESOURCES["SearchLogStorePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_only_the_search_function_writes_the_search_log_reads_the_secret_and_applies_the_guardrail() -> None:
    assert _functions_calling("s3:PutObject") == {"ApiFunction"}
    # The others that touch S3 only read the approved dictionaries (see the dictionaries test below).
    assert _functions_calling("s3:") == {"ApiFunction", "IndexerFunction", "PlaceLearningsFunction"}
    assert _functions_calling("secretsmanager:") == {"ApiFunction"}
    assert _functions_calling("bedrock:ApplyGuardrail") == {"ApiFunction"}
    policies = json.loads(_policies("ApiFunction"))
    statements = [s for policy in policies if policy for s in policy.get("Statement", [])]
    (write,) = [s for s in statements if s.get("Sid") == "WriteSearchLog"]
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == "arn:aws:s3:::cataloop-dev-searchlogstore-1a2b3c/search-log/*"
    (read,) = [s for s in statements if s.get("Sid") == "ReadCommentTokenKey"]
    assert read["Action"] == "secretsmanager:GetSecretValue"
    assert read["Resource"] == FAKE_ATTRIBUTES[("CommentTokenSecretStore", None)]
    (guard,) = [s for s in statements if s.get("Sid") == "ApplyGuardrail"]
    assert FAKE_ATTRIBUTES[("SearchGuardrail", "GuardrailArn")] in guard["Resource"]
    # SEARCH_LOG_BUCKET and the secret's ARN reach the search function only.
    for name, spec in RESOURCES.items():
        if spec["Type"] == "AWS::Serverless::Function" and name != "ApiFunction":
            environment = _environment(name)
            assert "SEARCH_LOG_BUCKET" not in environment and "COMMENT_TOKEN_SECRET_ARN" not in environment


def test_the_comment_token_secret_is_generated() -> None:
    props = RESOURCES["CommentTokenSecretStore"]["Properties"]
    assert props["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in props


def _guardrail_regex(name: str) -> re.Pattern[str]:
    config = RESOURCES["SearchGuardrail"]["Properties"]["SensitiveInformationPolicyConfig"]
    (regex,) = [item for item in config["RegexesConfig"] if item["Name"] == name]
    return re.compile(regex["Pattern"])


def test_the_guardrail_filters_content_topics_words_and_personal_data() -> None:
    props = RESOURCES["SearchGuardrail"]["Properties"]
    filters = {item["Type"] for item in props["ContentPolicyConfig"]["FiltersConfig"]}
    assert filters == {"HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK"}
    # Korean text needs the Standard tier (adapters/bedrock_guardrail.py), which needs a guardrail profile.
    assert props["ContentPolicyConfig"]["ContentFiltersTierConfig"] == {"TierName": "STANDARD"}
    assert props["TopicPolicyConfig"]["TopicsTierConfig"] == {"TierName": "STANDARD"}
    assert "GuardrailProfileArn" in props["CrossRegionConfig"]
    topics = {topic["Name"] for topic in props["TopicPolicyConfig"]["TopicsConfig"]}
    assert {"Medical diagnosis", "Weapons purchase"} <= topics
    assert props["WordPolicyConfig"]["ManagedWordListsConfig"] == [{"Type": "PROFANITY"}]
    pii = {
        item["Type"]: item["Action"]
        for item in props["SensitiveInformationPolicyConfig"]["PiiEntitiesConfig"]
    }
    assert pii == {"PHONE": "ANONYMIZE", "EMAIL": "ANONYMIZE", "CREDIT_DEBIT_CARD_NUMBER": "BLOCK"}
    version = RESOURCES["SearchGuardrailVersion"]
    assert version["Properties"]["GuardrailIdentifier"] == {"Fn::GetAtt": ["SearchGuardrail", "GuardrailId"]}
    assert version["Condition"] == RESOURCES["SearchGuardrail"]["Condition"] == "CreateGuardrail"


def test_the_guardrail_regexes_catch_korean_personal_data_but_not_barcodes() -> None:
    rrn = _guardrail_regex("korean-resident-registration-number")
    bare = _guardrail_regex("korean-resident-registration-number-unhyphenated")
    phone = _guardrail_regex("korean-phone-number")
    assert rrn.search("주민번호 900101-1234567") and bare.search("9001011234567")
    assert rrn.search("880101-1234567")  # hyphenated: a person born in 1988 is still blocked
    assert not bare.search("8801043014809")  # a GS1 Korea (880) barcode, which shoppers search for
    assert not rrn.search("야쿠르트 12개") and not bare.search("야쿠르트 12개")
    assert phone.search("010-1234-5678") and phone.search("02-123-4567") and phone.search("+82 10 1234 5678")


# ---------------------------------------------------------------- dashboard and alarms


def _emitted_metrics() -> tuple[set[str], tuple[str, ...]]:
    """Metric names the handlers emit, and the prefixes of the ones named with an f-string."""
    names: set[str] = set()
    prefixes: list[str] = []
    for path in (ROOT / "functions").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'(?:add_metric|single_metric)\(\s*name="(\w+)"', text))
        prefixes.extend(re.findall(r'add_metric\(\s*name=f"(\w+)\{', text))
        # A name held in a variable (prepare_context's outcome, the indexer's pairs): the file's CamelCase strings.
        if re.search(r"add_metric\(\s*name=[a-z_]+,", text):
            names.update(re.findall(r'"([A-Z][a-z]+(?:[A-Z][a-z]+)+)"', text))
    return names, tuple(prefixes)


def _dashboard_body() -> dict[str, Any]:
    template = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", template))
    known = set(TEMPLATE_DATA["Parameters"]) | set(RESOURCES) | {"AWS::Region"}
    assert {name.split(".")[0] for name in names} <= known
    numbers = {name: "50" for name in TEMPLATE_DATA["Parameters"] if name in names}
    text = re.sub(r"\$\{([^}]+)\}", lambda m: numbers.get(m.group(1), f"x-{m.group(1)}"), template)
    body: dict[str, Any] = json.loads(text)
    return body


def test_the_dashboard_is_valid_json_and_shows_only_metrics_the_code_emits() -> None:
    body = _dashboard_body()
    emitted, prefixes = _emitted_metrics()
    custom = set()
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], str) and metric[0] == "Cataloop":
                custom.add(metric[1])
                assert metric[2:4] == ["service", "cataloop"], metric
    assert custom and {name for name in custom if not name.startswith(prefixes or ("\0",))} <= emitted
    titles = " ".join(widget["properties"].get("title", "") for widget in body["widgets"])
    for topic in (
        "disagreement",
        "Supervisor",
        "Evaluator",
        "Tokens",
        "latency",
        "errors",
        "throttles",
        "iterator age",
        "executions failed",
    ):
        assert topic.lower() in titles.lower(), topic
    alarms = [w for w in body["widgets"] if w["type"] == "alarm"]
    for arn in alarms[0]["properties"]["alarms"]:
        assert RESOURCES[arn.removeprefix("x-").removesuffix(".Arn")]["Type"] == "AWS::CloudWatch::Alarm"


@pytest.mark.parametrize(
    "alarm, comparison, band",
    [
        ("DisagreementAboveBandAlarm", "GreaterThanThreshold", "DisagreementUpperBand"),
        ("DisagreementBelowBandAlarm", "LessThanThreshold", "DisagreementLowerBand"),
        ("EvaluatorRubberStampAlarm", "GreaterThanThreshold", "EvaluatorApprovalCeiling"),
    ],
)
def test_sweet_spot_alarms_watch_emitted_rates_against_their_bands(
    alarm: str, comparison: str, band: str
) -> None:
    props = RESOURCES[alarm]["Properties"]
    assert props["ComparisonOperator"] == comparison
    assert props["Threshold"] == {"Ref": band}
    assert props["TreatMissingData"] == "notBreaching"
    emitted, _ = _emitted_metrics()
    stats = [item["MetricStat"] for item in props["Metrics"] if "MetricStat" in item]
    assert {stat["Metric"]["MetricName"] for stat in stats} <= emitted
    assert {stat["Stat"] for stat in stats} == {"Average", "SampleCount"}
    (expression,) = [item for item in props["Metrics"] if item.get("ReturnData")]
    # Too few products in an hour: a value inside the band, never a false alarm.
    inside = "0" if comparison == "GreaterThanThreshold" else "100"
    assert expression["Expression"].endswith(f", {inside})")


def test_no_alarm_watches_the_same_metric_twice() -> None:
    seen: dict[str, str] = {}
    for name, spec in RESOURCES.items():
        if spec["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = spec["Properties"]
        if "MetricName" in props:
            key = json.dumps(
                [props["Namespace"], props["MetricName"], props.get("Dimensions")], sort_keys=True
            )
        else:
            key = json.dumps([props["Metrics"], props["ComparisonOperator"]], sort_keys=True)
        assert key not in seen, f"{name} duplicates {seen.get(key)}"
        seen[key] = name


# ---------------------------------------------------------------- search metrics and the query classifier


def test_the_dashboard_shows_the_search_metrics_the_search_function_emits() -> None:
    shown = {
        (metric[1], tuple(metric[4:6]) if isinstance(metric[4], str) else ())
        for widget in _dashboard_body()["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric[0], str) and metric[0] == "Cataloop"
    }
    for path in ("exact", "keyword", "hybrid"):
        assert ("SearchLatencyMs", ("path", path)) in shown, path
    search_metrics = {
        "SearchLatencyMs",
        "ZeroResultSearches",
        "Searches",
        "GuardrailActions",
        "ClassifierFallbacks",
    }
    assert search_metrics <= {name for name, _ in shown}
    api = (ROOT / "functions" / "api" / "app.py").read_text(encoding="utf-8")
    emitted, _ = _emitted_metrics()
    assert search_metrics <= emitted and all(f'name="{name}"' in api for name in search_metrics)


def test_the_search_function_may_invoke_its_classifier_model_and_read_its_examples() -> None:
    environment = _environment("ApiFunction")
    model = TEMPLATE_DATA["Parameters"]["ClassifierModelId"]["Default"]
    assert environment["CLASSIFIER_MODEL_ID"] == model and model
    assert environment["CLASSIFIER_EXAMPLES_BUCKET"] == FAKE_ATTRIBUTES[("SearchLogStore", None)]
    assert environment["CLASSIFIER_EXAMPLES_KEY"].startswith("classifier/")
    policies = _policies("ApiFunction")
    assert f"inference-profile/{model}" in policies
    assert f"arn:aws:s3:::{FAKE_ATTRIBUTES[('SearchLogStore', None)]}/classifier/*" in policies
    # Only the search log expires: the examples object shares the bucket.
    (expiring,) = [
        rule
        for rule in RESOURCES["SearchLogStore"]["Properties"]["LifecycleConfiguration"]["Rules"]
        if "ExpirationInDays" in rule
    ]
    assert expiring["Prefix"] == "search-log/"
    # The local cloud (ModelProvider=offline) classifies with the rules: no model permission.
    local = _policies("ApiFunction", **local_parameters(ROOT / ".cataloop"))
    assert "InvokeClassifierModel" not in local


@pytest.mark.parametrize("function", ["ApiFunction", "IndexerFunction", "PlaceLearningsFunction"])
def test_the_functions_that_analyse_text_read_the_approved_dictionaries(function: str) -> None:
    bucket = FAKE_ATTRIBUTES[("SearchLogStore", None)]
    assert _environment(function)["DICTIONARY_BUCKET"] == bucket
    assert f"arn:aws:s3:::{bucket}/dictionaries/*" in _policies(function)
    # An existing bucket given as SearchLogBucket holds them too.
    assert _environment(function, SearchLogBucket="shop-logs")["DICTIONARY_BUCKET"] == "shop-logs"
    assert "arn:aws:s3:::shop-logs/dictionaries/*" in _policies(function, SearchLogBucket="shop-logs")


def test_only_the_functions_that_analyse_text_may_read_the_dictionaries() -> None:
    readers = {
        name
        for name, resource in RESOURCES.items()
        if resource.get("Type") == "AWS::Serverless::Function" and "/dictionaries/*" in _policies(name)
    }
    assert readers == {"ApiFunction", "IndexerFunction", "PlaceLearningsFunction"}


def test_the_commenter_defaults_to_a_small_bedrock_model() -> None:
    model = TEMPLATE_DATA["Parameters"]["CommenterModelId"]["Default"]
    assert "nova-micro" in model or "haiku" in model
    assert f"inference-profile/{model}" in _policies("ApiFunction")
