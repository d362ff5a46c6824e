"""Step Functions tasks invoke functions through `TaskLambdaClient`; it must answer as the Lambda API (moto's
path through `lambda.invoke`) answers: the same status, version, payload and function error, and the same
error for a function that does not exist."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cataloop_local.emulator import lambdas
from cataloop_local.emulator.cloud import LocalCloud
from tests.conftest import FIXTURES

SMALL_TEMPLATE = FIXTURES / "stream_template.yaml"


@pytest.fixture
def cloud(tmp_path: Any) -> Iterator[LocalCloud]:
    with LocalCloud(SMALL_TEMPLATE, state_dir=tmp_path / "state") as running:
        yield running


def _record(crash: bool) -> dict[str, Any]:
    image: dict[str, Any] = {"id": {"S": "a"}}
    if crash:
        image["crash"] = {"BOOL": True}
    return {"Records": [{"dynamodb": {"NewImage": image, "SequenceNumber": "1"}}]}


def _answer(response: dict[str, Any]) -> dict[str, Any]:
    """What a caller reads of an Invoke answer (the request id differs per call)."""
    return {
        "StatusCode": response["StatusCode"],
        "FunctionError": response.get("FunctionError"),
        "Payload": json.loads(response["Payload"].read() or b"null"),
        "HTTPStatusCode": response["ResponseMetadata"]["HTTPStatusCode"],
    }


@pytest.mark.parametrize("crash", [False, True], ids=["returns", "raises"])
def test_a_task_invocation_answers_as_lambda_invoke_does(cloud: LocalCloud, crash: bool) -> None:
    function = cloud.functions.get("Recorder")
    payload = json.dumps(_record(crash))
    through_moto = boto3.client("lambda", region_name="us-east-1").invoke(
        FunctionName=function.arn, Payload=payload.encode()
    )
    direct = lambdas.TaskLambdaClient().invoke(FunctionName=function.arn, Payload=payload)
    assert direct["ExecutedVersion"] == "$LATEST"  # as Lambda answers (moto leaves it out)
    expected, answered = _answer(through_moto), _answer(direct)
    if crash:
        assert answered["FunctionError"] == "Unhandled"
        assert answered["Payload"]["errorType"] == "RuntimeError"
        for answer in (expected, answered):  # each names its own request and the traceback's frames
            answer["Payload"] = {k: answer["Payload"][k] for k in ("errorType", "errorMessage")}
    else:
        assert answered["Payload"] == {"batchItemFailures": []}
    assert answered == expected


def test_a_task_invoking_an_unknown_function_gets_lambdas_not_found_error(cloud: LocalCloud) -> None:
    missing = "arn:aws:lambda:us-east-1:123456789012:function:no-such-function"
    errors = []
    for client in (boto3.client("lambda", region_name="us-east-1"), lambdas.TaskLambdaClient()):
        with pytest.raises(ClientError) as raised:
            client.invoke(FunctionName=missing, Payload=b"{}")
        errors.append(raised.value.response["Error"]["Code"])
    assert errors == ["ResourceNotFoundException", "ResourceNotFoundException"]


def test_an_asynchronous_task_invocation_is_accepted_with_no_payload(cloud: LocalCloud) -> None:
    function = cloud.functions.get("Recorder")
    response = lambdas.TaskLambdaClient().invoke(
        FunctionName=function.name, Payload=json.dumps(_record(False)), InvocationType="Event"
    )
    assert response["StatusCode"] == 202 and response["Payload"].read() == b""
    assert cloud.functions.invocations[-1].ok


def test_step_functions_tasks_get_the_task_client_and_other_services_motos(cloud: LocalCloud) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    lambdas.route_task_invocations()
    assert isinstance(lambda_eval_utils.boto_client_for("us-east-1", "lambda"), lambdas.TaskLambdaClient)
    sqs = lambda_eval_utils.boto_client_for("us-east-1", "sqs")
    assert sqs.meta.service_model.service_name == "sqs"
