"""`cataloop dictionary suggest` reads the search log from the stack's bucket: the local cloud's (on moto, kept
across restarts under `.cataloop/s3/`) by default, a deployed stack's with `--stack` (its output names it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from cataloop.adapters.search_log_s3 import SearchLogS3
from cataloop.domain.search.log import SearchLogRecord
from cataloop_local.cli.dictionary import stack_search_log_bucket
from cataloop_local.cli.main import main
from cataloop_local.emulator.cloud import LocalCloud
from tests.conftest import TEMPLATE, put_catalog_products

CREATED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _describe_stacks(outputs: list[dict[str, str]]) -> dict[str, object]:
    """A DescribeStacks response as CloudFormation returns it for a deployed stack."""
    return {
        "Stacks": [
            {
                "StackId": "arn:aws:cloudformation:ap-northeast-2:123456789012:stack/cataloop-dev/0a1b2c3d-4e5f",
                "StackName": "cataloop-dev",
                "Description": "Cataloop",
                "Parameters": [{"ParameterKey": "Stage", "ParameterValue": "dev"}],
                "CreationTime": CREATED,
                "LastUpdatedTime": CREATED,
                "RollbackConfiguration": {},
                "StackStatus": "UPDATE_COMPLETE",
                "DisableRollback": False,
                "NotificationARNs": [],
                "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
                "Outputs": outputs,
                "Tags": [],
                "EnableTerminationProtection": False,
                "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
            }
        ]
    }


def _cloudformation() -> tuple[object, Stubber]:
    client = boto3.client(
        "cloudformation",
        region_name="ap-northeast-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client, Stubber(client)


def test_the_deployed_stacks_bucket_comes_from_its_output() -> None:
    client, stubber = _cloudformation()
    outputs = [
        {"OutputKey": "ApiUrl", "OutputValue": "https://abc.execute-api.ap-northeast-2.amazonaws.com"},
        {
            "OutputKey": "SearchLogBucketName",
            "OutputValue": "cataloop-dev-searchlogstore-1a2b3c",
            "Description": "Bucket of the search log (search-log/dt=YYYY-MM-DD/).",
        },
    ]
    stubber.add_response("describe_stacks", _describe_stacks(outputs), {"StackName": "cataloop-dev"})
    with stubber:
        assert stack_search_log_bucket(client, "cataloop-dev") == "cataloop-dev-searchlogstore-1a2b3c"
    stubber.assert_no_pending_responses()


def test_a_stack_without_the_output_or_unknown_says_what_is_wrong() -> None:
    client, stubber = _cloudformation()
    stubber.add_response("describe_stacks", _describe_stacks([]), {"StackName": "cataloop-dev"})
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message="Stack with id nope does not exist",
        http_status_code=400,
        expected_params={"StackName": "nope"},
    )
    with stubber:
        with pytest.raises(SystemExit, match="no SearchLogBucketName output"):
            stack_search_log_bucket(client, "cataloop-dev")
        with pytest.raises(SystemExit, match="cannot describe stack nope: Stack with id nope does not exist"):
            stack_search_log_bucket(client, "nope")


def test_suggest_reads_the_local_clouds_bucket_after_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    cloud = LocalCloud(TEMPLATE, state_dir=state).start()
    try:
        put_catalog_products(cloud, ["km-0001", "km-0007"])  # 야쿠르트 in the catalog vocabulary
        bucket = cloud.output("SearchLogBucketName")
        assert bucket
        log = SearchLogS3(bucket, client=boto3.client("s3", region_name="us-east-1"))
        now = datetime.now(UTC)
        log.write(
            [
                SearchLogRecord(logged_at=now, query="야쿠르투", result_count=0),
                SearchLogRecord(logged_at=now, query="야쿠르트", result_count=5),
            ]
        )
    finally:
        cloud.stop(save=True)
    assert list((state / "s3" / "SearchLogStore" / "search-log").rglob("*.jsonl"))

    out = tmp_path / "suggest.json"
    assert main(["--state-dir", str(state), "dictionary", "suggest", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"2 logged searches examined from s3://{bucket} (local cloud)" in printed
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["searches_examined"] == 2 and payload["zero_result_searches"] == 1
    assert ["야쿠르투", "야쿠르트", 1] in payload["typos"]


# --- approve: a new version in the stack's bucket, never in the source tree -------------------------------


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()
    }


def test_approve_writes_to_the_local_clouds_bucket_and_nothing_under_layers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cataloop import wiring
    from cataloop.adapters.dictionary_files import SHIPPED

    shipped = _tree(SHIPPED)
    state = tmp_path / "state"
    proposals = tmp_path / "proposals.json"
    proposals.write_text(
        json.dumps({"typos": [["야쿠르투", "야쿠르트", 3]], "synonyms": [["도시락", "ㄷㅅㄹ", "initials"]]}),
        encoding="utf-8",
    )
    out = tmp_path / "approved.json"
    try:
        argv = ["--state-dir", str(state), "dictionary", "approve", str(proposals), "--by", "reviewer"]
        assert main([*argv, "--json", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "approved 2 entries as v0001 in s3://" in printed and "(local cloud)" in printed
        assert "cataloop reindex" in printed
        assert json.loads(out.read_text(encoding="utf-8")) == {"version": "v0001", "entries": 2}
        # The local cloud keeps the objects with its state (so `cataloop reset` forgets them).
        kept = state / "s3" / "SearchLogStore" / "dictionaries"
        assert (kept / "current.json").is_file() and (kept / "v0001" / "typos.txt").is_file()
        assert _tree(SHIPPED) == shipped and not (SHIPPED / "versions").exists()

        assert main([*argv]) == 2  # the same entries again: nothing new
        assert "already in the current dictionary" in capsys.readouterr().out

        # The stack's functions and the next reindex (the shared settings) read the approved version.
        cloud = LocalCloud(TEMPLATE, state_dir=state).start()
        try:
            config = cloud.settings()
            assert config.dictionary_bucket == cloud.output("SearchLogBucketName")
            dictionaries = wiring.dictionaries(config)
            assert dictionaries.version() == "v0001"
            assert dictionaries.typo_corrections()["야쿠르투"] == "야쿠르트"
            assert "도시락, ㄷㅅㄹ" in dictionaries.search_time_rules()
        finally:
            cloud.stop(save=False)
    finally:
        wiring.forget_dictionaries()


def test_approve_with_stack_writes_to_the_deployed_stacks_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto import mock_aws

    from cataloop_local.cli import dictionary

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    proposals = tmp_path / "proposals.json"
    proposals.write_text(json.dumps({"typos": [["야쿠르투", "야쿠르트", 3]]}), encoding="utf-8")
    seen: list[str] = []

    def bucket_of(cloudformation: object, stack_name: str) -> str:
        seen.append(stack_name)
        return "cataloop-prod-search-log"

    monkeypatch.setattr(dictionary, "stack_search_log_bucket", bucket_of)
    with mock_aws():
        s3 = boto3.client("s3", region_name="ap-northeast-2")
        s3.create_bucket(
            Bucket="cataloop-prod-search-log",
            CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"},
        )
        argv = ["--state-dir", str(tmp_path / "state"), "dictionary", "approve", str(proposals)]
        assert main([*argv, "--by", "r", "--stack", "cataloop-prod", "--region", "ap-northeast-2"]) == 0
        pointer = s3.get_object(Bucket="cataloop-prod-search-log", Key="dictionaries/current.json")
        assert json.loads(pointer["Body"].read())["version"] == "v0001"
    assert seen == ["cataloop-prod"]
    printed = capsys.readouterr().out
    assert "as v0001 in s3://cataloop-prod-search-log/dictionaries/ (cataloop-prod)" in printed
    assert "cataloop reindex --stack cataloop-prod" in printed
    assert not (tmp_path / "state").exists()  # no local cloud was started
