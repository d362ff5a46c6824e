"""moto behaviours the local cloud changes, each in one place (with a test in tests/unit/test_moto_quirks.py).

- Executions run on a background thread in moto; locally they run inside StartExecution so a command
  that starts one sees its result without polling.
- TransactWriteItems deep-copies every table it touches, once per action, as a rollback backup (stream
  records included), and the copies outlive the call: measured 0.9 s -> 4.4 s per product and +1.5 GB per
  20 products on the Knowledge table. The backup is now the touched items only (and the stream length);
  a cancelled transaction restores them and emits no stream records, as in DynamoDB.
- moto's interpreter builds a boto3 client per task and a yacc parser per JSONPath evaluation;
  `reuse_task_clients_and_paths` keeps both (about 20% of a default demo's profile samples).
- Every execution re-parses its definition with the ANTLR grammar (0.34 s per execution measured), after
  the parse that validated it at creation; the parsed program carries no per-execution state (that lives in
  the Environment), so it is parsed once per definition.
- moto's Step Functions emits no "Step Functions Execution Status Change" events; AWS puts one on the
  default bus whenever an execution ends. `emit_execution_status_events` puts it (SUCCEEDED, FAILED,
  TIMED_OUT, ABORTED) when the execution ends, so rules on it (the redrive) run as in AWS.
- Streams keep every record forever in moto; DynamoDB trims after 24 hours. `trim_stream` drops records
  every consumer has read, keeping sequence numbers and iterator arithmetic unchanged.
- moto serialises every response by walking the output shape value by value; `fast_item_responses` encodes
  the results of DynamoDB's item operations with `json.dumps` (same body; the serializer took 4 of the 4.5
  profiled s of `cataloop kb tree`'s knowledge scans).
- Restoring saved items through BatchWriteItem serialised each item for moto to parse back; `load_items` and
  `dump_lines` put items into moto's tables and read them out directly. A restored item takes moto's types
  when first read (`SavedItem`, which answers sizes, copies and index membership from its saved shapes
  until then); a save writes the unread ones back as loaded (`cataloop events put`: restore 0.91 -> 0.17 s,
  save 0.92 -> 0.17 s on the demo's state, 0.05 s once unread items are written as their saved lines).
  A Scan with no filter answers the copies of unread items with their saved shapes
  (`answer_scans_from_saved_shapes`: `cataloop product list` 1.87 -> 1.49 s).
- botocore parses every DynamoDB answer value by value, and moto converts every result with one generic
  walk: `fast_item_parsing` and `fast_item_results` take the short way for the usual values.
- moto loads botocore's data files through sessions and loaders of its own (`share_botocore_data`), and
  every process parsed the state machines with ANTLR (`_parsed_from_disk` keeps the programs).
- Importing moto's Step Functions interpreter pulls in moto's EC2 models (through its Batch task): about
  2 s and 90 MiB per process; `light_step_functions_import` imports it without them. Creating a state
  machine parses its definition with ANTLR. `defer_until_called` creates a service's resources (and installs
  the patches they need) on the first API call to that service, whoever makes it; the execution status
  events, put straight into moto's events backend, run the EventBridge creators first (`run_deferred`).
- The same serializer wrote each DynamoDB Streams GetRecords answer (every image of every record):
  `fast_stream_records` encodes them with `json.dumps` too (3 of 4 serializer seconds of a small demo).
- moto sizes a map attribute by re-wrapping each value, which copies its whole subtree, at every level:
  quadratic in depth, run for every attribute set on an item and every item a Scan pages through (3.6 of
  a profiled 25 s `cataloop product list`). `fast_item_sizes` computes the same sizes without copies.
- A table has no "changed since" marker in moto. `count_table_writes` gives each table a version that
  changes after every write (put, delete, in-place update; batch, transaction and PartiQL writes go through
  these), so a save skips the tables nobody wrote (`table_version`).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import functools
import inspect
import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

_patched: set[str] = set()
# What a patch replaced, by patch name (a test compares the two).
originals: dict[str, Any] = {}


# An execution started inside a function invocation (the redrive re-sending a product) cannot run on the
# invoking thread: its tasks invoke functions too, which wait for the invocation to end. It runs on its own
# thread (as every execution does in moto) and is joined once the status event that led to it is handled.
_inside_invocation: list[Any] = [lambda: False]
_background: list[threading.Thread] = []


def share_botocore_data() -> None:
    """moto lists each service's regions through a botocore session of its own, which loads botocore's
    endpoint data and the service's whole model a second time (the clients' session has them): about 0.1 s
    for S3's. moto's lookups go through the clients' default session instead, whose loader keeps each file
    once. The regions are the same (tests/unit/test_moto_quirks.py). Likewise moto's own service models
    (botocore's plus moto's additions) come through one loader."""
    if "botocore_session" in _patched:
        return
    import boto3
    from moto.core.base_backend import AccountSpecificBackend

    originals["botocore_session"] = AccountSpecificBackend.get_session
    AccountSpecificBackend.get_session = classmethod(  # type: ignore[method-assign, assignment]
        lambda cls: boto3._get_default_session()._session
    )
    # moto reads each service's model (with its own additions) through a new loader per service, and each
    # new loader lists botocore's ~400 service directories again (about 20 ms a service): one loader.
    import moto.core.utils

    originals["moto_loader"] = moto.core.utils.create_loader
    moto.core.utils.create_loader = functools.cache(moto.core.utils.create_loader)  # type: ignore[attr-defined]
    _patched.add("botocore_session")


def light_step_functions_import() -> None:
    """Import moto's Step Functions interpreter without moto's Batch and EC2 models. Its Batch task imports
    `moto.batch.utils` (an enum of job states), whose package `__init__` loads every Batch and EC2 model:
    measured +90 MiB and about 2 s per process at the first execution. The utils module is imported under a
    package whose `__init__` has not run; the package entry is then dropped again, so a real Batch call
    later imports the whole package as usual (our state machines make none)."""
    import importlib
    import importlib.util
    import sys

    if "moto.batch" in sys.modules or "moto.batch.utils" in sys.modules:
        return
    spec = importlib.util.find_spec("moto.batch")
    if spec is None:
        return
    sys.modules["moto.batch"] = importlib.util.module_from_spec(spec)
    try:
        importlib.import_module("moto.batch.utils")
    finally:
        del sys.modules["moto.batch"]


def run_executions_synchronously() -> None:
    if "executions" in _patched:
        return
    light_step_functions_import()
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    def start(self: Any) -> None:
        if _inside_invocation[0]():
            thread = threading.Thread(target=self._execution_logic, daemon=True)
            _background.append(thread)
            thread.start()
            return
        self._execution_logic()

    # One parse per definition and process: moto parses it with ANTLR to validate it at creation and again
    # at every execution; the parsed program carries no per-execution state (that lives in the Environment).
    # Failures are not cached (lru_cache keeps results only), so a bad definition fails every time.
    cached_parse = functools.lru_cache(maxsize=64)(_parsed_from_disk(AmazonStateLanguageParser.parse))

    def entrypoint(self: Any) -> Any:
        return cached_parse(self._evaluation_details.state_machine_details.definition)[0]

    AmazonStateLanguageParser.parse = staticmethod(cached_parse)  # type: ignore[method-assign]
    ExecutionWorker.start = start  # type: ignore[method-assign]
    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]
    _patched.add("executions")
    reuse_task_clients_and_paths()


# Where parsed state machine definitions are kept between processes (None: not kept); the local cloud sets it
# to its state directory's `definitions/`.
definitions_directory: list[Any] = [None]


def _parsed_from_disk(parse: Any) -> Any:
    """`parse` (ANTLR: 0.33 s for the enrichment definition, plus the grammar's import, in every command that
    starts an execution) behind a cache of its program in `definitions_directory`, pickled under a hash of
    moto's version and the definition text, so a changed definition or moto is parsed afresh. Only the program
    is kept (nothing in moto reads the parse tree when creating or running a state machine); a file that
    cannot be read back is parsed again and rewritten."""

    def parse_or_load(definition: str) -> tuple[Any, Any]:
        import hashlib
        import pickle
        from pathlib import Path

        from moto import __version__

        directory = definitions_directory[0]
        if directory is None:
            return parse(definition)  # type: ignore[no-any-return]
        key = hashlib.sha256(f"{__version__}\0{definition}".encode()).hexdigest()
        path = Path(directory) / f"{key}.pickle"
        try:
            return pickle.loads(path.read_bytes()), None
        except Exception:  # absent, or written by another moto or Python: parse again
            pass
        program, tree = parse(definition)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
            temporary.write_bytes(pickle.dumps(program))
            temporary.replace(path)
        except OSError:
            pass  # a read-only state directory parses every time
        return program, tree

    return parse_or_load


def reuse_task_clients_and_paths() -> None:
    """moto's interpreter builds a new boto3 client for every task it runs (10% of a default demo's samples)
    and compiles every JSONPath with a fresh yacc parser each time it evaluates one (another 10%). Clients
    are kept per (service, region) (botocore clients are thread-safe; moto's own builder ignores the state's
    credentials) and compiled paths per text (a compiled path holds no state between finds)."""
    if "task_clients" in _patched:
        return
    import sys

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import boto_client, json_path

    original_client = boto_client.boto_client_for

    @functools.lru_cache(maxsize=64)
    def shared_client(region: str, service: str, intercepting: bool) -> Any:
        return original_client(region, service)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        from moto.core.models import botocore_stubber

        return shared_client(region, service, botocore_stubber.enabled)

    # Each task module imported the function by name: replace it where it was imported.
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions.parser")
            and getattr(module, "boto_client_for", None) is original_client
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)  # type: ignore[attr-defined]
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)  # type: ignore[attr-defined]
    _patched.add("task_clients")


def detect_invocations(inside_invocation: Any) -> None:
    """`inside_invocation()` says whether the current thread is inside a function invocation (an execution
    started there runs on its own thread)."""
    _inside_invocation[0] = inside_invocation


def emit_execution_status_events() -> None:
    if "status_events" in _patched:
        return
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
        run_deferred("events")  # put straight into the backend: the rules must exist first
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
    table = _backend(account, region).tables.get(table_name)
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
    table = _backend(account, region).tables.get(table_name)
    if table is None:
        return None
    if getattr(table, VERSION_ATTRIBUTE, None) is None:
        _bump(table)
    return getattr(table, VERSION_ATTRIBUTE)


def label_stream(
    table_name: str, label: str, account: str = "123456789012", region: str = "us-east-1"
) -> None:
    """Give the table's stream `label` (moto labels it with its creation time; the ARN is the table's ARN,
    "/stream/" and the label, worked out whenever asked), so that its ARN can be known before the table is
    created."""
    _backend(account, region).get_table(table_name).latest_stream_label = label


def _backend(account: str, region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region]


def load_items(
    table_name: str,
    items: list[dict[str, Any]],
    lines: list[str] | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
) -> None:
    """Put saved items (the low-level client's AttributeValue shapes) straight into moto's table, as stored
    items, not as writes: no request to serialise and parse back, no stream record (restored items are
    history, not changes), and no item-size check, which moto runs once per attribute over all attributes
    set so far (the items were checked when first written). Through BatchWriteItem the restore took 9 of 26
    profiled seconds of `cataloop kb tree` on the demo's state. Each item's attributes become moto's types
    when something first reads them (`SavedItem`); `lines`, each item's text as saved, is what `dump_lines`
    writes back for an item nothing read. The items must hold no binary value: moto stores those in the form
    its request parser gives them, so the caller sends them through the API."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _backend(account, region).get_table(table_name)
    saved_item = _saved_item_class()
    for index, attributes in enumerate(items):
        hash_key = DynamoType(attributes[table.hash_key_attr])
        range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
        item = saved_item(hash_key, range_key, attributes, lines[index] if lines is not None else None)
        if range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item
    _bump(table)


@functools.cache
def _saved_item_class() -> type:
    """`SavedItem`: a moto `Item` restored from the state directory. Its attributes become moto's
    `DynamoType`s (one object per value, nested ones too: 83,000 for the demo's tables, most of a restore's
    time) when something first reads `attrs`; until then it holds the saved shapes, which a save writes back
    unchanged (`saved_shape`). A read may be followed by an in-place update, so once `attrs` was read, or
    set, the item is saved from its attributes.

    Until then the saved shapes also answer what a Scan or Query asks of every item it passes: its size
    (moto's rules, worked out once) and a deep copy (another `SavedItem` on the same shapes, which nothing
    changes: the attributes built from them copy every list). The copy takes moto's types for the answer;
    the stored item keeps its shapes."""
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    class SavedItem(Item):
        # A Scan's copy that only goes into the answer (answer_scans_from_saved_shapes); a class attribute,
        # as moto's own deepcopy of a read item makes its copy without __init__.
        answer_only = False

        def __init__(
            self, hash_key: Any, range_key: Any, saved: dict[str, Any], line: str | None = None
        ) -> None:
            self.hash_key = hash_key
            self.range_key = range_key
            self._saved: dict[str, Any] | None = saved
            self._line = line
            self._attributes: Any = None
            self._size: int | None = None

        @property  # type: ignore[override]
        def attrs(self) -> Any:
            if self.answer_only and self._saved is not None:
                return SavedShapes(self._saved)
            if self._attributes is None:
                attributes = LimitedSizeDict.__new__(LimitedSizeDict)  # sizes were checked when written
                dict.update(attributes, {key: typed(value) for key, value in (self._saved or {}).items()})
                self._attributes, self._saved, self._size = attributes, None, None
            return self._attributes

        @attrs.setter
        def attrs(self, value: Any) -> None:
            self._attributes, self._saved, self._size = value, None, None

        @property
        def saved_shape(self) -> dict[str, Any] | None:
            """The item as saved while its attributes were never read, else None."""
            return self._saved

        @property
        def saved_line(self) -> str | None:
            """The item's text as saved while its attributes were never read (when it was given), else None."""
            return self._line if self._saved is not None else None

        def size(self) -> int:
            if self._saved is None:
                return super().size()
            if self._size is None:
                self._size = sum(_bytesize(key) + shape_size(value) for key, value in self._saved.items())
            return self._size

        def __deepcopy__(self, memo: dict[int, Any]) -> Any:
            if self._saved is None:
                return super().__deepcopy__(memo)
            twin = SavedItem(
                copy.deepcopy(self.hash_key, memo), copy.deepcopy(self.range_key, memo), self._saved
            )
            twin._size = self._size
            return twin

    return SavedItem


class SavedShapes(dict):  # type: ignore[type-arg]
    """An item's attributes as saved (AttributeValue JSON shapes): what a Scan's answer holds for a restored
    item nobody read, instead of moto's types built only to be turned back into these shapes."""


def answer_scans_from_saved_shapes() -> None:
    """A Scan copies every item it returns and its answer reads each copy's attributes, which gives a
    restored item's copy moto's types (`typed`) only to turn them back into JSON shapes: for a Scan with no
    filter, projection or index, the copies of items nobody read answer with their saved shapes instead
    (`SavedShapes`, passed through by `fast_item_results`). The stored items are untouched either way; a
    filtered, projected or index Scan reads the copies' attributes as before. The answer is moto's
    (tests/unit/test_moto_quirks.py compares both, paginated too)."""
    if "scan_answers" in _patched:
        return
    from moto.dynamodb.comparisons import OpDefault
    from moto.dynamodb.models.table import Table

    original = originals["scan_answers"] = Table.scan
    signature = inspect.signature(original)

    def scan(*args: Any, **kwargs: Any) -> Any:
        results, scanned_count, last_evaluated_key = original(*args, **kwargs)
        asked = signature.bind(*args, **kwargs)
        asked.apply_defaults()
        request = asked.arguments
        expression = request["filter_expression"]
        unfiltered = not request["filters"] and (expression is None or isinstance(expression, OpDefault))
        if unfiltered and not request["index_name"] and not request["projection_expression"]:
            for item in results:
                if getattr(item, "saved_shape", None) is not None:
                    item.answer_only = True
        return results, scanned_count, last_evaluated_key

    Table.scan = scan  # type: ignore[method-assign]
    _patched.add("scan_answers")


def index_members_from_saved_shapes() -> None:
    """moto finds the items of a global secondary index by reading every item's attributes for the index's
    keys, which gives every restored item moto's types (`SavedItem`): the demo's 811 knowledge items for one
    ActiveLearnings query. A restored item nobody read answers from its saved shape; the list (and its
    order) is moto's (tests/unit/test_moto_quirks.py compares both)."""
    if "index_members" in _patched:
        return
    from moto.dynamodb.models.table import Table

    originals["index_members"] = Table.has_idx_items

    def has_idx_items(self: Any, index_name: str) -> list[Any]:
        columns = {key["AttributeName"] for key in self.get_index(index_name).schema}
        stored = (
            item
            for group in self.items.values()
            for item in (group.values() if self.range_key_attr else (group,))
        )
        return [item for item in stored if columns.issubset(getattr(item, "saved_shape", None) or item.attrs)]

    Table.has_idx_items = has_idx_items  # type: ignore[method-assign]
    _patched.add("index_members")


def typed(shape: dict[str, Any]) -> Any:
    """`DynamoType(shape)` built directly (the same type and value; tests/unit/test_moto_quirks.py compares
    them), with every set's list copied: moto adds to a string set in place, which must not reach the
    saved shape another item may share."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    kind = next(iter(shape))
    value = shape[kind]
    result = DynamoType.__new__(DynamoType)
    result.type = kind
    if kind == "M":
        result.value = {key: typed(member) for key, member in value.items()}
    elif kind == "L":
        result.value = [typed(member) for member in value]
    elif kind in ("SS", "NS", "BS"):
        result.value = list(value)
    else:
        result.value = value
    return result


def _bytesize(value: Any) -> int:
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


def shape_size(shape: dict[str, Any]) -> int:
    """`DynamoType(shape).size()` under `fast_item_sizes`' rules, from the saved shape."""
    kind = next(iter(shape))
    value = shape[kind]
    if kind == "N":
        return len(str(value))
    if kind == "NS":
        return sum(len(str(member)) for member in value)
    if kind in ("SS", "BS"):
        return sum(_bytesize(member) for member in value)
    if kind == "L":
        return sum(shape_size(member) for member in value)
    if kind == "M":
        return sum(_bytesize(key) + shape_size(member) for key, member in value.items())
    if isinstance(value, bool):
        return 1
    return _bytesize(value)


def dump_lines(
    table_name: str, encode: Any, account: str = "123456789012", region: str = "us-east-1"
) -> list[str]:
    """Every item of the table as a line of text: the saved line of a restored item nothing read, else
    `encode` of the item in the low-level client's shapes, as a full Scan returns them (moto's own
    conversion for its responses), without serialising a response and parsing it back."""
    from moto.dynamodb.responses import dynamo_to_dict

    table = _backend(account, region).get_table(table_name)
    return [
        getattr(item, "saved_line", None)
        or encode(getattr(item, "saved_shape", None) or dynamo_to_dict(item.attrs))
        for item in table.all_items()
    ]


# DynamoDB's item operations that answer with items (BatchWriteItem and TransactWriteItems answer with
# moto's plain ActionResult, small and left alone): their results are AttributeValue maps, counts, keys and
# capacities, all plain JSON once bytes are base64-encoded.
ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "TransactGetItems",
    }
)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def fast_item_responses() -> None:
    """Encode the results of DynamoDB's item operations with `json.dumps`. moto's generic serializer walks
    the output shape value by value through an attribute picker (about 30 µs a value): a Scan of the demo's
    knowledge table spent 4 of its 4.5 profiled seconds there. The body is the one that serializer writes:
    the output shape's members that are set, AttributeValues as they are, binary values base64-encoded
    (tests/unit/test_moto_quirks.py compares both on every item operation). Errors and every other operation
    keep moto's serializer."""
    if "item_responses" in _patched:
        return
    from moto.dynamodb.responses import DynamoResult

    original = originals["item_responses"] = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        operation = context.operation_model
        if operation.name not in ITEM_OPERATIONS or not isinstance(self.result, dict):
            return original(self, context)
        members = operation.output_shape.members
        body = {key: value for key, value in self.result.items() if key in members and value is not None}
        content_type = f"application/x-amz-json-{operation.service_model.metadata.get('jsonVersion', '1.0')}"
        return 200, {"Content-Type": content_type}, json.dumps(body, default=_json_default)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    _patched.add("item_responses")


def fast_item_results() -> None:
    """moto turns each DynamoDB result into plain JSON shapes with one generic function that asks every
    value whether it is a datetime, a DynamoType, or has `to_json`; this walks the usual item values (maps,
    lists, strings, numbers, booleans, nulls and string or number sets) directly and hands anything else to
    moto's function. 0.4-0.5 of the 1.3-1.6 s a Scan of the demo's 321 products took (three runs each);
    tests/unit/test_moto_quirks.py compares both."""
    if "item_results" in _patched:
        return
    import moto.dynamodb.responses as responses
    from moto.dynamodb.models.dynamo_type import DynamoType

    slow = originals["item_results"] = responses.dynamo_to_dict
    copied = ("S", "N", "BOOL", "NULL")
    sets = ("SS", "NS")
    scalars = (str, int, float, bool, type(None))

    def plain(value: Any) -> Any:
        kind = type(value)
        if kind is SavedShapes:
            return value  # already JSON shapes (answer_scans_from_saved_shapes)
        if kind is DynamoType:
            tag, inner = value.type, value.value
            if tag == "M":
                return {"M": {key: plain(member) for key, member in inner.items()}}
            if tag == "L":
                return {"L": [plain(member) for member in inner]}
            if tag in copied:
                return {tag: inner}
            if tag in sets:
                return {tag: list(inner)}
            return slow(value)
        if kind in scalars:
            return value
        if kind is list:
            return [plain(member) for member in value]
        if isinstance(value, dict) and not hasattr(value, "to_json"):
            return {key: plain(member) for key, member in value.items()}
        return slow(value)

    responses.dynamo_to_dict = plain  # type: ignore[attr-defined]
    _patched.add("item_results")


# The output shapes of those operations (each has a ConsumedCapacity member, which tells them from another
# service's shape of the same name).
ITEM_OUTPUT_SHAPES = frozenset(f"{operation}Output" for operation in ITEM_OPERATIONS)


def fast_item_parsing() -> None:
    """Parse the answers of DynamoDB's item operations with `json.loads`. botocore walks the output shape
    value by value to turn base64 text into bytes (its parse took 1.5 of 5.1 profiled seconds of a Scan of
    the demo's 321 products); an answer with no binary value and no JSON null (which botocore drops) parses
    to what `json.loads` gives, so only those take the short way. Anything else, or a key the shape does not
    have, goes to botocore's parser (tests/unit/test_moto_quirks.py compares both on every item operation)."""
    if "item_parsing" in _patched:
        return
    from botocore.parsers import JSONParser

    original = originals["item_parsing"] = JSONParser._handle_json_body

    def _handle_json_body(self: Any, raw_body: Any, shape: Any) -> Any:
        if shape is not None and shape.name in ITEM_OUTPUT_SHAPES and "ConsumedCapacity" in shape.members:
            body = raw_body if isinstance(raw_body, bytes) else str(raw_body or "").encode("utf-8")
            if body and b'"B":' not in body and b'"BS":' not in body and b"null" not in body:
                parsed = json.loads(body)
                if isinstance(parsed, dict) and parsed.keys() <= shape.members.keys():
                    return parsed
        return original(self, raw_body, shape)

    JSONParser._handle_json_body = _handle_json_body  # type: ignore[method-assign]
    _patched.add("item_parsing")


# Resource creators waiting for the first request to their service, by the endpoint host's service label
# ("states", "lambda", "dynamodb", "sqs", "events", "s3"), each with the one resource it creates when that
# can be told from a request (a function's name) or None; `run_deferred` runs them.
_deferred: dict[str, list[tuple[str | None, Any]]] = {}
_deferred_lock = threading.RLock()
_creating = threading.local()  # set while this thread runs creators: their own requests pass through


def defer_until_called(endpoint_prefix: str, create: Any, resource: str | None = None) -> None:
    """Run `create()` just before the first request to the service whose endpoint host starts with
    `endpoint_prefix`, from any client (a handler's, the CLI's, moto's own Step Functions tasks). With
    `resource`, a request that names only that resource (an invocation of the function, a call about one
    state machine or its executions, an object or a prefix of one group of a bucket's keys) runs only its
    creator and the service's unnamed ones (the functions' role, the buckets); any other request runs them
    all."""
    with _deferred_lock:
        _deferred.setdefault(endpoint_prefix, []).append((resource, create))
    create_deferred_resources()


def pending(endpoint_prefix: str) -> bool:
    """Whether any of the service's deferred resources waits for its first call still."""
    return endpoint_prefix in _deferred


def untouched(endpoint_prefix: str) -> bool:
    """Whether no request has reached the service yet: unnamed creators of it (which any request runs) are
    still waiting. Named ones may wait long after the first request (those no request has named)."""
    with _deferred_lock:
        creators = _deferred.get(endpoint_prefix, [])
        return any(named is None for named, _ in creators)


def pending_resources(endpoint_prefix: str) -> set[str]:
    """The named resources of the service whose creators have not run (no request has named them yet)."""
    with _deferred_lock:
        return {named for named, _ in _deferred.get(endpoint_prefix, []) if named is not None}


def run_deferred(endpoint_prefix: str, resource: str | None = None) -> None:
    """Create the service's deferred resources now (also what a request to the service does first): all of
    them, or with `resource` the unnamed ones and that one. The creators stay listed until they have run
    and the lock is held meanwhile: another thread calling the service waits for its resources instead of
    finding none. The creators' own requests pass through."""
    with _deferred_lock:
        if getattr(_creating, "now", False):
            return
        _creating.now = True
        try:
            creators = _deferred.get(endpoint_prefix, [])
            for entry in list(creators):
                named, create = entry
                if resource is None or named is None or named == resource:
                    create()
                    creators.remove(entry)  # it leaves the list once it has run
            if not creators:
                _deferred.pop(endpoint_prefix, None)
        finally:
            _creating.now = False


def _invoked_function(path: str) -> str | None:
    """The function a Lambda Invoke request names (`/2015-03-31/functions/<name or ARN>/invocations`),
    without its qualifier; None for any other request."""
    from urllib.parse import unquote

    parts = path.split("/")
    if len(parts) != 5 or parts[2] != "functions" or parts[4] != "invocations":
        return None
    name = unquote(parts[3])
    if name.startswith("arn:"):
        name = name.split(":")[6] if len(name.split(":")) > 6 else name
    return name.split(":")[0]


def _named_state_machine(request: Any) -> str | None:
    """The state machine a Step Functions request names (its `stateMachineArn`, or the machine of its
    `executionArn`: `arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME`); None when it names none (a
    listing) or the body is not JSON."""
    body = request.body
    if not body:
        return None
    try:
        loaded = json.loads(body)
    except ValueError:
        return None
    if not isinstance(loaded, dict):
        return None
    for key, kind in (("stateMachineArn", "stateMachine"), ("executionArn", "execution")):
        parts = str(loaded.get(key) or "").split(":")
        if len(parts) >= 7 and parts[2] == "states" and parts[5] == kind:
            return parts[6]
    return None


@contextlib.contextmanager
def creators_held() -> Iterator[None]:
    """No deferred creator runs meanwhile: this thread's requests pass them by (as the creators' own requests
    do) and other threads' wait. A save lists what is in moto, not what its listing would have put back, and
    no group is put back half-way through it."""
    with _deferred_lock:
        previous = getattr(_creating, "now", False)
        _creating.now = True
        try:
            yield
        finally:
            _creating.now = previous


def s3_object_group(key: str) -> str:
    """The group a saved S3 object is restored with: its key's first path segment (`search-log` for
    `search-log/dt=.../x.jsonl`, `dictionaries` for `dictionaries/current.json`, the key itself when it has
    no `/`)."""
    return key.split("/", 1)[0]


def _named_s3_group(url: Any, headers: Any) -> str | None:
    """`BUCKET/GROUP` for an S3 request that reaches only one group of a bucket's objects: one naming an
    object key (GetObject, PutObject, HeadObject, DeleteObject...) or listing under a prefix with a `/`; None
    for every other request (a listing of the whole bucket, a copy, a bucket-level call, list_buckets), which
    needs every object there."""
    from urllib.parse import parse_qs, unquote

    if headers.get("x-amz-copy-source"):
        return None  # the copy's source may be in another group
    labels = (url.hostname or "").split(".")
    at = next((i for i, label in enumerate(labels) if label == "s3" or label.startswith("s3-")), None)
    path = unquote(url.path or "/").lstrip("/")
    if at is None:
        return None
    if at > 0:  # virtual-hosted style: bucket.s3.amazonaws.com/key
        bucket, key = ".".join(labels[:at]), path
    else:  # path style: s3.amazonaws.com/bucket/key
        bucket, _, key = path.partition("/")
    if not bucket:
        return None
    if key:
        return f"{bucket}/{s3_object_group(key)}"
    prefix = (parse_qs(url.query).get("prefix") or [""])[0]
    if "/" in prefix:
        return f"{bucket}/{s3_object_group(prefix)}"
    return None


def discard_deferred() -> None:
    """Forget the creators not run yet (the local cloud stopped)."""
    with _deferred_lock:
        _deferred.clear()


def create_deferred_resources() -> None:
    if "deferred" in _patched:
        return
    from urllib.parse import urlsplit

    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        if _deferred and not getattr(_creating, "now", False):
            url = urlsplit(request.url)
            labels = (url.hostname or "").split(".")
            # The service is the host's first label ("dynamodb.us-east-1...", "streams.dynamodb..."), except
            # S3's virtual-hosted style, where the bucket comes first ("bucket.s3.amazonaws.com").
            prefix = labels[0] if labels[0] in _deferred else ("s3" if "s3" in labels else None)
            if labels[0] == "streams" and "dynamodb" in _deferred:
                prefix = "dynamodb"  # a table's stream needs the table
            if prefix in _deferred:
                # An invocation needs its function's record only (6 of the 15 for an enrichment), an
                # execution its state machine only, an object read its group of saved objects only.
                named = None
                if prefix == "lambda":
                    named = _invoked_function(url.path)
                elif prefix == "states":
                    named = _named_state_machine(request)
                elif prefix == "s3":
                    named = _named_s3_group(url, request.headers)
                run_deferred(prefix, named)
        return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    _patched.add("deferred")


def fast_item_sizes() -> None:
    """`DynamoType.size` with moto's rules (numbers by their text, strings and binaries by their bytes, a
    map's keys plus its values, lists and sets by their members, booleans and nulls 1 byte) but without
    copying a map's values to size them (tests/unit/test_moto_quirks.py compares both on nested items)."""
    if "item_sizes" in _patched:
        return
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    originals["item_sizes"] = DynamoType.size

    def size(self: Any) -> int:
        if self.is_number():
            return len(str(self.value))
        if self.is_set():
            sub_type = self.type[0]
            return sum(DynamoType({sub_type: value}).size() for value in self.value)
        if self.is_list():
            return sum(value.size() for value in self.value)
        if self.is_map():
            return sum(
                bytesize(key) + (value if type(value) is DynamoType else DynamoType(value)).size()
                for key, value in self.value.items()
            )
        if isinstance(self.value, bool):
            return 1
        return bytesize(self.value)

    DynamoType.size = size  # type: ignore[method-assign]
    _patched.add("item_sizes")


def fast_stream_records() -> None:
    """Encode DynamoDB Streams' GetRecords answers with `json.dumps`: the record images are AttributeValues
    as the table keeps them, the creation time becomes epoch seconds as the serializer writes it (millisecond
    precision). tests/unit/test_moto_quirks.py compares both bodies."""
    if "stream_records" in _patched:
        return
    from moto.core.responses import ActionResult
    from moto.core.serialize import TimestampSerializer
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def default(value: Any) -> Any:
        if isinstance(value, datetime.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
            return TimestampSerializer._timestamp_unixtimestamp(aware.astimezone(datetime.UTC))
        return _json_default(value)

    class Records(ActionResult):
        def execute_result(self, context: Any) -> Any:
            body = self.result if isinstance(self.result, dict) else {}
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body, default=default)

    original = originals["stream_records"] = DynamoDBStreamsHandler.get_records

    def get_records(self: Any) -> Any:
        return Records(original(self).result)

    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign]
    _patched.add("stream_records")
