"""The local cloud creates the template's S3 buckets and secrets on moto, honours resource Conditions, and
skips knowingly (with what runs in its place) every type it does not create."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from cataloop_local.emulator import moto_patches
from cataloop_local.emulator.cfn import TemplateError, load_template
from cataloop_local.emulator.cloud import LocalCloud
from cataloop_local.emulator.resources import EMULATED, LOCAL_STAND_INS, NOT_EMULATED
from tests.conftest import TEMPLATE

MINI_TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev"},
        "Key": {"Type": "String", "Default": ""},
        "Bucket": {"Type": "String", "Default": ""},
    },
    "Conditions": {
        "CreateKey": {"Fn::Equals": [{"Ref": "Key"}, ""]},
        "CreateBucket": {"Fn::And": [{"Fn::Equals": [{"Ref": "Bucket"}, ""]}, {"Condition": "CreateKey"}]},
    },
    "Resources": {
        "Logs": {
            "Type": "AWS::S3::Bucket",
            "Condition": "CreateBucket",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
            },
        },
        "LogsPolicy": {"Type": "AWS::S3::BucketPolicy", "Condition": "CreateBucket", "Properties": {}},
        "SigningKey": {
            "Type": "AWS::SecretsManager::Secret",
            "Condition": "CreateKey",
            "Properties": {
                "Description": {"Fn::Sub": "key of ${Stage}"},
                "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True},
            },
        },
        "Named": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {"Name": "cataloop/named", "SecretString": {"Fn::Sub": "for-${Stage}"}},
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "q-${Logs}"}}},
        "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}},
    },
}


def _write(tmp_path: Path, template: dict[str, Any]) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template), encoding="utf-8")
    return path


@pytest.fixture
def mini(tmp_path: Path) -> Iterator[LocalCloud]:
    cloud = LocalCloud(_write(tmp_path, MINI_TEMPLATE), state_dir=tmp_path / "state")
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop(save=False)


def test_every_type_of_the_template_is_created_or_knowingly_skipped() -> None:
    declared = {spec["Type"] for spec in load_template(TEMPLATE)["Resources"].values()}
    assert declared <= EMULATED | NOT_EMULATED
    assert set(LOCAL_STAND_INS) == NOT_EMULATED and not EMULATED & NOT_EMULATED
    for kind in (
        "AWS::OpenSearchService::Domain",
        "AWS::Bedrock::Guardrail",
        "AWS::Bedrock::GuardrailVersion",
        "AWS::CloudWatch::Dashboard",
    ):
        assert kind in declared and LOCAL_STAND_INS[kind]
    assert "embedded" in LOCAL_STAND_INS["AWS::OpenSearchService::Domain"]
    assert "offline guardrail" in LOCAL_STAND_INS["AWS::Bedrock::Guardrail"]


def test_buckets_and_secrets_are_created_on_moto_and_resolve(mini: LocalCloud) -> None:
    # The secret's ARN is known before the secret exists (it is created at the first Secrets Manager call).
    arn = mini._resolver.resolve({"Ref": "SigningKey"})
    assert re.fullmatch(
        r"arn:aws:secretsmanager:us-east-1:123456789012:secret:cataloop-local-SigningKey-[A-Za-z]{6}", arn
    )
    assert moto_patches.pending("secretsmanager")
    s3 = boto3.client("s3", region_name="us-east-1")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["cataloop-local-logs"]
    assert s3.get_bucket_versioning(Bucket="cataloop-local-logs")["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket="cataloop-local-logs")["ServerSideEncryptionConfiguration"][
        "Rules"
    ][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket="cataloop-local-logs")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    # Ref of a bucket is its name, here inside another resource's property.
    assert mini.queue_url("Queue").endswith("/q-cataloop-local-logs")

    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    generated = secrets.get_secret_value(SecretId="cataloop-local-SigningKey")
    assert len(generated["SecretString"]) == 48 and generated["SecretString"].isalnum()
    assert secrets.describe_secret(SecretId="cataloop-local-SigningKey")["Description"] == "key of dev"
    assert secrets.get_secret_value(SecretId="cataloop/named")["SecretString"] == "for-dev"
    assert mini._resolver.resolve({"Ref": "SigningKey"}) == generated["ARN"] == arn
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == generated["SecretString"]


def test_a_generated_secret_survives_a_restart_like_the_stack_secret_survives_a_deploy(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, MINI_TEMPLATE)
    values = []
    for _ in range(2):
        cloud = LocalCloud(path, state_dir=tmp_path / "state").start()
        try:
            client = boto3.client("secretsmanager", region_name="us-east-1")
            values.append(client.get_secret_value(SecretId="cataloop-local-SigningKey")["SecretString"])
        finally:
            cloud.stop(save=False)
    assert values[0] == values[1]
    kept = tmp_path / "state" / "secrets" / "SigningKey"
    assert kept.stat().st_mode & 0o777 == 0o600


def test_resources_whose_condition_is_false_are_not_created(tmp_path: Path) -> None:
    template = {**MINI_TEMPLATE, "Resources": dict(MINI_TEMPLATE["Resources"])}
    del template["Resources"]["Queue"]  # it names the bucket
    cloud = LocalCloud(_write(tmp_path, template), parameter_overrides={"Key": "given"}).start()
    try:
        assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
        names = [
            s["Name"]
            for s in boto3.client("secretsmanager", region_name="us-east-1").list_secrets()["SecretList"]
        ]
        assert names == ["cataloop/named"]
        with pytest.raises(TemplateError, match="SigningKey"):
            cloud._resolver.resolve({"Ref": "SigningKey"})
    finally:
        cloud.stop(save=False)


def test_an_unknown_resource_type_stops_the_local_cloud(tmp_path: Path) -> None:
    template = {**MINI_TEMPLATE, "Resources": {"Thing": {"Type": "AWS::Made::Up", "Condition": "CreateKey"}}}
    cloud = LocalCloud(_write(tmp_path, template))
    try:
        with pytest.raises(TemplateError, match="AWS::Made::Up"):
            cloud.start()
    finally:
        cloud.stop(save=False)  # start() leaves moto running when it fails


def test_the_search_function_reads_its_comment_key_from_the_local_secret(cloud: LocalCloud) -> None:
    """The real template: the stack's generated secret on moto, read through Powertools as in AWS."""
    from cataloop import wiring
    from cataloop.settings import Settings
    from cataloop_local.emulator.lambdas import applied_environment

    environment = cloud.functions.get("ApiFunction").environment
    arn = environment["COMMENT_TOKEN_SECRET_ARN"]
    stored = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=arn)
    with applied_environment(environment):
        config = Settings.from_environment()
    assert wiring.comment_secret_source(config) == "secrets_manager"
    assert wiring.comment_token_secret(config) == stored["SecretString"].encode("utf-8")
    # The search log goes to the stack's bucket on moto, through SearchLogS3 as in AWS.
    (bucket,) = boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"]
    assert environment["SEARCH_LOG_BUCKET"] == bucket["Name"] == cloud.bucket_names()["SearchLogStore"]
    assert cloud.output("SearchLogBucketName") == bucket["Name"]
    with applied_environment(environment):
        assert wiring.describe_adapters(Settings.from_environment())["search_log"] == "SearchLogS3"


def test_the_template_bucket_is_not_created_when_an_existing_bucket_is_given(tmp_path: Path) -> None:
    cloud = LocalCloud(TEMPLATE, parameter_overrides={"SearchLogBucket": "given-logs"}).start()
    try:
        assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
        assert cloud.functions.get("ApiFunction").environment["SEARCH_LOG_BUCKET"] == "given-logs"
        assert cloud.bucket_names() == {} and cloud.output("SearchLogBucketName") == "given-logs"
    finally:
        cloud.stop(save=False)


def test_bucket_objects_survive_a_restart(tmp_path: Path) -> None:
    path = _write(tmp_path, MINI_TEMPLATE)
    state = tmp_path / "state"
    log_key = "search-log/dt=2026-11-22/a.jsonl"
    keys = {
        log_key: ("application/x-ndjson; charset=utf-8", '{"q":"야쿠르트"}\n'.encode()),
        "classifier/examples.json": ("application/json", b"{}"),
        "odd//../key/": ("binary/octet-stream", b"\x00\x01"),  # no safe file name: kept by its hash
        "classifier": ("text/plain", b"a key that is also a folder"),
    }
    cloud = LocalCloud(path, state_dir=state).start()
    try:
        s3 = boto3.client("s3", region_name="us-east-1")
        for key, (content_type, body) in keys.items():
            s3.put_object(Bucket="cataloop-local-logs", Key=key, Body=body, ContentType=content_type)
        s3.put_object(Bucket="cataloop-local-logs", Key="gone.txt", Body=b"x")
        cloud.save()
        s3.delete_object(Bucket="cataloop-local-logs", Key="gone.txt")
    finally:
        cloud.stop(save=True)
    saved = state / "s3" / "Logs"
    assert (saved / log_key).read_bytes() == keys[log_key][1]
    assert not (saved / "gone.txt").exists()

    for _ in range(2):  # and again: an unchanged object is not rewritten, nothing is lost
        cloud = LocalCloud(path, state_dir=state).start()
        try:
            s3 = boto3.client("s3", region_name="us-east-1")
            listed = s3.list_objects_v2(Bucket="cataloop-local-logs").get("Contents", [])
            assert sorted(item["Key"] for item in listed) == sorted(keys)
            for key, (content_type, body) in keys.items():
                stored = s3.get_object(Bucket="cataloop-local-logs", Key=key)
                assert stored["Body"].read() == body and stored["ContentType"] == content_type
        finally:
            cloud.stop(save=True)


def test_a_cloud_stopped_without_saving_keeps_the_objects_saved_before(tmp_path: Path) -> None:
    path = _write(tmp_path, MINI_TEMPLATE)
    state = tmp_path / "state"
    bucket = "cataloop-local-logs"
    with LocalCloud(path, state_dir=state):
        boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key="k", Body=b"1")
    cloud = LocalCloud(path, state_dir=state).start()
    try:
        boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key="k2", Body=b"2")
    finally:
        cloud.stop(save=False)
    with LocalCloud(path, state_dir=state):
        listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=bucket)
        assert [item["Key"] for item in listed["Contents"]] == ["k"]
