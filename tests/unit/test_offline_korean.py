"""The offline baseline on the Korean catalog: korean-mall schemas, Korean worker strategies A and B, learnings
applied first, and the gold records they are scored against (data/korean-mall/products.jsonl)."""

from typing import Any

import pytest

from cataloop.adapters.offline import korean
from cataloop.adapters.offline.client import OfflineModelClient
from cataloop.adapters.offline.common import Payload
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import schema_catalog, schema_for
from cataloop.domain.enrichment.extraction import WorkerExtraction
from cataloop.domain.enrichment.normalisation import normalise_value, parse_pack_count
from cataloop.domain.knowledge.learning import LearningView, NotValue, UnitPattern, ValueLexicon
from cataloop.services.enrichment import generate
from cataloop_eval.korean_catalog import (
    korean_eval_listings,
    korean_gold,
    korean_reference_rows,
    korean_strategy_report,
)

TOP_CATEGORIES = ("발효유", "건강기능식품", "신선간편식", "뷰티", "생활용품", "캐릭터 굿즈")


@pytest.fixture(scope="module")
def catalog() -> dict[str, ProductListing]:
    return {listing.product_id: listing for listing, _ in korean_eval_listings()}


@pytest.fixture(scope="module")
def model() -> OfflineModelClient:
    return OfflineModelClient()


def run(
    model: OfflineModelClient, listing: ProductListing, learnings: list[LearningView] | None = None
) -> dict[str, WorkerExtraction]:
    schema = schema_for(listing.category_path)
    return {
        strategy: generate(role, listing, learnings or [], schema, model).extraction  # type: ignore[arg-type]
        for strategy, role in (("A", "generator"), ("B", "generator_b"))
    }


def values(extraction: WorkerExtraction) -> dict[str, str]:
    return {name: value.value for name, value in extraction.attributes.items()}


def view(lid: str, directive: Any, scope: list[str]) -> LearningView:
    return LearningView(
        id=lid,
        text=f"learning {lid}",
        scope_path=scope,
        attributes=[directive.attribute],
        directive=directive,
    )


# ---------------------------------------------------------------------------- schemas


def test_korean_categories_have_korean_schemas_and_others_are_unchanged() -> None:
    fermented = schema_for(["발효유", "유산균 음료"])
    assert fermented.schema_id == "korean-mall/fermented-milk"
    assert fermented.names == ["brand", "product_type", "net_content", "pack_count", "flavor", "is_food"]
    concepts = {spec.name: (spec.concept, spec.kind) for spec in fermented.attributes}
    assert concepts == {
        "brand": ("brand", "text"),
        "product_type": ("product_type", "text"),
        "net_content": ("net_content", "quantity"),
        "pack_count": ("pack_count", "count"),
        "flavor": ("flavor", "text"),
        "is_food": ("is_food", "boolean"),
    }
    for top in TOP_CATEGORIES:
        assert schema_for([top, "아무 하위분류"]).schema_id.startswith("korean-mall/")
    assert "flavor" not in schema_for(["뷰티", "립케어"]).names  # a 딸기 lip balm has no flavour
    assert "net_content" not in schema_for(["캐릭터 굿즈", "키링"]).names
    assert schema_for(["건강기능식품", "유산균"]).get("flavor").required is False  # type: ignore[union-attr]
    assert schema_for(["Coffee"]).schema_id == "oa-mine/coffee"
    assert schema_for(["식품", "발효유"]).schema_id == "default"
    assert len([s for s in schema_catalog().schemas if s.schema_id.startswith("oa-mine/")]) == 10


def test_every_catalog_listing_gets_a_korean_schema(catalog: dict[str, ProductListing]) -> None:
    assert {schema_for(listing.category_path).schema_id for listing in catalog.values()} == {
        "korean-mall/fermented-milk",
        "korean-mall/health-supplements",
        "korean-mall/fresh-meals",
        "korean-mall/beauty",
        "korean-mall/household",
        "korean-mall/character-goods",
    }


# ---------------------------------------------------------------------------- dispatch and lexicons


def test_korean_listings_go_to_the_korean_strategies() -> None:
    assert korean.is_korean(Payload.model_validate({"product": {"title": "Tea", "locale": "ko"}}))
    assert korean.is_korean(Payload.model_validate({"product": {"title": "해담 rTG 오메가3 60캡슐"}}))
    assert not korean.is_korean(Payload.model_validate({"product": {"title": "Numi Organic Tea, 18 Bags"}}))
    assert not korean.is_korean(Payload.model_validate({}))


def test_built_in_korean_lexicons_are_small() -> None:
    lexicons = korean.korean_lexicons()
    assert 5 <= len(lexicons["flavor"]) <= 20 and "딸기" in lexicons["flavor"]
    assert "망고" not in lexicons["flavor"]  # left for learnings


def test_korean_counters_normalise() -> None:
    assert normalise_value("90캡슐", "count") == "90 count"
    assert normalise_value("30포", "count") == normalise_value("30", "count") == "30 count"
    assert normalise_value("60정", "count") == "60 count"
    assert normalise_value("3켤레", "count") == "3 count"
    assert normalise_value("80매 x 10팩", "count") == "800 count"
    assert parse_pack_count("홍삼정 골드") is None


# ---------------------------------------------------------------------------- strategies on catalog titles


def test_strategies_on_a_yakult_pack(catalog: dict[str, ProductListing], model: OfflineModelClient) -> None:
    runs = run(model, catalog["km-0001"])  # 야쿠르트 오리지널 65ml x 5개, 발효유 > 유산균 음료
    a, b = values(runs["A"]), values(runs["B"])
    assert a == {
        "brand": "야쿠르트",
        "net_content": "65ml",
        "pack_count": "5",
        "product_type": "오리지널",
        "is_food": "true",
    }
    assert b["net_content"] == "65ml" and b["pack_count"] == "5" and b["is_food"] == "true"
    assert runs["A"].attributes["net_content"].normalised == "0.065 L"
    assert runs["A"].attributes["pack_count"].normalised == "5 count"


def test_strategies_err_differently(catalog: dict[str, ProductListing], model: OfflineModelClient) -> None:
    # 데일리락 떠먹는 요구르트 망고 85g x 4개: A reads the category leaf, B the word before the size.
    a, b = (values(e) for e in run(model, catalog["km-0036"]).values())
    assert a["product_type"] == "떠먹는 요구르트" and "flavor" not in a
    assert b["product_type"] == "망고" and b["flavor"] == "요구르트"
    # 바른장 프로바이오틱스 골드 90캡슐: only B reads the 내용량 line (500mg x 90); A knows no 캡슐.
    a, b = (values(e) for e in run(model, catalog["km-0099"]).values())
    assert "net_content" not in a and a["pack_count"] == "1"
    assert b["net_content"] == "500mg" and b["pack_count"] == "90"
    # 한끼정성 고등어구이 도시락 420g x 5개: a menu outside the built-in list; B reads it by position.
    a, b = (values(e) for e in run(model, catalog["km-0162"]).values())
    assert "flavor" not in a and b["flavor"] == "고등어구이"
    assert a["product_type"] == b["product_type"] == "도시락"


def test_food_words_on_non_food_fool_only_strategy_b(
    catalog: dict[str, ProductListing], model: OfflineModelClient
) -> None:
    for product_id in ("km-0310", "km-0346", "km-0279"):  # 딸기 립밤, 딸기 치약, 유산균 발효 마스크팩
        a, b = (values(e) for e in run(model, catalog[product_id]).values())
        assert a["is_food"] == "false" and b["is_food"] == "true"
        assert "flavor" not in a and "flavor" not in b


def test_wipes_and_multipacks(catalog: dict[str, ProductListing], model: OfflineModelClient) -> None:
    a, b = (values(e) for e in run(model, catalog["km-0337"]).values())  # 순수 아기물티슈 캡형 80매 x 20팩
    assert a["pack_count"] == b["pack_count"] == "20"
    assert "net_content" not in a and b["net_content"] == "80매"
    a, b = (values(e) for e in run(model, catalog["km-0134"]).values())  # 단백질 쉐이크 초코 10포 x 2개
    assert a["pack_count"] == b["pack_count"] == "2"  # neither knows that this is 20


def test_evidence_quotes_the_product_text(
    catalog: dict[str, ProductListing], model: OfflineModelClient
) -> None:
    for listing in list(catalog.values())[::4]:
        schema = schema_for(listing.category_path)
        for role in ("generator", "generator_b"):
            worker = generate(role, listing, [], schema, model)
            assert worker.dropped == [], (listing.title, worker.dropped)
            assert set(worker.extraction.attributes) <= set(schema.names)


def test_workers_see_only_the_listing(catalog: dict[str, ProductListing]) -> None:
    product = catalog["km-0036"].model_dump(mode="json")
    plain = Payload.model_validate({"product": product})
    with_gold = Payload.model_validate(
        {"product": {**product, "gold": {"flavor": "망고"}}, "gold": {"flavor": "망고"}}
    )
    for strategy in ("A", "B"):
        assert korean.extract(with_gold, strategy) == korean.extract(plain, strategy)


# ---------------------------------------------------------------------------- learnings first


def test_a_value_lexicon_learning_teaches_both_strategies(
    catalog: dict[str, ProductListing], model: OfflineModelClient
) -> None:
    scope = ["발효유", "떠먹는 요구르트"]
    learnings = [
        view("L-mango", ValueLexicon(attribute="flavor", values=["망고"]), scope),
        view("L-type", ValueLexicon(attribute="product_type", values=["떠먹는 요구르트"]), scope),
    ]
    for strategy, extraction in run(model, catalog["km-0036"], learnings).items():
        read = values(extraction)
        assert read["flavor"] == "망고", strategy
        assert read["product_type"] == "떠먹는 요구르트", strategy
        assert extraction.learning_ids_used == ["L-mango", "L-type"]
    # Out of scope, the same learning does nothing.
    other = view("L-mango", ValueLexicon(attribute="flavor", values=["망고"]), ["신선간편식"])
    assert "flavor" not in values(run(model, catalog["km-0036"], [other])["A"])


def test_a_not_value_learning_moves_strategy_b_on(
    catalog: dict[str, ProductListing], model: OfflineModelClient
) -> None:
    learning = view(
        "L-not",
        NotValue(attribute="product_type", value="꿀", correct_attribute="flavor"),
        ["발효유", "그릭요거트"],
    )
    before = values(run(model, catalog["km-0050"])["B"])  # 목장일기 그릭요거트 꿀 100g x 4개
    after = run(model, catalog["km-0050"], [learning])["B"]
    assert before["product_type"] == "꿀"
    assert values(after)["product_type"] == "그릭요거트" and after.learning_ids_used == ["L-not"]


def test_a_unit_pattern_learning_teaches_strategy_a_a_counter(
    catalog: dict[str, ProductListing], model: OfflineModelClient
) -> None:
    learning = view(
        "L-capsule",
        UnitPattern(attribute="pack_count", unit_terms=["캡슐"], keep_unit=False),
        ["건강기능식품", "유산균"],
    )
    assert values(run(model, catalog["km-0099"])["A"])["pack_count"] == "1"
    taught = run(model, catalog["km-0099"], [learning])["A"]
    assert values(taught)["pack_count"] == "90" and taught.learning_ids_used == ["L-capsule"]


# ---------------------------------------------------------------------------- gold records


def test_gold_uses_the_schema_names_and_the_workers_surface_forms() -> None:
    gold = korean_gold()
    assert len(gold) == 420
    assert gold["km-0001"] == {
        "brand": ["야쿠르트"],
        "product_type": ["유산균 음료"],
        "net_content": ["65ml"],
        "pack_count": ["5"],
        "is_food": ["true"],
    }  # flavor is null: absent; family is not an attribute
    assert gold["km-0036"]["flavor"] == ["망고"]
    assert gold["km-0360"] == {  # 야쿠르트 아줌마 아크릴 키링: goods have no net content
        "brand": ["야쿠르트"],
        "product_type": ["키링"],
        "pack_count": ["1"],
        "is_food": ["false"],
    }
    assert "brand" not in gold["km-0407"]  # a bundle of two brands
    for product_id, attributes in gold.items():
        names = set(schema_for(["발효유"]).names) | {"brand"}
        assert set(attributes) <= names, product_id


def test_reference_rows_are_oa_mine_rows() -> None:
    rows = korean_reference_rows()
    assert len(rows) == 420
    assert rows[0] == {
        "input": "야쿠르트 오리지널 65ml x 5개",
        "category": "유산균 음료",
        "target_scores": {
            "brand": {"야쿠르트": 1.0},
            "product_type": {"유산균 음료": 1.0},
            "net_content": {"65ml": 1.0},
            "pack_count": {"5": 1.0},
            "is_food": {"true": 1.0},
        },
    }


def test_strategies_alone_leave_room_for_learnings() -> None:
    report = korean_strategy_report()
    assert report["products"] == 420
    for strategy in ("A", "B"):
        assert 0.5 <= report[strategy]["micro"]["f1"] <= 0.9, report[strategy]["micro"]
        assert report[strategy]["per_attribute"]["flavor"]["f1"] < 0.8
        assert report[strategy]["per_attribute"]["product_type"]["f1"] < 0.8
    assert 0.2 <= report["disagreement"]["consensus"] <= 0.6
