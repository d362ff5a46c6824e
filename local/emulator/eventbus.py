"""EventBridge targets moto does not deliver itself: Step Functions state machines and Lambda functions.

moto matches rules with its own `EventPattern` and delivers SQS/log targets, but silently skips `states`
and `lambda` targets. We wrap `Rule.send_to_targets` once: moto keeps delivering its own target kinds, and for the
other two target kinds we start the execution (named after the event id, so a redelivered event starts
no second execution) or invoke the function asynchronously, as EventBridge would. A target that cannot
be reached goes to the rule's dead-letter queue when one is configured, as in AWS.

PutEvents keeps AWS's limits, which moto does not check: at most 10 entries per call, and each entry at most
256 KB counted as AWS counts it (`entry_size`); a larger entry comes back as a failed entry and is not
delivered. Payloads the local cloud writes (execution input, dead letters) are UTF-8 JSON, not ASCII escapes,
so sizes match what AWS would see.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cataloop.wiring import aws_client

MAX_ENTRIES_PER_REQUEST = 10
MAX_ENTRY_BYTES = 256 * 1024
ENTRY_TOO_LARGE = "ValidationException"
KEEP_DELIVERIES = 1000


def entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge computes it: the UTF-8 bytes of Source, DetailType, Detail
    and each of Resources, plus 14 when Time is set ("Calculating PutEvents event entry size")."""
    size = 14 if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if isinstance(value, str):
            size += len(value.encode("utf-8"))
    for resource in entry.get("Resources") or []:
        if isinstance(resource, str):
            size += len(resource.encode("utf-8"))
    return size


def oversize_entry(size: int) -> dict[str, str]:
    """The failed result entry for an event over the size limit."""
    return {
        "ErrorCode": ENTRY_TOO_LARGE,
        "ErrorMessage": f"EventBridge PutEvents entry size {size} bytes exceeds the limit of "
        f"{MAX_ENTRY_BYTES} bytes (256KB).",
    }


@dataclass
class Delivery:
    rule: str
    target_arn: str
    event_id: str
    ok: bool
    detail: str = ""
    execution_arn: str | None = None  # the execution a state-machine target started


@dataclass
class EventRouter:
    """Delivers matched events to state-machine and Lambda targets; records the last `KEEP_DELIVERIES`
    deliveries (a long `cataloop serve` must not grow with every event it delivered)."""

    region: str
    invoke_function: Callable[[str, Any], Any]
    deliveries: deque[Delivery] = field(default_factory=lambda: deque(maxlen=KEEP_DELIVERIES))
    delivered: int = 0  # deliveries ever recorded (`deliveries_since` counts from it)

    def deliveries_since(self, delivered: int) -> list[Delivery]:
        """The deliveries recorded after `delivered` had been (the value of `.delivered` before a PutEvents):
        what that call delivered, in order (at most the last `KEEP_DELIVERIES`)."""
        count = max(0, min(self.delivered - delivered, len(self.deliveries)))
        return list(self.deliveries)[len(self.deliveries) - count :]

    def deliver(
        self, rule: Any, raw_event: dict[str, Any], targets: list[dict[str, Any]] | None = None
    ) -> None:
        """Deliver to `targets` (default: the rule's state-machine and Lambda targets)."""
        event = as_delivered(raw_event)
        for target in rule.targets if targets is None else targets:
            arn: str = target["Arn"]
            service = arn.split(":")[2]
            if service not in ("states", "lambda"):
                continue
            payload = _target_input(target, event)
            try:
                execution_arn = None
                if service == "states":
                    execution_arn = self._start_execution(arn, event, payload)
                else:
                    self.invoke_function(arn, payload)
                self._record(Delivery(rule.name, arn, event["id"], True, execution_arn=execution_arn))
            except Exception as error:
                self._record(Delivery(rule.name, arn, event["id"], False, str(error)))
                self._dead_letter(target, event, error)

    def _record(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.delivered += 1

    def _start_execution(self, arn: str, event: dict[str, Any], payload: Any) -> str:
        client = aws_client("stepfunctions", self.region)
        # Execution names are at most 80 characters; an event id is a UUID.
        started = client.start_execution(
            stateMachineArn=arn, name=event["id"][:80], input=json.dumps(payload, ensure_ascii=False)
        )
        return str(started["executionArn"])

    def _dead_letter(self, target: dict[str, Any], event: dict[str, Any], error: Exception) -> None:
        dlq_arn = target.get("DeadLetterConfig", {}).get("Arn")
        if not dlq_arn:
            raise error
        queue_name = dlq_arn.split(":")[5]
        sqs = aws_client("sqs", self.region)
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(event, ensure_ascii=False),
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": type(error).__name__},
                "ERROR_MESSAGE": {"DataType": "String", "StringValue": str(error)[:1000]},
                "RULE_ARN": {"DataType": "String", "StringValue": target.get("Arn", "")},
            },
        )


def as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a target. moto's copy carries `time` as epoch seconds and an
    extra `ingestion-time`; the real envelope has an ISO-8601 `time` and no such field."""
    delivered = {key: value for key, value in event.items() if key != "ingestion-time"}
    if isinstance(delivered.get("time"), int | float):
        moment = datetime.fromtimestamp(delivered["time"], tz=UTC)
        delivered["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return delivered


def _target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    if "Input" in target:
        return json.loads(target["Input"])
    path = target.get("InputPath")
    if path:
        value: Any = event
        for part in path.removeprefix("$").strip(".").split("."):
            if part:
                value = value[part]
        return value
    return event


_router: EventRouter | None = None
_patched = False
_lock = threading.Lock()
_targets_lock = threading.Lock()


def route_rule_targets(router: EventRouter | None) -> None:
    """Attach `router` to moto's rule delivery (None detaches). Patches moto once per process."""
    global _router, _patched
    with _lock:
        _router = router
        if _patched:
            return
        from moto.events.models import Rule

        original = Rule.send_to_targets

        def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
            # moto raises NotImplementedError for state-machine and Lambda targets: hand it the others only.
            # The swap of the shared rule's targets is serialised: producers on several threads put events
            # at once, and a second thread reading the swapped (empty) list would deliver nothing (the
            # one product in 500 a soak lost). The delivery to our targets runs outside the lock.
            with _targets_lock:
                all_targets = list(self.targets)
                ours = [t for t in all_targets if t["Arn"].split(":")[2] in ("states", "lambda")]
                self.targets = [t for t in all_targets if t not in ours]
                try:
                    original(self, original_event, transform_input)
                finally:
                    self.targets = all_targets
            if ours and _router is not None and self.event_pattern.matches_event(original_event):
                _router.deliver(self, original_event, ours)

        Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
        _enforce_put_events_limits()
        _patched = True


def _enforce_put_events_limits() -> None:
    """Wrap moto's PutEvents (which checks the entry count only) with the size limit, like AWS."""
    from moto.events.models import EventsBackend

    original = EventsBackend.put_events

    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(events) > MAX_ENTRIES_PER_REQUEST:
            return original(self, events)  # moto raises AWS's ValidationException
        sizes = [entry_size(event) for event in events]
        accepted = [event for event, size in zip(events, sizes, strict=True) if size <= MAX_ENTRY_BYTES]
        if sum(size for size in sizes if size <= MAX_ENTRY_BYTES) > MAX_ENTRY_BYTES:
            from moto.events.exceptions import ValidationException

            raise ValidationException("Total size of the entries in the request is over the limit.")
        results = iter(original(self, accepted) if accepted else [])
        return [next(results) if size <= MAX_ENTRY_BYTES else oversize_entry(size) for size in sizes]

    EventsBackend.put_events = put_events  # type: ignore[method-assign]
