"""Each moto quirk the local cloud corrects, handled once and checked here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cataloop_local.emulator.eventbus import as_delivered
from cataloop_local.emulator.http_api import Route, build_http_event, http_response
from cataloop_local.emulator.streams import to_lambda_record


def test_stream_records_get_an_event_source_arn_and_epoch_creation_time() -> None:
    raw = {
        "eventID": "e1",
        "eventName": "MODIFY",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
            "SequenceNumber": "11",
            "Keys": {"id": {"S": "a"}},
            "NewImage": {"id": {"S": "a"}, "blob": {"B": b"\x00\x01"}},
        },
    }
    record = to_lambda_record(raw, "arn:aws:dynamodb:us-east-1:1:table/t/stream/x")
    assert record["eventSourceARN"] == "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1795338000
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}
    assert record["eventVersion"] == "1.1" and record["eventSource"] == "aws:dynamodb"


def test_eventbridge_envelope_time_is_iso_and_moto_fields_are_dropped() -> None:
    delivered = as_delivered({"id": "1", "time": 1795338000.25, "ingestion-time": 1795338000.3, "detail": {}})
    assert delivered == {"id": "1", "time": "2026-11-22T09:00:00Z", "detail": {}}


def test_http_api_event_has_the_payload_2_shape() -> None:
    route = Route("GET", "/items/{item_id}", "Fn")
    params = route.match("GET", "/items/42")
    assert params == {"item_id": "42"}
    event = build_http_event(
        route, "GET", "/items/42", "q=a&q=b&size=3", {"Host": "x", "User-Agent": "t"}, b"", params
    )
    assert event["version"] == "2.0" and event["routeKey"] == "GET /items/{item_id}"
    assert event["queryStringParameters"] == {"q": "a,b", "size": "3"}
    assert event["pathParameters"] == {"item_id": "42"}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert "body" not in event
    assert route.match("POST", "/items/42") is None


def test_http_results_follow_api_gateway_rules() -> None:
    assert http_response({"statusCode": 201, "headers": {"a": "b"}, "body": "x"}) == (201, {"a": "b"}, b"x")
    status, headers, body = http_response({"hello": "world"})
    assert status == 200 and headers["content-type"] == "application/json" and body == b'{"hello": "world"}'


def test_a_cancelled_transaction_restores_items_and_emits_no_stream_records() -> None:
    import boto3
    import pytest
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from cataloop_local.emulator import moto_patches

    moto_patches.light_transaction_backups()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _hash_table(
            client, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        )
        client.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
        with pytest.raises(ClientError, match="TransactionCanceled"):
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "v": {"N": "2"}}}},
                    {
                        "Put": {
                            "TableName": "t",
                            "Item": {"pk": {"S": "b"}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
        assert client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["v"] == {"N": "1"}
        assert "Item" not in client.get_item(TableName="t", Key={"pk": {"S": "b"}})
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends["123456789012"]["us-east-1"].tables["t"].stream_shard
        assert [r.record["eventName"] for r in shard.items] == ["INSERT"]

        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "v": {"N": "3"}}}},
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}}}},
            ]
        )
        assert [r.record["eventName"] for r in shard.items] == ["INSERT", "MODIFY", "INSERT"]


def test_trimming_consumed_stream_records_keeps_sequence_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from cataloop_local.emulator import moto_patches

    # DynamoDB Streams calls only reach moto with account-id endpoints disabled (ARCHITECTURE §4).
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="s",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        for key in "abc":
            client.put_item(TableName="s", Item={"pk": {"S": key}})
        streams = boto3.client("dynamodbstreams", region_name="us-east-1")
        arn = client.describe_table(TableName="s")["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        first = streams.get_records(ShardIterator=iterator, Limit=2)
        consumed = int(first["Records"][-1]["dynamodb"]["SequenceNumber"])

        assert moto_patches.trim_stream("s", consumed) == 2
        rest = streams.get_records(ShardIterator=first["NextShardIterator"], Limit=10)["Records"]
        assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in rest] == ["c"]
        assert int(rest[0]["dynamodb"]["SequenceNumber"]) == consumed + 1


def test_fast_item_responses_write_the_body_motos_serializer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every DynamoDB item operation, with binary values, empty results, pages, ReturnValues, capacities and
    unprocessed keys: the fast body parses to the same JSON as moto's generic serializer's."""
    import json

    import boto3
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoResult

    from cataloop_local.emulator import moto_patches

    moto_patches.fast_item_responses()
    fast, slow = DynamoResult.execute_result, moto_patches.originals["item_responses"]
    compared: list[str] = []

    def both(self: DynamoResult, context: object) -> object:
        fast_response, slow_response = fast(self, context), slow(self, context)
        assert fast_response[0] == slow_response[0]
        assert fast_response[1]["Content-Type"] == slow_response[1]["Content-Type"]
        assert json.loads(fast_response[2]) == json.loads(slow_response[2])
        compared.append(context.operation_model.name)  # type: ignore[attr-defined]
        return fast_response

    monkeypatch.setattr(DynamoResult, "execute_result", both)

    # And the client's side: each answer parses as botocore's parser parses it.
    from botocore.parsers import JSONParser

    moto_patches.fast_item_parsing()
    fast_parse, slow_parse = JSONParser._handle_json_body, moto_patches.originals["item_parsing"]
    parsed: list[str] = []

    def parse_both(self: JSONParser, raw_body: bytes, shape: object) -> object:
        result = fast_parse(self, raw_body, shape)
        assert result == slow_parse(self, raw_body, shape)
        parsed.append(shape.name)  # type: ignore[attr-defined]
        return result

    monkeypatch.setattr(JSONParser, "_handle_json_body", parse_both)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {
            "pk": {"S": "a"},
            "sk": {"N": "1"},
            "bin": {"B": b"\x00\xff"},
            "blobs": {"BS": [b"x", b"y"]},
            "nested": {"M": {"b": {"B": b"z"}, "l": {"L": [{"S": "s"}, {"NULL": True}, {"BOOL": False}]}}},
            "numbers": {"NS": ["1", "2.5"]},
            "strings": {"SS": ["p", "q"]},
            "empty": {"S": ""},
        }
        client.put_item(TableName="t", Item=item, ReturnConsumedCapacity="TOTAL")
        client.put_item(TableName="t", Item={**item, "sk": {"N": "2"}}, ReturnValues="ALL_OLD")
        client.put_item(TableName="t", Item={**item, "sk": {"N": "2"}}, ReturnValues="ALL_OLD")
        assert client.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"] == item
        assert "Item" not in client.get_item(TableName="t", Key={"pk": {"S": "none"}, "sk": {"N": "1"}})
        client.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
            UpdateExpression="SET c = :c",
            ExpressionAttributeValues={":c": {"N": "3"}},
            ReturnValues="ALL_NEW",
        )
        page = client.query(
            TableName="t",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "a"}},
            Limit=1,
            ReturnConsumedCapacity="INDEXES",
        )
        assert page["LastEvaluatedKey"] == {"pk": {"S": "a"}, "sk": {"N": "1"}}
        client.query(
            TableName="t",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "none"}},
            Select="COUNT",
        )
        client.scan(TableName="t", ProjectionExpression="pk, bin")
        client.batch_get_item(
            RequestItems={"t": {"Keys": [{"pk": {"S": "a"}, "sk": {"N": n}} for n in ("1", "2", "9")]}}
        )
        client.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {**item, "sk": {"N": "3"}}}}]})
        client.transact_get_items(
            TransactItems=[{"Get": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"N": "3"}}}}]
        )
        client.transact_write_items(
            TransactItems=[{"Delete": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"N": "3"}}}}]
        )
        client.delete_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"N": "2"}}, ReturnValues="ALL_OLD")
        # Without binary values (the short way): every reading operation again.
        plain = {key: value for key, value in item.items() if key not in ("bin", "blobs", "nested")}
        plain_key = {"pk": {"S": "p"}, "sk": {"N": "7"}}
        client.put_item(TableName="t", Item={**plain, **plain_key}, ReturnConsumedCapacity="TOTAL")
        assert client.get_item(TableName="t", Key=plain_key)["Item"] == {**plain, **plain_key}
        client.query(
            TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}
        )
        client.scan(TableName="t", ProjectionExpression="pk, strings", ReturnConsumedCapacity="TOTAL")
        client.batch_get_item(RequestItems={"t": {"Keys": [plain_key]}})
        client.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": plain_key}}])
        client.update_item(
            TableName="t",
            Key=plain_key,
            UpdateExpression="SET c = :c",
            ExpressionAttributeValues={":c": {"N": "1"}},
        )
        client.delete_item(TableName="t", Key=plain_key, ReturnValues="ALL_OLD")
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(TableName="t", Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert moto_patches.ITEM_OPERATIONS - set(compared) == set()
    assert moto_patches.ITEM_OUTPUT_SHAPES - set(parsed) == set()


def test_fast_item_sizes_are_motos_sizes() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import dynamo_to_dict

    from cataloop_local.emulator import moto_patches

    moto_patches.fast_item_sizes()
    fast, slow = DynamoType.size, moto_patches.originals["item_sizes"]
    leaves = [
        {"S": "한국어 text"},
        {"N": "-12.500"},
        {"B": "AAE="},
        {"BOOL": True},
        {"NULL": True},
        {"SS": ["a", "bé"]},
        {"NS": ["1", "2.25"]},
        {"BS": ["eno="]},
    ]
    deep: dict[str, object] = {"S": "leaf"}
    for depth in range(6):
        deep = {"M": {f"k{depth}": deep, "list": {"L": [*leaves, deep]}, "n": {"N": str(depth)}}}
    for value in [*leaves, {"L": leaves}, {"M": {"a": {"M": {}}, "b": {"L": []}}}, deep]:
        typed = DynamoType(value)
        assert fast(typed) == slow(typed), value
        # What a restored item answers from its saved shape, without moto's types:
        assert moto_patches.shape_size(value) == slow(typed), value
        built = moto_patches.typed(value)
        assert (type(built), built.type, built) == (DynamoType, typed.type, typed), value
        assert dynamo_to_dict(built) == dynamo_to_dict(typed), value
    for kind in ("SS", "NS", "BS"):
        shape = next(leaf for leaf in leaves if kind in leaf)
        assert moto_patches.typed(shape).value is not shape[kind]  # an in-place add leaves the shape alone


def test_fast_stream_records_write_the_body_motos_serializer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """GetRecords of inserts, updates and removes with binary, nested and set values: the fast body parses to
    the same JSON as moto's serializer's, and the client reads the same records."""
    import json

    import boto3
    from moto import mock_aws
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    from cataloop_local.emulator import moto_patches

    moto_patches.fast_stream_records()
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # as the local cloud sets it
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        stream_arn = client.create_table(
            TableName="s",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        item = {
            "pk": {"S": "a"},
            "bin": {"B": b"\\x00\\xff"},
            "m": {"M": {"l": {"L": [{"N": "1.5"}, {"SS": ["x"]}, {"NULL": True}]}, "b": {"B": b"z"}}},
        }
        client.put_item(TableName="s", Item=item)
        client.put_item(TableName="s", Item={**item, "n": {"N": "2"}})
        client.delete_item(TableName="s", Key={"pk": {"S": "a"}})
        streams = boto3.client("dynamodbstreams", region_name="us-east-1")
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

        def iterator() -> str:
            return streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]

        fast = streams.get_records(ShardIterator=iterator())["Records"]
        patched = DynamoDBStreamsHandler.get_records
        DynamoDBStreamsHandler.get_records = moto_patches.originals["stream_records"]  # type: ignore[method-assign]
        try:
            slow = streams.get_records(ShardIterator=iterator())["Records"]
        finally:
            DynamoDBStreamsHandler.get_records = patched  # type: ignore[method-assign]
    assert [record["eventName"] for record in fast] == ["INSERT", "MODIFY", "REMOVE"]
    assert json.dumps(fast, default=str, sort_keys=True) == json.dumps(slow, default=str, sort_keys=True)


def test_step_functions_tasks_reuse_clients_and_compiled_paths() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import json_path

    from cataloop_local.emulator import moto_patches

    moto_patches.run_executions_synchronously()
    first = lambda_eval_utils.boto_client_for("us-east-1", "lambda")
    assert lambda_eval_utils.boto_client_for("us-east-1", "lambda", state_credentials=object()) is first
    assert lambda_eval_utils.boto_client_for("us-east-1", "sqs") is not first
    data = {"a": {"b": [1, 2]}, "c": "x"}
    assert json_path.extract_json("$.a.b", data) == [1, 2]
    hits = json_path.parse.cache_info().hits
    assert json_path.extract_json("$.a.b", {"a": {"b": [3]}}) == [3]
    assert json_path.parse.cache_info().hits == hits + 1
    with pytest.raises(json_path.NoSuchJsonPathError):
        json_path.extract_json("$.missing", data)


def test_a_definition_is_parsed_once_for_its_creation_and_every_execution() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    from cataloop_local.emulator import moto_patches

    moto_patches.run_executions_synchronously()
    definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
    StepFunctionsParserBackend._validate_definition(definition=definition)
    assert AmazonStateLanguageParser.parse(definition) is AmazonStateLanguageParser.parse(definition)
    with pytest.raises(Exception, match="ASLParserException"):
        StepFunctionsParserBackend._validate_definition(definition='{"StartAt": "Nowhere", "States": {}}')


def _dumped(table_name: str) -> list[object]:
    """The table as a save writes it, line by line, read back."""
    import json

    from cataloop_local.emulator import moto_patches

    return [json.loads(line) for line in moto_patches.dump_lines(table_name, json.dumps)]


def test_restored_items_take_motos_types_when_first_read_and_are_saved_as_they_then_are() -> None:
    """`load_items` keeps each saved item as loaded until something reads it: a save writes the unread ones
    back unchanged, the read ones (which an update may have changed in place) from moto's attributes, and
    every read, query, scan (which deep-copies items), update and GSI query sees the saved values."""
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models.dynamo_type import DynamoType

    from cataloop_local.emulator import moto_patches

    saved = [
        {"pk": {"S": "a"}, "n": {"N": "1.50"}, "m": {"M": {"l": {"L": [{"S": "x"}, {"NULL": True}]}}}},
        {"pk": {"S": "b"}, "tags": {"SS": ["p", "q"]}, "g": {"S": "G"}},
        {"pk": {"S": "c"}, "flag": {"BOOL": False}},
    ]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "ByG",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        moto_patches.index_members_from_saved_shapes()
        moto_patches.load_items("t", [dict(item) for item in saved])
        assert _dumped("t") == saved

        assert client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == saved[0]
        table = moto_patches._backend("123456789012", "us-east-1").get_table("t")
        assert [item.saved_shape is None for item in table.all_items()] == [True, False, False]
        # A scan reads copies: the stored items keep their shapes.
        assert len(client.scan(TableName="t")["Items"]) == 3
        assert [item.saved_shape is None for item in table.all_items()] == [True, False, False]
        # The index's members, as moto lists them, found from the saved shapes.
        members = table.has_idx_items("ByG")
        assert [item.saved_shape is None for item in table.all_items()] == [True, False, False]
        assert members == [table.items[DynamoType({"S": "b"})]]
        assert members == moto_patches.originals["index_members"](table, "ByG")
        client.update_item(
            TableName="t",
            Key={"pk": {"S": "c"}},
            UpdateExpression="SET flag = :t",
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )
        dumped = _dumped("t")
        assert dumped == [saved[0], saved[1], {"pk": {"S": "c"}, "flag": {"BOOL": True}}]

        byg = client.query(
            TableName="t",
            IndexName="ByG",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "G"}},
        )
        assert byg["Items"] == [saved[1]]
        scanned = sorted(client.scan(TableName="t")["Items"], key=lambda item: item["pk"]["S"])
        assert scanned == dumped

        # A string set grown in place (moto appends to the list) after scans copied the item, then a cancelled
        # transaction that had grown it again: the saved shape and the answers stay right.
        add = {"UpdateExpression": "ADD tags :t", "ExpressionAttributeValues": {":t": {"SS": ["r"]}}}
        client.update_item(TableName="t", Key={"pk": {"S": "b"}}, **add)
        assert saved[1]["tags"] == {"SS": ["p", "q"]}
        with pytest.raises(client.exceptions.TransactionCanceledException):
            client.transact_write_items(
                TransactItems=[
                    {"Update": {"TableName": "t", "Key": {"pk": {"S": "b"}}, **add}},
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "a"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        grown = client.get_item(TableName="t", Key={"pk": {"S": "b"}})["Item"]["tags"]["SS"]
        assert sorted(grown) == ["p", "q", "r"]
        assert sorted(_dumped("t")[1]["tags"]["SS"]) == ["p", "q", "r"]


def test_moto_lists_regions_through_the_clients_session() -> None:
    """One botocore session (and its loader, which keeps each data file once) for the clients and moto's
    region lists; the regions are the ones moto's own session gives."""
    import boto3
    from moto.core.base_backend import AccountSpecificBackend

    from cataloop_local.emulator import moto_patches

    moto_patches.share_botocore_data()
    import moto.core.utils

    assert moto.core.utils.create_loader() is moto.core.utils.create_loader()
    assert moto_patches.originals["moto_loader"]() is not moto_patches.originals["moto_loader"]()
    shared = AccountSpecificBackend.get_session()
    assert shared is boto3._get_default_session()._session
    own = moto_patches.originals["botocore_session"]()
    for service in ("dynamodb", "s3", "lambda"):
        for partition in own.get_available_partitions():
            assert shared.get_available_regions(
                service, partition_name=partition
            ) == own.get_available_regions(service, partition_name=partition)


def test_a_parsed_definition_is_kept_on_disk_for_the_next_process(tmp_path: object) -> None:
    """The program parsed from a definition is pickled under a hash of moto's version and the text: the
    next parse of the same text reads it back (no ANTLR), a changed text or an unreadable file parses."""
    from pathlib import Path

    from cataloop_local.emulator import moto_patches

    directory = Path(str(tmp_path))
    calls: list[str] = []

    def parse(definition: str) -> tuple[object, object]:
        calls.append(definition)
        return {"program for": definition}, "tree"

    cached = moto_patches._parsed_from_disk(parse)
    moto_patches.definitions_directory[0] = directory
    try:
        assert cached("A") == ({"program for": "A"}, "tree")
        assert cached("A") == ({"program for": "A"}, None)  # read back: the tree is not kept
        assert cached("B")[0] == {"program for": "B"}
        assert calls == ["A", "B"]
        for path in directory.glob("*.pickle"):
            path.write_bytes(b"not a pickle")
        assert cached("A")[0] == {"program for": "A"} and calls == ["A", "B", "A"]
        assert cached("A")[1] is None and len(calls) == 3  # rewritten by the parse above
    finally:
        moto_patches.definitions_directory[0] = None
    assert cached("A")[1] == "tree" and len(calls) == 4  # no directory: parsed every time


def test_fast_item_results_are_motos_results() -> None:
    """Results as DynamoResult converts them (items, keys, counts, capacities), with every kind of value."""
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import dynamo_to_dict

    from cataloop_local.emulator import moto_patches

    moto_patches.fast_item_results()
    import moto.dynamodb.responses as responses

    fast = responses.dynamo_to_dict
    leaves = [
        {"S": "한국어"},
        {"N": "-1.50"},
        {"B": b"\x00\xff"},
        {"B": "AAE="},
        {"BOOL": False},
        {"NULL": True},
        {"SS": ["a", "b"]},
        {"NS": ["1", "2"]},
        {"BS": [b"x", "eQ=="]},
    ]
    nested = {"M": {"l": {"L": [*leaves, {"M": {"deep": {"L": leaves}}}]}, "e": {"M": {}}}}
    item = LimitedSizeDict({f"a{index}": DynamoType(value) for index, value in enumerate([*leaves, nested])})
    result = {
        "Items": [item, LimitedSizeDict({"pk": DynamoType({"S": "k"})})],
        "Count": 2,
        "ScannedCount": 3,
        "LastEvaluatedKey": {"pk": {"S": "k"}},
        "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.5}},
        "Attributes": None,
    }
    assert fast is not dynamo_to_dict
    assert fast(result) == dynamo_to_dict(result)
    for value in [*leaves, nested]:
        assert fast(DynamoType(value)) == dynamo_to_dict(DynamoType(value)), value


def test_unfiltered_scans_answer_from_saved_shapes_as_moto_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Scan with no filter, projection or index answers restored items nobody read from their saved
    shapes (no moto types built for the copies); the pages, a filtered Scan and the stored items are what
    moto's own Scan gives."""
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models.table import Table

    from cataloop_local.emulator import moto_patches

    saved = [
        {"pk": {"S": "a"}, "n": {"N": "1.50"}, "m": {"M": {"l": {"L": [{"S": "x"}, {"NULL": True}]}}}},
        {"pk": {"S": "b"}, "tags": {"SS": ["p", "q"]}, "nums": {"NS": ["1", "2"]}, "g": {"S": "G"}},
        {"pk": {"S": "c"}, "flag": {"BOOL": False}, "empty": {"M": {}}},
    ]
    built: list[object] = []
    typed = moto_patches.typed
    monkeypatch.setattr(moto_patches, "typed", lambda shape: built.append(shape) or typed(shape))

    def scans(client: object) -> list[object]:
        pages, start = [], None
        while True:
            page = client.scan(  # type: ignore[attr-defined]
                TableName="t", Limit=2, **({"ExclusiveStartKey": start} if start else {})
            )
            pages.append({key: page.get(key) for key in ("Items", "Count", "LastEvaluatedKey")})
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        filtered = client.scan(  # type: ignore[attr-defined]
            TableName="t", FilterExpression="attribute_exists(g)", ProjectionExpression="pk, g"
        )["Items"]
        return [pages, filtered, client.scan(TableName="t")["Items"]]  # type: ignore[attr-defined]

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _hash_table(client)
        moto_patches.fast_item_results()
        moto_patches.fast_item_responses()
        moto_patches.answer_scans_from_saved_shapes()
        moto_patches.load_items("t", [dict(item) for item in saved])
        built.clear()
        assert sorted(client.scan(TableName="t")["Items"], key=lambda item: item["pk"]["S"]) == saved
        assert built == []  # answered from the saved shapes
        table = moto_patches._backend("123456789012", "us-east-1").get_table("t")
        assert all(item.saved_shape is not None for item in table.all_items())  # the stored items too
        answered = scans(client)
        patched = Table.scan
        Table.scan = moto_patches.originals["scan_answers"]  # type: ignore[method-assign]
        try:
            moto_patches.load_items("t", [dict(item) for item in saved])  # unread again
            built.clear()
            assert client.scan(TableName="t")["Items"] == answered[2]
            assert built  # moto's own Scan builds its types for the answer
            assert scans(client) == answered
        finally:
            Table.scan = patched  # type: ignore[method-assign]


def _hash_table(client: Any, **extra: Any) -> None:
    """Table `t`, keyed by the string `pk`, on demand."""
    client.create_table(
        TableName="t",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
