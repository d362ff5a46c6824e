"""Python values <-> DynamoDB AttributeValues. Floats become Decimals (DynamoDB has no float type)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(value: dict[str, Any]) -> dict[str, Any]:
    """Serialise a JSON-compatible dict (pydantic `model_dump(mode="json")`) to an item."""
    exact = json.loads(json.dumps(value, default=str), parse_float=Decimal)
    return {key: _serializer.serialize(item) for key, item in exact.items() if item is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """Deserialise an item; Decimals become int or float so pydantic models validate naturally."""
    return {key: _from_attribute(value) for key, value in item.items()}


def _from_attribute(attribute: Any) -> Any:
    """`_plain(TypeDeserializer().deserialize(attribute))` in one pass for strings, numbers, maps, lists,
    booleans and nulls (a product's items are nearly all of these: the two passes were 0.75 of a profiled
    2.5 s Scan of 321 products); sets and binaries take the two passes (tests/unit/test_dynamodb_codec.py
    compares both on generated items)."""
    if len(attribute) == 1:
        tag, raw = next(iter(attribute.items()))
        if tag == "S":
            return raw
        if tag == "N":
            return _plain(DYNAMODB_CONTEXT.create_decimal(raw))
        if tag == "M":
            return {key: _from_attribute(value) for key, value in raw.items()}
        if tag == "L":
            return [_from_attribute(value) for value in raw]
        if tag == "BOOL":
            return raw
        if tag == "NULL" and raw is True:
            return None
    return _plain(_deserializer.deserialize(attribute))


def stored_form(value: dict[str, Any]) -> dict[str, Any]:
    """What a put of `value` then a get returns: `from_item(to_item(value))`, without a table. The in-memory
    fakes keep this form, so they give back exactly what the DynamoDB adapters would (top-level None
    dropped, whole floats as ints, Decimals as strings as pydantic dumps them)."""
    return from_item(to_item(value))


def plain(value: Any) -> Any:
    """Decimals (from boto3's deserialiser or a resource) to int or float, recursively; other values as-is."""
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(item) for item in value]
    return value
