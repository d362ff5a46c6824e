"""Unit pricing and exact-name keys (cataloop.domain.search.value, query.name_key)."""

from __future__ import annotations

import pytest

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search.documents import product_document
from cataloop.domain.search.query import name_key
from cataloop.domain.search.value import parse_amount, parse_count, title_quantities, unit_pricing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("65ml", (65.0, "ml")),
        ("1.2L", (1200.0, "ml")),
        ("500mg", (0.5, "g")),
        ("2kg", (2000.0, "g")),
        ("85 g", (85.0, "g")),
        ("12 fl oz", None),
        ("30캡슐", None),
        ("mlx", None),
    ],
)
def test_parse_amount_in_base_units(text: str, expected: tuple[float, str] | None) -> None:
    assert (
        parse_amount(text) == (pytest.approx(expected[0]), expected[1])
        if expected
        else parse_amount(text) is None
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (20, 20),
        ("20", 20),
        ("20개", 20),
        ("Pack of 6", 6),
        ("x 3", 3),
        (0, None),
        (True, None),
        ("없음", None),
    ],
)
def test_parse_count(value: object, expected: int | None) -> None:
    assert parse_count(value) == expected


def test_title_quantities_read_the_size_a_shop_writes() -> None:
    assert title_quantities("야쿠르트 라이트 65ml x 20개") == ((65.0, "ml"), 20)
    assert title_quantities("바른장 프로바이오틱스 골드 30캡슐") == (None, 30)
    assert title_quantities("맑은집 레몬 주방세제 1.2L 리필") == ((1200.0, "ml"), None)
    assert title_quantities("야쿠르트 아줌마 키링") == (None, None)


def test_unit_pricing_prefers_the_enriched_values_and_falls_back_to_the_title() -> None:
    enriched = unit_pricing("65ml", "20", 4400, title="야쿠르트 라이트")
    assert enriched is not None and (enriched.unit, enriched.total_content) == ("ml", 1300.0)
    assert enriched.unit_price == pytest.approx(4400 / 1300)
    from_title = unit_pricing(None, None, 4400, title="야쿠르트 라이트 65ml x 20개")
    assert from_title == enriched
    per_piece = unit_pricing(None, None, 25000, title="바른장 골드 30캡슐")
    assert (
        per_piece is not None
        and per_piece.unit == "piece"
        and per_piece.unit_price == pytest.approx(833.333333)
    )
    assert unit_pricing(None, None, 9900, title="야쿠르트 아줌마 키링") is None
    assert unit_pricing("65ml", 20, None).unit_price is None  # type: ignore[union-attr]


def test_the_search_document_carries_unit_pricing_and_the_name_key() -> None:
    listing = ProductListing(
        product_id="p1",
        title="야쿠르트 라이트 65ml × 20개",
        category_path=["발효유"],
        price=4400,
        locale="ko",
    )
    document = product_document(listing, {"attributes": {"net_content": "80ml", "pack_count": 10}}, 1)
    assert (document.unit, document.total_content, document.unit_price) == ("ml", 800.0, 5.5)
    assert document.name_key == "야쿠르트라이트65mlx20개" == name_key("야쿠르트 라이트 65mlX20개")
    assert product_document(listing, None, 1).total_content == 1300.0
