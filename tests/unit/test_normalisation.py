from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.domain.enrichment.normalisation import (
    PackCount,
    convert,
    format_decimal,
    normalise_text,
    normalise_value,
    parse_number,
    parse_pack_count,
    parse_quantity,
    token_overlap,
    unit_info,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("150 ml", "0.15 L"),
        ("150ML", "0.15 L"),
        ("1.5 L", "1.5 L"),
        ("야쿠르트 라이트 65ml 20개입", "0.065 L"),
        ("12 Fl Oz", "0.354882 L"),
        ("12 fl. oz.", "0.354882 L"),
        ("16 Ounce Pouch", "453.59237 g"),
        ("1 lb", "453.59237 g"),
        ("2 kg", "2000 g"),
        ("500 mg", "0.5 g"),
        ("1,000 g", "1000 g"),
        ("1,5 L", "1.5 L"),
        ("100 Count", "100 count"),
        ("100-Count", "100 count"),
    ],
)
def test_quantities_normalise_to_base_units(text: str, canonical: str) -> None:
    quantity = parse_quantity(text)
    assert quantity is not None
    assert quantity.canonical() == canonical


def test_oz_without_fl_is_mass_and_fl_oz_is_volume() -> None:
    mass, volume = parse_quantity("8 oz"), parse_quantity("8 fl oz")
    assert mass is not None and mass.dimension == "mass"
    assert volume is not None and volume.dimension == "volume"


def test_words_that_start_with_a_unit_letter_are_not_units() -> None:
    assert parse_quantity("6 Gummies") is None
    assert parse_quantity("12 Large eggs") is None
    assert parse_quantity("3개월 분량") is None


@pytest.mark.parametrize(
    ("text", "units", "packages", "total"),
    [
        ("20개입", 20, None, 20),
        ("20입", 20, None, 20),
        ("20 count", 20, None, 20),
        ("20 ct", 20, None, 20),
        ("65ml x20", 20, None, 20),
        ("65ml × 20", 20, None, 20),
        ("20-pack", None, 20, 20),
        ("Pack of 20", None, 20, 20),
        ("20 Count (Pack of 2)", 20, 2, 40),
        ("Twin Pack", None, 2, 2),
    ],
)
def test_pack_counts(text: str, units: int | None, packages: int | None, total: int) -> None:
    assert parse_pack_count(text) == PackCount(units=units, packages=packages)
    assert normalise_value(text, "count") == f"{total} count"


def test_no_pack_count_in_plain_text() -> None:
    assert parse_pack_count("Organic Green Tea") is None


def test_numbers_with_separators() -> None:
    assert parse_number("1,234.5") == Decimal("1234.5")
    assert parse_number("1,5") == Decimal("1.5")
    with pytest.raises(ValueError, match="not a number"):
        parse_number("twelve")


def test_convert_between_units_and_refuse_across_dimensions() -> None:
    quantity = parse_quantity("150 ml")
    assert quantity is not None
    assert convert(quantity, "ml") == Decimal("150")
    with pytest.raises(ValueError, match="cannot convert"):
        convert(quantity, "g")


def test_value_normalisation_by_kind() -> None:
    assert normalise_value("150 ml", "quantity") == normalise_value("0.15 L", "quantity")
    assert normalise_value("Pack of 6", "count") == normalise_value("6-Pack", "count")
    assert normalise_value("Yes", "boolean") == "true"
    assert normalise_value("  Earl   GREY ", "text") == "earl grey"


def test_token_overlap() -> None:
    assert token_overlap("Medium Roast", "medium roast coffee") == pytest.approx(2 / 3)
    assert token_overlap("", "") == 1.0


@given(st.text(max_size=60))
def test_normalise_text_is_idempotent(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once


@given(st.text(max_size=40), st.sampled_from(["text", "quantity", "count", "boolean"]))
def test_normalise_value_never_raises_and_is_a_string(text: str, kind: str) -> None:
    assert isinstance(normalise_value(text, kind), str)


_UNITS = ["ml", "L", "g", "kg", "mg", "oz", "fl oz", "lb"]


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2),
    st.sampled_from(_UNITS),
)
def test_quantity_round_trip_through_base_unit(amount: Decimal, unit: str) -> None:
    quantity = parse_quantity(f"{format_decimal(amount)} {unit}")
    assert quantity is not None
    info = unit_info(unit)
    assert info is not None
    # Base amounts keep 6 decimal places, so the round trip is exact up to a millionth of a base unit.
    assert abs(convert(quantity, unit) - amount) <= Decimal("0.000001") / info[2]
    again = parse_quantity(quantity.canonical())
    assert again is not None and again.canonical() == quantity.canonical()


@given(st.integers(min_value=1, max_value=500), st.integers(min_value=1, max_value=50))
def test_pack_total_is_units_times_packages(units: int, packages: int) -> None:
    text = f"{units} Count (Pack of {packages})"
    assert normalise_value(text, "count") == f"{units * packages} count"
    assert normalise_value(normalise_value(text, "count"), "count") == f"{units * packages} count"
