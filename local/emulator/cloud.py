"""The local cloud: `template.yaml` running in-process on moto, with real handlers and real ASL.

`LocalCloud(template).start()` creates every table (with streams), queue, bus, rule, function and state
machine the template declares, wires EventBridge targets, stream mappings and HTTP routes from the
functions' and state machines' `Events`, and restores saved tables from `.cataloop/`. Nothing here names
a resource of the project: adding a function, rule or route to the template needs no change here.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from cataloop.wiring import aws_client
from cataloop_local.emulator import eventbus, lambdas, moto_patches
from cataloop_local.emulator.cfn import (
    IntrinsicResolver,
    TemplateError,
    load_template,
    merged_function_properties,
)
from cataloop_local.emulator.http_api import HttpApiServer, Route
from cataloop_local.emulator.state import LocalState
from cataloop_local.emulator.streams import StreamMapping, StreamPoller

REGION = "us-east-1"
ACCOUNT = "123456789012"
LOCAL_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    # DynamoDB Streams calls only route to moto with account-id endpoints off.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    # Tracing and metrics stay in-process: no X-Ray daemon, EMF goes to the log.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "false",
    "CATALOOP_LOCAL": "1",
    # The offline supervisor's labelled reference set (a simulated strong model; see docs/offline-baseline.md).
    "CATALOOP_REFERENCE_SET": str(Path(__file__).resolve().parents[2] / "data" / "oa-mine" / "train.jsonl"),
}
# Declared in the template but with nothing to emulate locally (monitoring, permissions, deployment).
NOT_EMULATED = {
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::Subscription",
    "AWS::SQS::QueuePolicy",
    "AWS::Logs::LogGroup",
    "AWS::Serverless::LayerVersion",
    "AWS::Serverless::HttpApi",
    "AWS::SNS::Topic",
    "AWS::IAM::Role",
}
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cataloop-local"


@dataclass
class LocalCloud:
    """One in-process cloud. Use `with LocalCloud(...) as cloud:` or start()/stop()."""

    template_path: Path
    state_dir: Path | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    extra_environment: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.template_path = Path(self.template_path).resolve()
        self.root = self.template_path.parent
        self.template = load_template(self.template_path)
        self.resources: dict[str, dict[str, Any]] = self.template["Resources"]
        self.functions = lambdas.FunctionRegistry()
        self.router = eventbus.EventRouter(REGION, self.invoke)
        self.streams = StreamPoller(REGION, self.invoke, lambda name: self.functions.get(name).arn)
        self.routes: list[Route] = []
        self.state_machine_arns: dict[str, str] = {}
        self.state = LocalState(self.state_dir) if self.state_dir else None
        self._mock: Any = None
        self._scratch: str | None = None
        self._saved_environment: dict[str, str | None] = {}
        self._resolver = IntrinsicResolver(self.template, self._resolve_resource, self.parameter_overrides)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalCloud:
        from moto import mock_aws

        environment = {**LOCAL_ENVIRONMENT, **self.extra_environment}
        # Engines that live on disk (the local search index, the embedding cache) go in the state
        # directory; a cloud without one gets a temporary directory, removed at stop.
        if self.state_dir is None:
            self._scratch = tempfile.mkdtemp(prefix="cataloop-")
        environment.setdefault("CATALOOP_STATE_DIR", str(self.state_dir or self._scratch))
        self._saved_environment = {key: os.environ.get(key) for key in environment}
        os.environ.update(environment)
        if not os.environ.get("CATALOOP_DEBUG"):
            # moto's ASL interpreter logs every failed state with a stack trace; the execution history
            # already records the error and cause, which is what callers read.
            logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        moto_patches.run_executions_synchronously()
        moto_patches.light_transaction_backups()
        lambdas.route_moto_invocations(self.functions)
        eventbus.route_rule_targets(self.router)
        self._create_resources()
        if self.state is not None and self.state.restore(self.table_names()):
            # Restored items are history, not new changes: the mappings start after them.
            self.streams.start_at_latest()
        return self

    def stop(self, save: bool = True) -> None:
        if self._mock is None:
            return
        try:
            if save:
                self.save()
        finally:
            from cataloop import wiring

            wiring.close_search_indexes()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None
            lambdas.route_moto_invocations(None)
            eventbus.route_rule_targets(None)
            self._mock.stop()
            self._mock = None
            for key, old in self._saved_environment.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old

    def save(self) -> None:
        """Write the tables to the state directory (no-op without one)."""
        if self.state is not None:
            self.state.save(self.table_names())

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(save=exc[0] is None)

    # ------------------------------------------------------------------ what callers use
    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a function's handler in-process (by logical id, name or ARN)."""
        return self.functions.invoke(function, event)

    def put_events(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """PutEvents on the template's bus (EventBusName defaults to the only bus)."""
        bus = self.physical_name(self._only_resource("AWS::Events::EventBus"))
        client = aws_client("events", REGION)
        prepared = [{"EventBusName": bus, **entry} for entry in entries]
        for entry in prepared:
            if not isinstance(entry.get("Detail"), str):
                entry["Detail"] = json.dumps(entry.get("Detail", {}), ensure_ascii=False, default=str)
        response: dict[str, Any] = {"Entries": [], "FailedEntryCount": 0}
        for start in range(0, len(prepared), 10):  # PutEvents takes at most 10 entries
            part = client.put_events(Entries=prepared[start : start + 10])
            response["Entries"].extend(part["Entries"])
            response["FailedEntryCount"] += part["FailedEntryCount"]
        return response

    def pump_streams(self) -> int:
        """Deliver pending stream records, then forget the ones every consumer has read."""
        delivered = self.streams.pump()
        for stream_arn, sequence in self.streams.consumed().items():
            moto_patches.trim_stream(stream_arn.split(":table/")[1].split("/")[0], sequence)
        return delivered

    def http_server(self, port: int = 0) -> HttpApiServer:
        return HttpApiServer(self.routes, self.invoke, port, after_request=self.streams.pump)

    def executions(self, logical_id: str) -> list[dict[str, Any]]:
        client = aws_client("stepfunctions", REGION)
        arn = self.state_machine_arns[logical_id]
        found: list[dict[str, Any]] = []
        for page in client.get_paginator("list_executions").paginate(stateMachineArn=arn):
            found.extend(page["executions"])
        return found

    def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        return aws_client("stepfunctions", REGION).describe_execution(executionArn=execution_arn)

    def table_names(self) -> dict[str, str]:
        return {
            logical: self.physical_name(logical)
            for logical, spec in self.resources.items()
            if spec["Type"] == "AWS::DynamoDB::Table"
        }

    def queue_url(self, logical_id: str) -> str:
        return str(self._resolve_resource(logical_id, None))

    def physical_name(self, logical_id: str) -> str:
        spec = self.resources[logical_id]
        name_property = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::Events::EventBus": "Name",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Serverless::StateMachine": "Name",
            "AWS::SNS::Topic": "TopicName",
            "AWS::Logs::LogGroup": "LogGroupName",
        }.get(spec["Type"])
        explicit = spec.get("Properties", {}).get(name_property) if name_property else None
        if explicit is not None:
            return str(self._resolver.resolve(explicit))
        return f"cataloop-local-{logical_id}"

    # ------------------------------------------------------------------ intrinsic resolution
    def _resolve_resource(self, logical_id: str, attribute: str | None) -> Any:
        spec = self.resources.get(logical_id)
        if spec is None:
            raise TemplateError(f"reference to unknown resource {logical_id}")
        kind = spec["Type"]
        name = self.physical_name(logical_id)
        arn_prefix = f"arn:aws:{{}}:{REGION}:{ACCOUNT}"
        if kind == "AWS::DynamoDB::Table":
            if attribute is None:
                return name
            if attribute == "Arn":
                return f"{arn_prefix.format('dynamodb')}:table/{name}"
            if attribute == "StreamArn":
                client = boto3.client("dynamodb", region_name=REGION)
                return client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
        elif kind == "AWS::SQS::Queue":
            url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            return {
                None: url,
                "QueueUrl": url,
                "QueueName": name,
                "Arn": f"{arn_prefix.format('sqs')}:{name}",
            }[attribute]
        elif kind == "AWS::Events::EventBus":
            return {None: name, "Name": name, "Arn": f"{arn_prefix.format('events')}:event-bus/{name}"}[
                attribute
            ]
        elif kind == "AWS::Serverless::Function":
            return {None: name, "Arn": f"{arn_prefix.format('lambda')}:function:{name}"}[attribute]
        elif kind == "AWS::Serverless::StateMachine":
            arn = f"{arn_prefix.format('states')}:stateMachine:{name}"
            return {None: arn, "Arn": arn, "Name": name}[attribute]
        elif kind == "AWS::SNS::Topic":
            return f"{arn_prefix.format('sns')}:{name}"
        elif kind == "AWS::Logs::LogGroup":
            return f"{arn_prefix.format('logs')}:log-group:{name}"
        elif kind in NOT_EMULATED:
            return f"{arn_prefix.format('local')}:{logical_id}"
        raise TemplateError(f"cannot resolve {logical_id}.{attribute or 'Ref'} of type {kind}")

    def _only_resource(self, kind: str) -> str:
        matches = [logical for logical, spec in self.resources.items() if spec["Type"] == kind]
        if len(matches) != 1:
            raise TemplateError(f"expected exactly one {kind}, found {matches}")
        return matches[0]

    # ------------------------------------------------------------------ resource creation
    def _create_resources(self) -> None:
        boto3.client("iam", region_name=REGION).create_role(
            RoleName="cataloop-local",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )
        by_kind: dict[str, list[str]] = {}
        for logical, spec in self.resources.items():
            by_kind.setdefault(spec["Type"], []).append(logical)
        unknown = (
            set(by_kind)
            - NOT_EMULATED
            - {
                "AWS::DynamoDB::Table",
                "AWS::SQS::Queue",
                "AWS::Events::EventBus",
                "AWS::Serverless::Function",
                "AWS::Serverless::StateMachine",
            }
        )
        if unknown:
            raise TemplateError(
                f"the local cloud does not emulate {sorted(unknown)}: add support in local/cloud.py"
            )
        for logical in by_kind.get("AWS::DynamoDB::Table", []):
            self._create_table(logical)
        # Dead-letter queues first: a queue's RedrivePolicy must name an existing queue.
        queues = by_kind.get("AWS::SQS::Queue", [])
        for logical in sorted(
            queues, key=lambda q: "RedrivePolicy" in self.resources[q].get("Properties", {})
        ):
            self._create_queue(logical)
        for logical in by_kind.get("AWS::Events::EventBus", []):
            boto3.client("events", region_name=REGION).create_event_bus(Name=self.physical_name(logical))
        for logical in by_kind.get("AWS::Serverless::Function", []):
            self._create_function(logical)
        for logical in by_kind.get("AWS::Serverless::StateMachine", []):
            self._create_state_machine(logical)

    def _properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self._resolver.resolve(self.resources[logical_id].get("Properties", {})))

    def _create_table(self, logical_id: str) -> None:
        props = self._properties(logical_id)
        arguments: dict[str, Any] = {
            "TableName": self.physical_name(logical_id),
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for optional in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if optional in props:
                arguments[optional] = props[optional]
        if "StreamSpecification" in arguments:
            arguments["StreamSpecification"] = {"StreamEnabled": True, **arguments["StreamSpecification"]}
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(**arguments)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=arguments["TableName"], TimeToLiveSpecification=ttl)

    def _create_queue(self, logical_id: str) -> None:
        props = self._properties(logical_id)
        attributes = {
            key: (json.dumps(value) if isinstance(value, dict) else str(value))
            for key, value in props.items()
            if key
            in (
                "MessageRetentionPeriod",
                "VisibilityTimeout",
                "DelaySeconds",
                "RedrivePolicy",
                "FifoQueue",
                "ContentBasedDeduplication",
            )
        }
        boto3.client("sqs", region_name=REGION).create_queue(
            QueueName=self.physical_name(logical_id), Attributes=attributes
        )

    def _create_function(self, logical_id: str) -> None:
        props = merged_function_properties(self.template, self.resources[logical_id].get("Properties", {}))
        props = self._resolver.resolve(props)
        name = self.physical_name(logical_id)
        environment = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        function = lambdas.LocalFunction(
            logical_id=logical_id,
            name=name,
            arn=self._resolve_resource(logical_id, "Arn"),
            code_dir=(self.root / props["CodeUri"]).resolve(),
            handler=props["Handler"],
            environment={**environment, "AWS_LAMBDA_FUNCTION_NAME": name, **self._local_overrides()},
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
        )
        if self.state_dir is not None:
            function.log.path = Path(self.state_dir) / "logs" / f"{logical_id}.log"
        self.functions.register(function)
        boto3.client("lambda", region_name=REGION).create_function(
            FunctionName=name,
            Runtime=props.get("Runtime", "python3.11"),
            Role=ROLE_ARN,
            Handler=props["Handler"],
            Code={"ZipFile": _placeholder_zip()},
            Timeout=function.timeout,
            MemorySize=function.memory,
            Environment={"Variables": environment},
        )
        for event_name, event in props.get("Events", {}).items():
            self._wire_function_event(logical_id, name, event_name, event)

    def _local_overrides(self) -> dict[str, str]:
        # The template's variables describe AWS; these say "local" wherever both are set.
        return {
            key: os.environ[key]
            for key in ("CATALOOP_LOCAL", "CATALOOP_STATE_DIR", "CATALOOP_REFERENCE_SET")
            if key in os.environ
        }

    def _wire_function_event(
        self, logical_id: str, name: str, event_name: str, event: dict[str, Any]
    ) -> None:
        kind, props = event["Type"], event.get("Properties", {})
        if kind == "DynamoDB":
            self.streams.add(
                StreamMapping(
                    function=logical_id,
                    stream_arn=props["Stream"],
                    batch_size=int(props.get("BatchSize", 100)),
                    maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
                    report_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    on_failure_arn=props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
                    enabled=bool(props.get("Enabled", True)),
                )
            )
        elif kind == "HttpApi":
            self.routes.append(
                Route(props.get("Method", "ANY").upper(), props.get("Path", "/{proxy+}"), logical_id)
            )
        elif kind in ("EventBridgeRule", "CloudWatchEvent"):
            self._put_rule(f"{logical_id}{event_name}", props, self._resolve_resource(logical_id, "Arn"))
        else:
            raise TemplateError(
                f"{logical_id}.Events.{event_name}: event type {kind} is not emulated locally"
            )

    def _create_state_machine(self, logical_id: str) -> None:
        props = self._properties(logical_id)
        definition = (self.root / props["DefinitionUri"]).read_text(encoding="utf-8")
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        client = boto3.client("stepfunctions", region_name=REGION)
        arn = client.create_state_machine(
            name=self.physical_name(logical_id),
            definition=definition,
            roleArn=ROLE_ARN,
            type=props.get("Type", "STANDARD"),
        )["stateMachineArn"]
        self.state_machine_arns[logical_id] = arn
        for event_name, event in props.get("Events", {}).items():
            if event["Type"] not in ("EventBridgeRule", "CloudWatchEvent"):
                raise TemplateError(
                    f"{logical_id}.Events.{event_name}: {event['Type']} is not emulated locally"
                )
            self._put_rule(f"{logical_id}{event_name}", event.get("Properties", {}), arn)

    def _put_rule(self, rule_name: str, props: dict[str, Any], target_arn: str) -> None:
        client = boto3.client("events", region_name=REGION)
        bus = props.get("EventBusName", "default")
        client.put_rule(
            Name=rule_name, EventBusName=bus, EventPattern=json.dumps(props["Pattern"]), State="ENABLED"
        )
        target: dict[str, Any] = {"Id": "target", "Arn": target_arn, "RoleArn": ROLE_ARN}
        if "DeadLetterConfig" in props:
            target["DeadLetterConfig"] = {"Arn": props["DeadLetterConfig"]["Arn"]}
        if "RetryPolicy" in props:
            target["RetryPolicy"] = props["RetryPolicy"]
        if "InputPath" in props:
            target["InputPath"] = props["InputPath"]
        client.put_targets(Rule=rule_name, EventBusName=bus, Targets=[target])


@contextmanager
def running(template: Path, state_dir: Path | None = None, **kwargs: Any) -> Iterator[LocalCloud]:
    """Start a cloud for the duration of a block."""
    cloud = LocalCloud(template, state_dir, **kwargs)
    with cloud:
        yield cloud


def _placeholder_zip() -> bytes:
    # moto requires code for create_function; the handler that runs is the one in CodeUri, in-process.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Cataloop local cloud: the handler runs in-process from CodeUri.")
    return buffer.getvalue()
