"""moto behaviours the local cloud changes, each in one place (with a test in tests/unit/test_moto_quirks.py).

- Executions run on a background thread in moto; locally they run inside StartExecution so a command
  that starts one sees its result without polling.
- TransactWriteItems deep-copies every table it touches, once per action, as a rollback backup (stream
  records included), and the copies outlive the call: measured 0.9 s -> 4.4 s per product and +1.5 GB per
  20 products on the Knowledge table. The backup is now the touched items only (and the stream length);
  a cancelled transaction restores them and emits no stream records, as in DynamoDB.
- Every execution re-parses its definition with the ANTLR grammar (0.34 s per execution measured); the
  parsed program carries no per-execution state (that lives in the Environment), so it is parsed once
  per definition.
- moto's Step Functions emits no "Step Functions Execution Status Change" events; AWS puts one on the
  default bus whenever an execution ends. `emit_execution_status_events` puts it (SUCCEEDED, FAILED,
  TIMED_OUT, ABORTED) when the execution ends, so rules on it (the redrive) run as in AWS.
- Streams keep every record forever in moto; DynamoDB trims after 24 hours. `trim_stream` drops records
  every consumer has read, keeping sequence numbers and iterator arithmetic unchanged.
- A table has no "changed since" marker in moto. `count_table_writes` gives each table a version that
  changes after every write (put, delete, in-place update; batch, transaction and PartiQL writes go through
  these), so a save skips the tables nobody wrote (`table_version`).
"""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any

_patched: set[str] = set()


# An execution started inside a function invocation (the redrive re-sending a product) cannot run on the
# invoking thread: its tasks invoke functions too, which wait for the invocation to end. It runs on its own
# thread (as every execution does in moto) and is joined once the status event that led to it is handled.
_inside_invocation: list[Any] = [lambda: False]
_background: list[threading.Thread] = []


def run_executions_synchronously() -> None:
    if "executions" in _patched:
        return
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    def start(self: Any) -> None:
        if _inside_invocation[0]():
            thread = threading.Thread(target=self._execution_logic, daemon=True)
            _background.append(thread)
            thread.start()
            return
        self._execution_logic()

    programs: dict[str, Any] = {}

    def entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        if definition not in programs:
            programs[definition] = AmazonStateLanguageParser.parse(definition)[0]
        return programs[definition]

    ExecutionWorker.start = start  # type: ignore[method-assign]
    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]
    _patched.add("executions")


def emit_execution_status_events(inside_invocation: Any = None) -> None:
    """`inside_invocation()` says whether the current thread is inside a function invocation."""
    if inside_invocation is not None:
        _inside_invocation[0] = inside_invocation
    if "status_events" in _patched:
        return
    import json
    from datetime import UTC, datetime

    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def millis(moment: Any) -> int | None:
        return int(moment.timestamp() * 1000) if isinstance(moment, datetime) else None

    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        status = getattr(execution.exec_status, "value", str(execution.exec_status))
        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": millis(execution.start_date),
            "stopDate": millis(execution.stop_date or datetime.now(UTC)),
            "input": execution.execution_input,
            "output": None if execution.output is None else json.dumps(execution.output),
            "error": execution.error,
            "cause": execution.cause,
        }
        events_backends[execution.account_id][execution.region_name].put_events(
            [
                {
                    "Source": "aws.states",
                    "DetailType": "Step Functions Execution Status Change",
                    "Detail": json.dumps(detail, ensure_ascii=False, default=str),
                    "Resources": [execution.exec_arn],
                }
            ]
        )
        if not _inside_invocation[0]():
            while _background:
                _background.pop(0).join()

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    _patched.add("status_events")


def light_transaction_backups() -> None:
    if "transactions" in _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    state = threading.local()

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        if getattr(state, "in_transaction", False):
            return self  # moto's whole-table backup: replaced by the per-item backup below
        return copy._reconstruct(self, memo, *self.__reduce_ex__(4))  # type: ignore[attr-defined]

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        touched: list[tuple[Any, Any, Any, Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            keys = op.get("Key") or {
                name: op["Item"][name]
                for name in (table.hash_key_attr, table.range_key_attr)
                if name and name in op["Item"]
            }
            hash_key, range_key = self.get_keys_value(table, keys)
            touched.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table, len(table.stream_shard.items)))
        state.in_transaction = True
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(touched):
                _restore(table, hash_key, range_key, item)
            for table, length in streams.values():
                del table.stream_shard.items[length:]  # a cancelled transaction emits no stream records
            raise
        finally:
            state.in_transaction = False

    Table.__deepcopy__ = __deepcopy__  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _patched.add("transactions")


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def trim_stream(
    table_name: str, consumed_up_to: int, account: str = "123456789012", region: str = "us-east-1"
) -> int:
    """Drop the records of `table_name`'s stream with sequence numbers <= `consumed_up_to`; returns how many."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account][region].tables.get(table_name)
    shard = getattr(table, "stream_shard", None)
    if shard is None:
        return 0
    drop = max(0, min(len(shard.items), consumed_up_to - shard.starting_sequence_number + 1))
    if drop:
        del shard.items[:drop]
        shard.starting_sequence_number += drop
    return drop


# Versions are drawn from one process-wide counter, so a table object created later (a deleted and re-created
# table, a restore from backup) never shows a version an earlier object had.
_versions = itertools.count(1)
VERSION_ATTRIBUTE = "_cataloop_version"


def _bump(table: Any) -> None:
    setattr(table, VERSION_ATTRIBUTE, next(_versions))


def count_table_writes() -> None:
    """Bump a table's version after each write to it (also after a write that raised: a spare save is safe,
    a missed one is not). Bumping after the write means a version read before a scan never hides a write
    the scan missed."""
    if "table_versions" in _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def after_table_write(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(self, *args, **kwargs)
            finally:
                _bump(self)

        return write

    original_update = DynamoDBBackend.update_item

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        # Updates change the stored item in place, not through Table.put_item.
        try:
            return original_update(self, table_name, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            if table is not None:
                _bump(table)

    Table.put_item = after_table_write(Table.put_item)  # type: ignore[method-assign]
    Table.delete_item = after_table_write(Table.delete_item)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    _patched.add("table_versions")


def table_version(table_name: str, account: str = "123456789012", region: str = "us-east-1") -> object | None:
    """A token that changes whenever `table_name` is written (None when there is no such table)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account][region].tables.get(table_name)
    if table is None:
        return None
    if getattr(table, VERSION_ATTRIBUTE, None) is None:
        _bump(table)
    return getattr(table, VERSION_ATTRIBUTE)
