"""The local loop stays fast and bounded: the embedding cache survives `demo`/`reset`, the function registry
keeps a bounded window of invocations, and a save rewrites only the tables written since load or last save."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from cataloop_local.emulator import lambdas
from cataloop_local.emulator.cloud import LocalCloud
from cataloop_local.emulator.state import KEPT_BY_DEFAULT, LocalState
from tests.conftest import FIXTURES, TEMPLATE

SMALL_TEMPLATE = FIXTURES / "stream_template.yaml"
TABLE = "stream-test-items"


def _fill(state_dir: Path) -> None:
    for name in ("tables", "s3/SearchLogStore", "search", "logs", "embeddings", "definitions"):
        (state_dir / name).mkdir(parents=True, exist_ok=True)
        (state_dir / name / "file").write_text("x", encoding="utf-8")
    (state_dir / "serve-token").write_text("t", encoding="utf-8")


def test_clear_keeps_the_content_addressed_caches_unless_everything_is_asked_for(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    _fill(state_dir)
    LocalState(state_dir).clear()
    assert KEPT_BY_DEFAULT == ("embeddings", "definitions")
    assert sorted(entry.name for entry in state_dir.iterdir()) == [".lock", "definitions", "embeddings"]
    assert (state_dir / "embeddings" / "file").read_text(encoding="utf-8") == "x"

    _fill(state_dir)
    LocalState(state_dir).clear(everything=True)
    assert [entry.name for entry in state_dir.iterdir()] == [".lock"]


def test_reset_all_flag_reaches_clear(tmp_path: Path) -> None:
    from cataloop_local.cli.main import main

    state_dir = tmp_path / "state"
    _fill(state_dir)
    assert main(["--state-dir", str(state_dir), "reset"]) == 0
    assert (state_dir / "embeddings").is_dir() and not (state_dir / "tables").exists()
    assert main(["--state-dir", str(state_dir), "reset", "--all"]) == 0
    assert not (state_dir / "embeddings").exists()


def test_the_registry_keeps_only_the_last_invocations(tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text("def handle(event, context):\n    return event\n", encoding="utf-8")
    registry = lambdas.FunctionRegistry(keep_invocations=5)
    registry.register(
        lambdas.LocalFunction(
            "Echo", "echo", "arn:aws:lambda:us-east-1:1:function:echo", tmp_path, "handler.handle", {}
        )
    )
    for number in range(50):
        assert registry.invoke("Echo", {"n": number}) == {"n": number}
        assert len(registry.invocations) <= 5
    assert [invocation.event["n"] for invocation in registry.invocations] == [45, 46, 47, 48, 49]
    assert lambdas.FunctionRegistry().invocations.maxlen == lambdas.KEEP_INVOCATIONS


def _saved_mtime(state_dir: Path) -> int:
    return (state_dir / "tables" / "Items.json").stat().st_mtime_ns


def _items(state_dir: Path) -> list[str]:
    saved = json.loads((state_dir / "tables" / "Items.json").read_text(encoding="utf-8"))
    return sorted(item["id"]["S"] for item in saved)


@pytest.mark.parametrize("write", ["put", "update", "delete", "transact", "batch"])
def test_a_save_rewrites_only_the_tables_written_since_the_last_one(tmp_path: Path, write: str) -> None:
    state_dir = tmp_path / "state"
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir) as cloud:
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.put_item(TableName=TABLE, Item={"id": {"S": "a"}, "n": {"N": "1"}})
    assert _items(state_dir) == ["a"]

    # Restored and not written: the stop leaves the file alone.
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir) as cloud:
        saved = _saved_mtime(state_dir)
        cloud.save()
        assert _saved_mtime(state_dir) == saved
        client = boto3.client("dynamodb", region_name="us-east-1")
        if write == "put":
            client.put_item(TableName=TABLE, Item={"id": {"S": "b"}})
        elif write == "update":
            client.update_item(
                TableName=TABLE,
                Key={"id": {"S": "a"}},
                UpdateExpression="SET n = :n",
                ExpressionAttributeValues={":n": {"N": "2"}},
            )
        elif write == "delete":
            client.delete_item(TableName=TABLE, Key={"id": {"S": "a"}})
        elif write == "transact":
            client.transact_write_items(
                TransactItems=[{"Put": {"TableName": TABLE, "Item": {"id": {"S": "b"}}}}]
            )
        else:
            client.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": {"id": {"S": "b"}}}}]})
    expected = {"put": ["a", "b"], "update": ["a"], "delete": [], "transact": ["a", "b"], "batch": ["a", "b"]}
    assert _items(state_dir) == expected[write]
    if write == "update":
        saved_items = json.loads((state_dir / "tables" / "Items.json").read_text(encoding="utf-8"))
        assert saved_items[0]["n"] == {"N": "2"}


def test_a_table_file_removed_by_hand_is_written_again(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir):
        boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=TABLE, Item={"id": {"S": "a"}})
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir) as cloud:
        boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=TABLE)  # loads the items
        (state_dir / "tables" / "Items.json").unlink()
        cloud.save()
    assert _items(state_dir) == ["a"]


def test_a_restart_gives_back_every_item_and_streams_none_of_them(tmp_path: Path) -> None:
    """Saved items go straight into moto's table on restore (binary ones through the API): a scan after the
    restart returns what was written, and the restored items are not delivered to the stream's function."""
    state_dir = tmp_path / "state"
    items = [
        {"id": {"S": "plain"}, "n": {"N": "1.50"}, "tags": {"SS": ["a", "b"]}, "empty": {"S": ""}},
        {"id": {"S": "nested"}, "m": {"M": {"l": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": True}]}}}},
        {"id": {"S": "binary"}, "b": {"B": b"\x00\xff"}, "m": {"M": {"bs": {"BS": [b"q"]}}}},
    ]
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir) as cloud:
        client = boto3.client("dynamodb", region_name="us-east-1")
        for item in items:
            client.put_item(TableName=TABLE, Item=item)
        cloud.pump_streams()
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir) as cloud:
        client = boto3.client("dynamodb", region_name="us-east-1")
        scanned = client.scan(TableName=TABLE)["Items"]
        assert sorted(scanned, key=lambda item: item["id"]["S"]) == sorted(items, key=lambda i: i["id"]["S"])
        assert cloud.pump_streams() == 0
        # Written after the restore: delivered as usual.
        client.put_item(TableName=TABLE, Item={"id": {"S": "new"}})
        assert cloud.pump_streams() == 1


def test_functions_reach_moto_at_the_first_lambda_call(tmp_path: Path) -> None:
    """The handlers are registered at start; moto's record of each function is created on the first Lambda
    API call (whoever makes it), and an invoke through moto still runs the handler in-process."""
    from moto.awslambda.models import lambda_backends

    with LocalCloud(SMALL_TEMPLATE, state_dir=tmp_path / "state") as cloud:
        assert [function.logical_id for function in cloud.functions.functions] == ["Recorder"]
        assert list(lambda_backends["123456789012"]["us-east-1"].list_functions()) == []
        client = boto3.client("lambda", region_name="us-east-1")
        names = [function["FunctionName"] for function in client.list_functions()["Functions"]]
        assert names == [cloud.physical_name("Recorder")]


def test_an_invocation_creates_only_its_functions_record_and_any_other_call_creates_them_all(
    cloud: LocalCloud,
) -> None:
    """An Invoke (by name or ARN, as Step Functions' tasks call) needs its own function's record only; a
    listing sees every function of the template."""
    import json

    from moto.awslambda.models import lambda_backends

    backend = lambda_backends["123456789012"]["us-east-1"]
    client = boto3.client("lambda", region_name="us-east-1")
    pending_age = cloud.functions.get(cloud.physical_name("PendingAgeFunction"))
    client.invoke(FunctionName=pending_age.arn, Payload=json.dumps({}).encode())
    assert [function.function_name for function in backend.list_functions()] == [pending_age.name]
    listed = sorted(function["FunctionName"] for function in client.list_functions()["Functions"])
    assert listed == sorted(function.name for function in cloud.functions.functions)
    assert len(listed) > 1


def test_state_machines_are_created_at_the_first_step_functions_call(cloud: LocalCloud) -> None:
    """The template's state machines are known (ARNs for rules and functions) but created in moto, with its
    interpreter, only when something first calls Step Functions; then every one is there, at its ARN."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends  # the backend executions use

    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    assert set(cloud.state_machine_arns) == {"EnrichProductStateMachine", "LearnFromFeedbackStateMachine"}
    assert backend.state_machines == []
    listed = boto3.client("stepfunctions", region_name="us-east-1").list_state_machines()["stateMachines"]
    assert sorted(machine["stateMachineArn"] for machine in listed) == sorted(
        cloud.state_machine_arns.values()
    )
    assert len(backend.state_machines) == 2


def test_a_call_naming_one_state_machine_creates_only_that_one(cloud: LocalCloud) -> None:
    """A request that names a state machine (by its ARN or one of its executions') needs that machine only
    (`events put` of a product creates the enrichment's, not the feedback's); a listing creates them all."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    client = boto3.client("stepfunctions", region_name="us-east-1")
    enrich = cloud.state_machine_arns["EnrichProductStateMachine"]
    missing = enrich.replace(":stateMachine:", ":execution:") + ":no-such-execution"
    with pytest.raises(ClientError):
        client.describe_execution(executionArn=missing)
    assert [machine.arn for machine in backend.state_machines] == [enrich]
    assert client.describe_state_machine(stateMachineArn=enrich)["stateMachineArn"] == enrich
    assert len(backend.state_machines) == 1
    client.list_state_machines()
    assert sorted(machine.arn for machine in backend.state_machines) == sorted(
        cloud.state_machine_arns.values()
    )


def test_tables_are_created_and_restored_at_the_first_dynamodb_call_and_not_saved_before(
    tmp_path: Path,
) -> None:
    """A command that reads no table (a search) never creates the tables nor loads the saved items, its
    stream pump finds nothing, and its stop leaves the files as they were; the first DynamoDB call of any
    client creates them all and loads the items first. The stream's ARN, given to the stream's function at
    start, is the one the table gets."""
    from moto.dynamodb.models import dynamodb_backends

    state_dir = tmp_path / "state"
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir):
        boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=TABLE, Item={"id": {"S": "a"}})
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir) as cloud:
        backend = dynamodb_backends["123456789012"]["us-east-1"]
        assert TABLE not in backend.tables
        assert cloud.pump_streams() == 0 and TABLE not in backend.tables
        saved = _saved_mtime(state_dir)
        cloud.save()
        assert _saved_mtime(state_dir) == saved and _items(state_dir) == ["a"]
        client = boto3.client("dynamodb", region_name="us-east-1")
        got = client.get_item(TableName=TABLE, Key={"id": {"S": "a"}})
        table = backend.get_table(TABLE)
        assert got["Item"] == {"id": {"S": "a"}} and len(table.all_items()) == 1
        described = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        assert [mapping.stream_arn for mapping in cloud.streams.mappings] == [described]
        cloud.save()
        assert _saved_mtime(state_dir) == saved  # loaded, not written: the file stays
    assert _items(state_dir) == ["a"]


def test_queues_reach_moto_at_the_first_sqs_call(tmp_path: Path) -> None:
    from moto.sqs.models import sqs_backends

    with LocalCloud(SMALL_TEMPLATE, state_dir=tmp_path / "state") as cloud:
        assert sqs_backends["123456789012"]["us-east-1"].queues == {}
        urls = boto3.client("sqs", region_name="us-east-1").list_queues()["QueueUrls"]
        assert [url.rsplit("/", 1)[1] for url in urls] == [cloud.physical_name("Failures")]


def test_buckets_and_their_saved_objects_come_back_at_the_first_s3_call(tmp_path: Path) -> None:
    """A command that never calls S3 creates no bucket and leaves the saved objects as they are; the first S3
    call creates the buckets and puts their saved objects back."""
    from moto.s3.models import s3_backends

    state_dir = tmp_path / "state"
    with LocalCloud(TEMPLATE, state_dir=state_dir) as cloud:
        bucket = cloud.bucket_names()["SearchLogStore"]
        boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key="a/b.txt", Body=b"kept")
    saved = state_dir / "s3" / "SearchLogStore" / "a" / "b.txt"
    assert saved.read_bytes() == b"kept"
    with LocalCloud(TEMPLATE, state_dir=state_dir) as cloud:
        assert s3_backends["123456789012"]["aws"].buckets == {}
        cloud.save()
        assert saved.read_bytes() == b"kept"
        body = boto3.client("s3", region_name="us-east-1").get_object(Bucket=bucket, Key="a/b.txt")["Body"]
        assert body.read() == b"kept"
        assert bucket in s3_backends["123456789012"]["aws"].buckets
    assert saved.read_bytes() == b"kept"


def test_saved_objects_come_back_a_group_at_a_time_and_a_save_keeps_the_groups_never_read(
    tmp_path: Path,
) -> None:
    """Reading one object (the dictionaries' pointer) puts back its group of keys only, not every search
    log; a listing under a prefix puts back that prefix's group; the save after that writes what changed and
    keeps the files of the groups no request reached; a listing of the whole bucket puts back everything."""
    from moto.s3.models import s3_backends

    state_dir = tmp_path / "state"
    with LocalCloud(TEMPLATE, state_dir=state_dir) as cloud:
        s3 = boto3.client("s3", region_name="us-east-1")
        bucket = cloud.bucket_names()["SearchLogStore"]
        for key in ("dictionaries/current.json", "search-log/dt=1/a.jsonl", "search-log/dt=2/b.jsonl", "top"):
            s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    directory = state_dir / "s3" / "SearchLogStore"

    def in_moto() -> list[str]:
        return sorted(s3_backends["123456789012"]["aws"].buckets[bucket].keys)

    with LocalCloud(TEMPLATE, state_dir=state_dir):
        assert (
            s3.get_object(Bucket=bucket, Key="dictionaries/current.json")["Body"].read()
            == b"dictionaries/current.json"
        )
        assert in_moto() == ["dictionaries/current.json"]
        s3.put_object(Bucket=bucket, Key="dictionaries/v0002/user.txt", Body=b"new")
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="search-log/dt=2/")["Contents"]
        assert [item["Key"] for item in listed] == ["search-log/dt=2/b.jsonl"]
        assert "top" not in in_moto() and "search-log/dt=1/a.jsonl" in in_moto()
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    assert sorted(index) == [
        "dictionaries/current.json",
        "dictionaries/v0002/user.txt",
        "search-log/dt=1/a.jsonl",
        "search-log/dt=2/b.jsonl",
        "top",
    ]
    assert (directory / "top").read_bytes() == b"top"
    with LocalCloud(TEMPLATE, state_dir=state_dir):
        s3 = boto3.client("s3", region_name="us-east-1")
        everything = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert everything == sorted(index) == in_moto()
        s3.delete_object(Bucket=bucket, Key="top")
    assert not (directory / "top").exists()
    assert "top" not in json.loads((directory / "index.json").read_text(encoding="utf-8"))


def test_an_s3_request_names_the_group_of_saved_objects_it_needs() -> None:
    from types import SimpleNamespace
    from urllib.parse import urlsplit

    from cataloop_local.emulator.moto_patches import _named_s3_group

    def named(url: str, **headers: str) -> str | None:
        return _named_s3_group(urlsplit(url), SimpleNamespace(get=headers.get))

    assert named("https://logs.s3.amazonaws.com/dictionaries/current.json") == "logs/dictionaries"
    assert named("https://s3.amazonaws.com/logs/search-log/dt%3D1/a.jsonl") == "logs/search-log"
    assert named("https://logs.s3.us-east-1.amazonaws.com/top") == "logs/top"
    assert (
        named("https://logs.s3.amazonaws.com/?list-type=2&prefix=search-log%2Fdt%3D2%2F") == "logs/search-log"
    )
    assert named("https://logs.s3.amazonaws.com/?list-type=2&prefix=search") is None  # may span groups
    assert named("https://logs.s3.amazonaws.com/?list-type=2") is None
    assert named("https://s3.amazonaws.com/") is None  # list_buckets
    assert named("https://logs.s3.amazonaws.com/b/c", **{"x-amz-copy-source": "logs/a/c"}) is None


def test_a_stream_read_first_creates_the_tables_it_reads(tmp_path: Path) -> None:
    from moto.dynamodb.models import dynamodb_backends

    with LocalCloud(SMALL_TEMPLATE, state_dir=tmp_path / "state") as cloud:
        streams = boto3.client("dynamodbstreams", region_name="us-east-1").list_streams()["Streams"]
        assert TABLE in dynamodb_backends["123456789012"]["us-east-1"].tables
        assert [stream["StreamArn"] for stream in streams] == [m.stream_arn for m in cloud.streams.mappings]


def test_a_table_file_has_one_item_per_line_and_unread_items_are_written_back_as_they_were(
    tmp_path: Path,
) -> None:
    """The file stays one JSON array (any JSON reader takes it), one item per line: a save after a restore
    writes the lines of the items nothing read verbatim, and the others from the table. A file in the old
    one-line form, or edited by hand, is read as any JSON array."""
    state_dir = tmp_path / "state"
    path = state_dir / "tables" / "Items.json"
    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir):
        client = boto3.client("dynamodb", region_name="us-east-1")
        for key in ("a", "b", "c"):
            client.put_item(TableName=TABLE, Item={"id": {"S": key}, "text": {"S": f"{key} 한국어"}})
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 5 and "한국어" in text
    assert json.loads(text) == [json.loads(line.removesuffix(",")) for line in lines[1:-1]]
    # A hand-spaced line: kept as it is while nothing reads its item.
    spaced = lines[1].replace('{"id"', '{ "id"')
    path.write_text("\n".join([lines[0], spaced, *lines[2:]]) + "\n", encoding="utf-8")

    with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir):
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.update_item(
            TableName=TABLE,
            Key={"id": {"S": "c"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "1"}},
        )
    after = path.read_text(encoding="utf-8").splitlines()
    assert after[1] == spaced and after[2] == lines[2]  # a and b, never read
    assert json.loads(after[3]) == {"id": {"S": "c"}, "text": {"S": "c 한국어"}, "n": {"N": "1"}}

    # The one-line form of earlier saves, and an indented file, restore all the same.
    for old in (
        json.dumps(json.loads(path.read_text(encoding="utf-8"))),
        json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=2),
    ):
        path.write_text(old, encoding="utf-8")
        with LocalCloud(SMALL_TEMPLATE, state_dir=state_dir):
            scanned = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=TABLE)["Items"]
            assert sorted(item["id"]["S"] for item in scanned) == ["a", "b", "c"]
