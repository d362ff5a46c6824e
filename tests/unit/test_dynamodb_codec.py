"""`from_item` decodes items in one pass; it must give what boto3's deserialiser plus `plain` give."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from hypothesis import given, settings
from hypothesis import strategies as st

from cataloop.adapters.dynamodb_codec import from_item, plain, to_item

numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9).map(
        str
    ),
    st.sampled_from(["1e2", "2.0", "0", "-0.50", "12345678901234567890.5"]),
)
leaves = st.one_of(
    st.text(max_size=8).map(lambda text: {"S": text}),
    numbers.map(lambda number: {"N": number}),
    st.booleans().map(lambda flag: {"BOOL": flag}),
    st.just({"NULL": True}),
    st.binary(min_size=1, max_size=4).map(lambda data: {"B": data}),
    st.sets(st.text(min_size=1, max_size=4), min_size=1, max_size=3).map(
        lambda values: {"SS": sorted(values)}
    ),
    st.sets(st.integers(-99, 99).map(str), min_size=1, max_size=3).map(lambda values: {"NS": sorted(values)}),
)
attributes = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda values: {"L": values}),
        st.dictionaries(st.text(max_size=5), children, max_size=4).map(lambda values: {"M": values}),
    ),
    max_leaves=20,
)


def _two_passes(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {key: plain(deserializer.deserialize(value)) for key, value in item.items()}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), attributes, min_size=1, max_size=6))
def test_one_pass_decoding_is_the_deserialiser_then_plain(item: dict[str, Any]) -> None:
    assert from_item(item) == _two_passes(item)


def test_numbers_keep_their_int_or_float_kind_and_round_trips_hold() -> None:
    decoded = from_item({"whole": {"N": "2.0"}, "part": {"N": "1.50"}, "big": {"N": "1e2"}})
    assert decoded == {"whole": 2, "part": 1.5, "big": 100}
    assert [type(value) for value in decoded.values()] == [int, float, int]
    value = {"name": "x", "nested": {"list": [1, 2.5, None, True, "s"], "empty": {}}}
    assert from_item(to_item(value)) == value
