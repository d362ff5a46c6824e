"""Creating the template's resources on moto: every table (with streams), queue, bus, S3 bucket, secret,
function and state machine `template.yaml` declares, with the functions' and state machines' `Events` wired as
stream mappings, HTTP routes and EventBridge rules. `LocalCloud.start` runs it once. Every resource is
created in moto at the first call to its service (`moto_patches.defer_until_called`; a function at its own
invocation, a table stream with a label chosen at start, a secret with an ARN chosen at start): a command that
runs no execution does not pay for moto's interpreter, one that reads a table pays for no bucket, queue or
bus, and one that reads no table (a search) creates none. Nothing here names a
resource of the project: adding a function, rule or route to the template needs no change here.

A resource whose `Condition` is false under the local parameters is not created, as in CloudFormation. Every
type the template declares is either created (`EMULATED`) or knowingly skipped (`LOCAL_STAND_INS`, which says
what runs locally in its place); an unknown type stops the local cloud.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import string
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cataloop.wiring import aws_client
from cataloop_local.emulator import lambdas, moto_patches
from cataloop_local.emulator.cfn import IntrinsicResolver, TemplateError, merged_function_properties
from cataloop_local.emulator.http_api import Route
from cataloop_local.emulator.streams import StreamMapping, StreamPoller

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cataloop-local"


def secret_arn(name: str) -> str:
    """The ARN of the local secret `name`: Secrets Manager's form, the name and a hyphen and six letters (AWS
    draws them at random; here they come from the name's hash, so the ARN is known before the secret exists
    and is the same at every start)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    suffix = "".join(string.ascii_letters[byte % len(string.ascii_letters)] for byte in digest[:6])
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-{suffix}"


# The resource types the local cloud creates.
EMULATED = {
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine",
}
# Declared in the template but not created locally: what runs in each one's place (the README's table).
LOCAL_STAND_INS = {
    "AWS::OpenSearchService::Domain": "the embedded engine (tantivy + numpy) under DataDirectory "
    "(SearchBackend=embedded, so the template creates no domain)",
    "AWS::Bedrock::Guardrail": "the offline guardrail: a word list and Korean personal-data patterns "
    "(adapters/offline_guardrail.py; ModelProvider=offline, so the template creates no guardrail)",
    "AWS::Bedrock::GuardrailVersion": "nothing: the offline guardrail has no versions",
    "AWS::CloudWatch::Dashboard": "nothing: the functions' EMF metrics are in their logs (.cataloop/logs/)",
    "AWS::CloudWatch::Alarm": "nothing: no alarm is evaluated locally",
    "AWS::SNS::Topic": "nothing: alarms notify no one locally",
    "AWS::SNS::Subscription": "nothing",
    "AWS::S3::BucketPolicy": "nothing: moto would store it but enforces no bucket policy",
    "AWS::SQS::QueuePolicy": "nothing: moto enforces no queue policy",
    "AWS::Logs::LogGroup": "each function's log file under .cataloop/logs/",
    "AWS::Logs::ResourcePolicy": "nothing",
    "AWS::Serverless::LayerVersion": "the layer's package imported in-process (installed in .venv)",
    "AWS::Serverless::HttpApi": "local/emulator/http_api.py on 127.0.0.1 (the functions' HttpApi events)",
    "AWS::IAM::Role": "one permissive role: IAM is not enforced locally",
}
NOT_EMULATED = set(LOCAL_STAND_INS)
# GenerateSecretString keys that moto's GetRandomPassword takes as they are.
_PASSWORD_OPTIONS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


@dataclass
class ResourceCreator:
    """Creates the resources of one local cloud's template and registers what they wire into its function
    registry, stream poller, HTTP routes and state-machine ARNs."""

    template: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    root: Path
    state_dir: Path | None
    resolver: IntrinsicResolver
    physical_name: Callable[[str], str]
    resolve_resource: Callable[[str, str | None], Any]
    functions: lambdas.FunctionRegistry
    streams: StreamPoller
    routes: list[Route]
    state_machine_arns: dict[str, str]
    secret_arns: dict[str, str] = field(default_factory=dict)
    # The buckets created (logical id -> name): the local cloud keeps their objects across restarts.
    buckets: dict[str, str] = field(default_factory=dict)
    # The label of every table stream, chosen before the tables are created (`LocalCloud.stream_label`).
    stream_label: str = "local"

    def create_all(self) -> None:
        """Create every resource of the template whose Condition holds, dead-letter queues before the queues
        that name them, buckets and secrets before the functions whose environment names them."""
        # The one role the functions' moto records name: made with them, at the first Lambda call.
        moto_patches.defer_until_called("lambda", self._create_role)
        declared = {spec["Type"] for spec in self.resources.values()}
        unknown = declared - NOT_EMULATED - EMULATED
        if unknown:
            raise TemplateError(
                f"the local cloud does not emulate {sorted(unknown)}: add support in local/emulator/resources.py"
            )
        # Ref/GetAtt of the buckets and secrets created here resolve here; everything else as before.
        self.resolver.resources = self._resolve_created(self.resolver.resources)
        by_kind: dict[str, list[str]] = {}
        for logical, spec in self.resources.items():
            if "Condition" not in spec or self.resolver.condition(spec["Condition"]):
                by_kind.setdefault(spec["Type"], []).append(logical)
        for logical in by_kind.get("AWS::DynamoDB::Table", []):
            self._create_table(logical)
        # Dead-letter queues first: a queue's RedrivePolicy must name an existing queue.
        queues = by_kind.get("AWS::SQS::Queue", [])
        for logical in sorted(
            queues, key=lambda q: "RedrivePolicy" in self.resources[q].get("Properties", {})
        ):
            self._create_queue(logical)
        for logical in by_kind.get("AWS::Events::EventBus", []):
            bus = self.physical_name(logical)
            moto_patches.defer_until_called(
                "events", lambda bus=bus: self._client("events").create_event_bus(Name=bus)
            )
        for logical in by_kind.get("AWS::S3::Bucket", []):
            self._create_bucket(logical)
        for logical in by_kind.get("AWS::SecretsManager::Secret", []):
            self._create_secret(logical)
        for logical in by_kind.get("AWS::Serverless::Function", []):
            self._create_function(logical)
        for logical in by_kind.get("AWS::Serverless::StateMachine", []):
            self._create_state_machine(logical)

    def _create_role(self) -> None:
        self._client("iam").create_role(
            RoleName="cataloop-local",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )

    def _client(self, service: str) -> Any:
        """The process's client of the service (`wiring.aws_client`: each new one loads its service model)."""
        return aws_client(service, REGION)

    def _properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resolver.resolve(self.resources[logical_id].get("Properties", {})))

    def _resolve_created(
        self, fallback: Callable[[str, str | None], Any]
    ) -> Callable[[str, str | None], Any]:
        def resolve(logical_id: str, attribute: str | None) -> Any:
            kind = self.resources.get(logical_id, {}).get("Type")
            if kind == "AWS::S3::Bucket":
                name = self.bucket_name(logical_id)
                return {
                    None: name,
                    "Arn": f"arn:aws:s3:::{name}",
                    "DomainName": f"{name}.s3.amazonaws.com",
                    "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
                }[attribute]
            if kind == "AWS::SecretsManager::Secret":
                if logical_id not in self.secret_arns:
                    raise TemplateError(f"{logical_id} is referenced but its Condition left it uncreated")
                return {None: self.secret_arns[logical_id], "Id": self.secret_arns[logical_id]}[attribute]
            return fallback(logical_id, attribute)

        return resolve

    def bucket_name(self, logical_id: str) -> str:
        """The template's BucketName, else a generated one (bucket names are lower case)."""
        explicit = self.resources[logical_id].get("Properties", {}).get("BucketName")
        if explicit is not None:
            return str(self.resolver.resolve(explicit))
        return f"cataloop-local-{logical_id.lower()}"

    def _create_bucket(self, logical_id: str) -> None:
        """The bucket with its versioning, default encryption and public access block (moto keeps them; the
        lifecycle rules are not applied: no clock runs locally)."""
        props = self._properties(logical_id)
        name = self.bucket_name(logical_id)
        self.buckets[logical_id] = name
        moto_patches.defer_until_called("s3", lambda: self._create_bucket_in_moto(name, props))

    def _create_bucket_in_moto(self, name: str, props: dict[str, Any]) -> None:
        client = self._client("s3")
        client.create_bucket(Bucket=name)
        if "VersioningConfiguration" in props:
            client.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
            )
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
        rules: list[Any] = []
        for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
            converted = {key: value for key, value in rule.items() if key != "ServerSideEncryptionByDefault"}
            converted["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
            rules.append(converted)
        if rules:
            encryption: Any = {"Rules": rules}
            client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=encryption)
        if "PublicAccessBlockConfiguration" in props:
            client.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )

    def _create_secret(self, logical_id: str) -> None:
        """The secret with its SecretString, or a value made as GenerateSecretString says, created at the first
        Secrets Manager call (only the search function reads it). Its ARN, which the functions' environment
        names, is chosen here: the name plus a six-letter suffix from the name's hash, given to moto through
        its id manager. A generated value is kept in the state directory, so it survives restarts as the
        stack's secret survives deploys."""
        props = self._properties(logical_id)
        name = str(props.get("Name") or f"cataloop-local-{logical_id}")
        arn = secret_arn(name)
        self.secret_arns[logical_id] = arn

        def create_in_moto() -> None:
            from moto.secretsmanager.utils import SecretsManagerSecretIdentifier
            from moto.utilities.id_generator import moto_id_manager

            client = self._client("secretsmanager")
            value = props.get("SecretString")
            if value is None:
                value = self._generated_secret(logical_id, props.get("GenerateSecretString", {}), client)
            arguments: dict[str, Any] = {"Name": name, "SecretString": str(value)}
            if props.get("Description"):
                arguments["Description"] = str(props["Description"])
            identifier = SecretsManagerSecretIdentifier(ACCOUNT, REGION, name)
            moto_id_manager.set_custom_id(identifier, arn.rsplit("-", 1)[1])
            try:
                created = client.create_secret(**arguments)["ARN"]
            finally:
                moto_id_manager.unset_custom_id(identifier)
            if created != arn:
                raise TemplateError(f"{logical_id}: moto named the secret {created}, not {arn}")

        moto_patches.defer_until_called("secretsmanager", create_in_moto)

    def _generated_secret(self, logical_id: str, spec: dict[str, Any], client: Any) -> str:
        kept = Path(self.state_dir) / "secrets" / logical_id if self.state_dir is not None else None
        if kept is not None and kept.is_file():
            return kept.read_text(encoding="utf-8")
        options = {key: spec[key] for key in _PASSWORD_OPTIONS if key in spec}
        password = str(client.get_random_password(**options)["RandomPassword"])
        value = password
        if "SecretStringTemplate" in spec:
            document = json.loads(spec["SecretStringTemplate"])
            document[spec.get("GenerateStringKey", "password")] = password
            value = json.dumps(document)
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(value)
        return value

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
        ttl = props.get("TimeToLiveSpecification")

        def create_in_moto() -> None:
            client = self._client("dynamodb")
            client.create_table(**arguments)
            if "StreamSpecification" in arguments:
                # The label the stream's ARN was given at start (`stream_label`), before the table existed.
                moto_patches.label_stream(arguments["TableName"], self.stream_label)
            if ttl:
                client.update_time_to_live(TableName=arguments["TableName"], TimeToLiveSpecification=ttl)

        # Like the saved items, at the first DynamoDB (or DynamoDB Streams) call: a command that reads no
        # table (a search) skips the 0.4 s the first table took (the DynamoDB client and moto's first request).
        moto_patches.defer_until_called("dynamodb", create_in_moto)

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
        name = self.physical_name(logical_id)
        moto_patches.defer_until_called(
            "sqs", lambda: self._client("sqs").create_queue(QueueName=name, Attributes=attributes)
        )

    def _create_function(self, logical_id: str) -> None:
        props = merged_function_properties(self.template, self.resources[logical_id].get("Properties", {}))
        props = self.resolver.resolve(props)
        name = self.physical_name(logical_id)
        environment = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        function = lambdas.LocalFunction(
            logical_id=logical_id,
            name=name,
            arn=self.resolve_resource(logical_id, "Arn"),
            code_dir=(self.root / props["CodeUri"]).resolve(),
            handler=props["Handler"],
            environment={**environment, "AWS_LAMBDA_FUNCTION_NAME": name},
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
        )
        if self.state_dir is not None:
            function.log.path = Path(self.state_dir) / "logs" / f"{logical_id}.log"
        self.functions.register(function)

        def create_in_moto() -> None:
            # Only what moto's Lambda API answers needs it (an invoke runs the registered handler in-process).
            lambdas.patch_moto_invoke()
            self._client("lambda").create_function(
                FunctionName=name,
                Runtime=props.get("Runtime", "python3.11"),
                Role=ROLE_ARN,
                Handler=props["Handler"],
                Code={"ZipFile": _placeholder_zip()},
                Timeout=function.timeout,
                MemorySize=function.memory,
                Environment={"Variables": environment},
            )

        moto_patches.defer_until_called("lambda", create_in_moto, resource=name)
        for event_name, event in props.get("Events", {}).items():
            self._wire_function_event(logical_id, name, event_name, event)

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
            # `Auth: {Authorizer: AWS_IAM}`: in AWS a SigV4-signed caller; locally the server's bearer token.
            authorizer = (props.get("Auth") or {}).get("Authorizer")
            self.routes.append(
                Route(
                    props.get("Method", "ANY").upper(),
                    props.get("Path", "/{proxy+}"),
                    logical_id,
                    auth=None if authorizer in (None, "NONE") else str(authorizer),
                )
            )
        elif kind in ("EventBridgeRule", "CloudWatchEvent"):
            self._put_rule(f"{logical_id}{event_name}", props, self.resolve_resource(logical_id, "Arn"))
        elif kind in ("Schedule", "ScheduleV2"):
            # No clock runs locally: a scheduled function is invoked on demand (`cataloop invoke NAME EVENT`,
            # with events/<name>.json), with the same handler and environment as on its schedule.
            return
        else:
            raise TemplateError(
                f"{logical_id}.Events.{event_name}: event type {kind} is not emulated locally"
            )

    def _create_state_machine(self, logical_id: str) -> None:
        props = self._properties(logical_id)
        definition = (self.root / props["DefinitionUri"]).read_text(encoding="utf-8")
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        name = self.physical_name(logical_id)
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"

        def create_in_moto() -> None:
            # Created at the first Step Functions call (moto's interpreter costs seconds to import and to
            # parse a definition); the ARN, which rules and functions name, is known before.
            moto_patches.run_executions_synchronously()
            lambdas.route_task_invocations()
            moto_patches.emit_execution_status_events()
            created = self._client("stepfunctions").create_state_machine(
                name=name, definition=definition, roleArn=ROLE_ARN, type=props.get("Type", "STANDARD")
            )["stateMachineArn"]
            if created != arn:
                raise TemplateError(f"{logical_id}: moto named the state machine {created}, not {arn}")

        moto_patches.defer_until_called("states", create_in_moto, resource=name)
        self.state_machine_arns[logical_id] = arn
        for event_name, event in props.get("Events", {}).items():
            if event["Type"] not in ("EventBridgeRule", "CloudWatchEvent"):
                raise TemplateError(
                    f"{logical_id}.Events.{event_name}: {event['Type']} is not emulated locally"
                )
            self._put_rule(f"{logical_id}{event_name}", event.get("Properties", {}), arn)

    def _put_rule(self, rule_name: str, props: dict[str, Any], target_arn: str) -> None:
        bus = props.get("EventBusName", "default")
        pattern = json.dumps(props["Pattern"])
        target: dict[str, Any] = {"Id": "target", "Arn": target_arn, "RoleArn": ROLE_ARN}
        if "DeadLetterConfig" in props:
            target["DeadLetterConfig"] = {"Arn": props["DeadLetterConfig"]["Arn"]}
        if "RetryPolicy" in props:
            target["RetryPolicy"] = props["RetryPolicy"]
        if "InputPath" in props:
            target["InputPath"] = props["InputPath"]

        def create_in_moto() -> None:
            client = self._client("events")
            client.put_rule(Name=rule_name, EventBusName=bus, EventPattern=pattern, State="ENABLED")
            client.put_targets(Rule=rule_name, EventBusName=bus, Targets=[target])

        moto_patches.defer_until_called("events", create_in_moto)


def _placeholder_zip() -> bytes:
    # moto requires code for create_function; the handler that runs is the one in CodeUri, in-process.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Cataloop local cloud: the handler runs in-process from CodeUri.")
    return buffer.getvalue()
