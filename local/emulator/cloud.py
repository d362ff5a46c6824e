"""The local cloud: `template.yaml` running in-process on moto, with real handlers and real ASL.

`LocalCloud(template).start()` starts moto, has `resources.ResourceCreator` create every table (with
streams), queue, bus, bucket, secret, rule, function and state machine the template declares and wire the
functions' and state machines' `Events` (EventBridge targets, stream mappings, HTTP routes), and restores saved
tables and bucket objects from `.cataloop/`. This module holds the cloud's lifecycle, what callers use
(invoke, put events, pump streams, executions, physical names, outputs) and the template's intrinsic resolution. Nothing here names a
resource of the project: adding a function, rule or route to the template needs no change here.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cataloop.wiring import aws_client
from cataloop_local.emulator import eventbus, lambdas, moto_patches
from cataloop_local.emulator.cfn import (
    IntrinsicResolver,
    TemplateError,
    check_parameter_overrides,
    load_template,
)
from cataloop_local.emulator.http_api import HttpApiServer, Route
from cataloop_local.emulator.resources import ACCOUNT, NOT_EMULATED, REGION, ResourceCreator
from cataloop_local.emulator.state import DEFINITIONS, LocalState, StateLock
from cataloop_local.emulator.streams import StreamPoller

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
}
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def local_parameters(data_dir: Path) -> dict[str, str]:
    """The template parameters that make the stack run on this machine: the offline model baseline, the
    embedded search engine and the e5 embedder, with their files in `data_dir`. They are ordinary
    parameter overrides (what `sam deploy --parameter-overrides` takes), so the template stays the single
    source of configuration; a caller's overrides win over these."""
    return {
        "ModelProvider": "offline",
        # The memory manager keeps its offline placement rules: the template's default is a Bedrock id, and
        # a set id gets a Bedrock client, which the local cloud (e.g. ModelProvider=openai-compatible) cannot call.
        "MemoryManagerModelId": "",
        "SearchBackend": "embedded",
        "EmbeddingProvider": "e5",
        "EmbeddingDimension": "384",
        "DataDirectory": str(data_dir),
        # The offline supervisor's labelled reference set (a simulated strong model; docs/offline-baseline.md).
        # OA-Mine train and the Korean catalog's rows, consulted cross-fitted (never the resolved product's own).
        "OfflineReferenceSet": ",".join(
            str(PROJECT_ROOT / "data" / path)
            for path in ("oa-mine/train.jsonl", "korean-mall/reference.jsonl")
        ),
    }


@dataclass
class LocalCloud:
    """One in-process cloud. Use `with LocalCloud(...) as cloud:` or start()/stop()."""

    template_path: Path
    state_dir: Path | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    # Who holds the state directory's lock while this cloud runs (shown to a command that is refused).
    lock_holder: str = "a local cloud"
    # Threads of the e5 model in this process (Settings.embedding_threads): 1 where requests run side by
    # side (a server, the tests' workers); a one-shot command embeds faster with both cores.
    embedding_threads: int = 1

    def __post_init__(self) -> None:
        self.template_path = Path(self.template_path).resolve()
        self.root = self.template_path.parent
        self.template = load_template(self.template_path)
        self.resources: dict[str, dict[str, Any]] = self.template["Resources"]
        self.functions = lambdas.FunctionRegistry()
        self.router = eventbus.EventRouter(REGION, self.invoke)
        self.streams = StreamPoller(REGION, self.invoke, lambda name: self.functions.get(name).arn)
        self.routes: list[Route] = []
        self.stream_label = "local"  # set at start
        self.state_machine_arns: dict[str, str] = {}
        self.buckets: dict[str, str] = {}
        self.state = LocalState(self.state_dir) if self.state_dir else None
        self.state_lock: StateLock | None = None
        self._mock: Any = None
        self._scratch: str | None = None
        self._saved_environment: dict[str, str | None] = {}
        self._environment_token: Any = None
        self._resolver = IntrinsicResolver(self.template, self._resolve_resource, {})

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalCloud:
        from moto import mock_aws

        # Every table stream's label (moto's form: the creation time), known before the tables are created.
        self.stream_label = datetime.datetime.now(datetime.UTC).replace(tzinfo=None).isoformat()

        if self.state is not None and self.state_lock is None:
            # One writer per state directory, from start to stop: raises StateLocked when another holds it.
            self.state_lock = self.state.lock(self.lock_holder).acquire()
        environment = dict(LOCAL_ENVIRONMENT, EMBEDDING_THREADS=str(self.embedding_threads))
        # Engines that live on disk (the embedded search index, the embedding cache) go in the state
        # directory; a cloud without one gets a temporary directory, removed at stop.
        if self.state_dir is None:
            self._scratch = tempfile.mkdtemp(prefix="cataloop-")
        data_dir = Path(self.state_dir or self._scratch)  # type: ignore[arg-type]
        declared = self.template.get("Parameters", {})
        local = {key: value for key, value in local_parameters(data_dir).items() if key in declared}
        overrides = {**local, **self.parameter_overrides}
        self._resolver = IntrinsicResolver(
            self.template, self._resolve_resource, check_parameter_overrides(self.template, overrides)
        )
        self._saved_environment = {key: os.environ.get(key) for key in environment}
        os.environ.update(environment)
        self._environment = lambdas.install_function_environments()
        if not os.environ.get("CATALOOP_DEBUG"):
            # moto's ASL interpreter logs every failed state with a stack trace; the execution history
            # already records the error and cause, which is what callers read.
            logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        moto_patches.detect_invocations(self.functions._lock._is_owned)
        moto_patches.light_transaction_backups()
        moto_patches.count_table_writes()
        moto_patches.share_botocore_data()
        # Parsed state machine definitions are kept with the state (content-addressed, like the embeddings).
        moto_patches.definitions_directory[0] = self.state_dir / DEFINITIONS if self.state_dir else None
        moto_patches.fast_item_responses()
        moto_patches.fast_item_results()
        moto_patches.fast_item_parsing()
        moto_patches.index_members_from_saved_shapes()
        moto_patches.answer_scans_from_saved_shapes()
        moto_patches.fast_item_sizes()
        moto_patches.fast_stream_records()
        lambdas.route_moto_invocations(self.functions)
        eventbus.route_rule_targets(self.router)
        creator = ResourceCreator(
            template=self.template,
            resources=self.resources,
            root=self.root,
            state_dir=self.state_dir,
            resolver=self._resolver,
            physical_name=self.physical_name,
            resolve_resource=self._resolve_resource,
            functions=self.functions,
            streams=self.streams,
            routes=self.routes,
            state_machine_arns=self.state_machine_arns,
            buckets=self.buckets,
            stream_label=self.stream_label,
        )
        creator.create_all()
        # Code that runs beside the functions (the CLI, tests, the eval) sees the stack's configuration:
        # the variables every function of the template shares, as a function would.
        self._environment_token = self._environment.overlay.set(self.shared_environment())
        if self.state is not None:
            self.state.mark_saved(self.table_versions())  # unwritten tables are not saved again
            # The saved items go in at the first DynamoDB call (a command that reads no table, like `search`,
            # never loads them). Until then no table is written, so none is saved over its file.
            moto_patches.defer_until_called("dynamodb", self._restore_tables)
            # The buckets' saved objects, likewise, after the buckets (created at the first S3 call), a group
            # of keys (the first path segment) at a time: a request that names one object, or lists under one
            # prefix, puts back that group only (reading the dictionaries does not load every search log).
            for logical, name in self.bucket_names().items():
                for group in sorted(self.state.saved_object_groups(logical)):
                    moto_patches.defer_until_called(
                        "s3",
                        functools.partial(self.state.restore_buckets, {logical: name}, group),
                        resource=f"{name}/{group}",
                    )
        return self

    def _restore_tables(self) -> None:
        assert self.state is not None
        if self.state.restore(self.table_names()):
            # Restored items are history, not new changes: the mappings start after them.
            self.streams.start_at_latest()
        self.state.mark_saved(self.table_versions())

    def stop(self, save: bool = True) -> None:
        if self._mock is None:
            self._release_state_lock()
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
            moto_patches.discard_deferred()
            lambdas.route_moto_invocations(None)
            eventbus.route_rule_targets(None)
            self._mock.stop()
            self._mock = None
            if self._environment_token is not None:
                with contextlib.suppress(ValueError):  # stopped from another context than started
                    self._environment.overlay.reset(self._environment_token)
                self._environment_token = None
            for key, old in self._saved_environment.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
            self._release_state_lock()

    def _release_state_lock(self) -> None:
        if self.state_lock is not None:
            self.state_lock.release()
            self.state_lock = None

    def save(self) -> None:
        """Write the tables and the buckets' objects to the state directory (no-op without one)."""
        if self.state is not None:
            if not moto_patches.pending("dynamodb"):  # else no table was created: the files are as they were
                # Versions read before the scans: a write during the save makes the next save write again.
                self.state.save(self.table_names(), self.table_versions())
            # When nothing touched S3, the saved objects are as they were. Else the groups of objects no
            # request reached were never put back, and their files stay as they are; the save's own listing
            # must not put them back either (it would read every group).
            if not moto_patches.untouched("s3"):
                with moto_patches.creators_held():
                    unrestored = moto_patches.pending_resources("s3")
                    self.state.save_buckets(self.bucket_names(), unrestored)

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(save=exc[0] is None)

    # ------------------------------------------------------------------ what callers use
    def shared_environment(self) -> dict[str, str]:
        """The environment variables (name and value) that every function of the template has."""
        functions = self.functions.functions
        if not functions:
            return {}
        shared = dict(functions[0].environment)
        for function in functions[1:]:
            shared = {k: v for k, v in shared.items() if function.environment.get(k) == v}
        return shared

    @contextmanager
    def as_function(self, function: str) -> Iterator[None]:
        """Run the enclosed code with one function's environment (by logical id, name or ARN), as its
        handler would see it: e.g. the search service with the ApiFunction's search-log bucket."""
        with lambdas.applied_environment(self.functions.get(function).environment):
            yield

    def settings(self) -> Any:
        """The stack's `cataloop.settings.Settings`, as every function reads them."""
        from cataloop.settings import Settings

        with lambdas.applied_environment(self.shared_environment()):
            return Settings.from_environment()

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
        # Requests as an SDK caller would batch them: at most 10 entries and 256 KB of entries per call. An
        # entry over 256 KB on its own comes back failed (ErrorCode/ErrorMessage), as in AWS.
        batches: list[list[dict[str, Any]]] = []
        batch_bytes = 0
        for entry in prepared:
            size = eventbus.entry_size(entry)
            size = size if size <= eventbus.MAX_ENTRY_BYTES else 0  # refused alone, weighs nothing
            if (
                not batches
                or len(batches[-1]) >= eventbus.MAX_ENTRIES_PER_REQUEST
                or batch_bytes + size > eventbus.MAX_ENTRY_BYTES
            ):
                batches.append([])
                batch_bytes = 0
            batches[-1].append(entry)
            batch_bytes += size
        for batch in batches:
            part = client.put_events(Entries=batch)
            response["Entries"].extend(part["Entries"])
            response["FailedEntryCount"] += part["FailedEntryCount"]
        return response

    def pump_streams(self) -> int:
        """Deliver pending stream records, then forget the ones every consumer has read."""
        if moto_patches.pending("dynamodb"):
            return 0  # no table created yet, so none written: nothing is on a stream
        delivered = self.streams.pump()
        for stream_arn, sequence in self.streams.consumed().items():
            moto_patches.trim_stream(stream_arn.split(":table/")[1].split("/")[0], sequence)
        return delivered

    def http_server(
        self,
        port: int = 0,
        local_command: Callable[[list[str], str | None], dict[str, Any]] | None = None,
        guard: Any = None,
    ) -> HttpApiServer:
        return HttpApiServer(
            self.routes,
            self.invoke,
            port,
            after_request=self.pump_streams,
            local_command=local_command,
            guard=guard,
        )

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

    def table_versions(self) -> dict[str, object]:
        """Each table's write version (logical id -> token that changes on every write to it)."""
        versions = {}
        for logical, name in self.table_names().items():
            version = moto_patches.table_version(name, ACCOUNT, REGION)
            if version is not None:
                versions[logical] = version
        return versions

    def bucket_names(self) -> dict[str, str]:
        """The S3 buckets the template created (logical id -> bucket name)."""
        return dict(self.buckets)

    def output(self, name: str) -> str | None:
        """The value of the template's output `name` on this cloud (what `describe-stacks` shows of a
        deployed stack), or None when the template has no such output or its Condition is false."""
        spec = self.template.get("Outputs", {}).get(name)
        if spec is None or ("Condition" in spec and not self._resolver.condition(spec["Condition"])):
            return None
        return str(self._resolver.resolve(spec["Value"]))

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
                # The table may not exist yet: its stream is given this label when it is created.
                return f"{arn_prefix.format('dynamodb')}:table/{name}/stream/{self.stream_label}"
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


@contextmanager
def running(template: Path, state_dir: Path | None = None, **kwargs: Any) -> Iterator[LocalCloud]:
    """Start a cloud for the duration of a block."""
    cloud = LocalCloud(template, state_dir, **kwargs)
    with cloud:
        yield cloud
