"""The Korean demo catalog, graded queries and search dictionaries stay valid and consistent."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.domain.catalog.listing import ProductListing

DATA = Path(__file__).resolve().parents[2] / "data" / "korean-mall"
FOOD_CATEGORIES = {"발효유", "건강기능식품", "신선간편식"}
NON_FOOD_CATEGORIES = {"뷰티", "생활용품", "캐릭터 굿즈"}


def _load_script(name: str) -> ModuleType:
    # The data folder is not a package (its name has a hyphen), so load the scripts by path.
    module_name = f"korean_mall_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


build_catalog = _load_script("build_catalog")
check_queries = _load_script("check_queries")


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return _jsonl("products.jsonl")


@pytest.fixture(scope="module")
def products(records: list[dict]) -> dict[str, dict]:
    return {record["product"]["product_id"]: record["product"] for record in records}


@pytest.fixture(scope="module")
def queries() -> list[dict]:
    return _jsonl("queries.jsonl")


def _lines(name: str) -> list[str]:
    return (DATA / "dictionaries" / name).read_text(encoding="utf-8").splitlines()


def test_every_product_validates_as_a_listing(records: list[dict]) -> None:
    for record in records:
        listing = ProductListing.model_validate(record["product"])
        assert listing.locale == "ko" and listing.currency == "KRW", listing.product_id
        assert listing.price is not None and listing.price == int(listing.price) > 0, listing.product_id
        assert all(keyword.strip() for keyword in listing.metadata_keywords.split("|")), listing.product_id


def test_ids_are_unique_and_shaped_like_km_0001(records: list[dict]) -> None:
    ids = [record["product"]["product_id"] for record in records]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"km-\d{4}", product_id) for product_id in ids)
    assert len({record["product"]["title"] for record in records}) == len(records), "titles must be unique"


def test_catalog_is_large_enough_and_covers_every_category(records: list[dict]) -> None:
    assert len(records) >= 400
    subcategories: dict[str, set[str]] = {}
    for record in records:
        top, leaf = record["product"]["category_path"]
        subcategories.setdefault(top, set()).add(leaf)
    assert set(subcategories) == FOOD_CATEGORIES | NON_FOOD_CATEGORIES
    assert all(len(leaves) >= 3 for leaves in subcategories.values()), subcategories


def test_bundles_and_their_children_point_at_each_other(products: dict[str, dict]) -> None:
    bundles = {pid: product for pid, product in products.items() if product.get("child_ids")}
    assert len(bundles) >= 20
    for parent_id, parent in bundles.items():
        assert 2 <= len(parent["child_ids"]) <= 5, parent_id
        assert "parent_id" not in parent, f"{parent_id}: a bundle is not itself a child"
        for child_id in parent["child_ids"]:
            child = products[child_id]
            assert child.get("parent_id") == parent_id, f"{child_id} should name {parent_id} as parent"
            assert not child.get("child_ids"), f"{child_id}: children are normal products"
    for child_id, child in products.items():
        if "parent_id" in child:
            assert child_id in products[child["parent_id"]]["child_ids"], child_id


def test_gold_matches_the_listing(records: list[dict]) -> None:
    for record in records:
        product, gold = record["product"], record["gold"]
        assert set(gold) == {"family", "is_food", "product_type", "net_content", "pack_count", "flavor"}
        top = product["category_path"][0]
        assert gold["is_food"] is (top in FOOD_CATEGORIES), product["product_id"]
        assert isinstance(gold["pack_count"], int) and gold["pack_count"] >= 1, product["product_id"]
        if gold["net_content"] is not None:
            assert re.fullmatch(r"\d+(\.\d+)?(ml|L|g|mg|매)", gold["net_content"]), gold["net_content"]
        if gold["flavor"] is not None:
            assert gold["is_food"] and gold["flavor"] in product["title"], product["product_id"]


def test_confusable_brand_sells_drinks_and_character_goods(records: list[dict]) -> None:
    kinds = Counter(
        record["gold"]["is_food"]
        for record in records
        if record["product"]["brand"] == build_catalog.CONFUSABLE_BRAND
        and not record["product"].get("child_ids")
    )
    assert kinds[True] >= 10 and kinds[False] >= 10, kinds


def test_sort_fields_vary_enough_to_rank_by(records: list[dict]) -> None:
    ratings = [record["product"]["rating"] for record in records if record["product"]["rating"] is not None]
    assert min(ratings) <= 1.5 and max(ratings) == 5.0
    assert len(set(ratings)) >= 25
    assert len({record["product"]["price"] for record in records}) >= 150
    assert len({record["product"]["purchase_count"] for record in records}) >= 300


def test_generator_reproduces_the_committed_catalog() -> None:
    expected = (DATA / "products.jsonl").read_text(encoding="utf-8")
    assert build_catalog.render(build_catalog.build_catalog()) == expected, "run build_catalog.py"


@given(st.floats(min_value=0, max_value=10_000_000, allow_nan=False))
def test_shop_prices_are_whole_hundreds_near_the_raw_amount(amount: float) -> None:
    price = build_catalog._krw(amount)
    assert price >= 100 and price % 100 == 0
    assert abs(price - max(amount, 100)) <= 150


@given(st.lists(st.text(alphabet="유산균 음료ab", max_size=6), max_size=8))
def test_keywords_never_repeat_ignoring_spaces(words: list[str]) -> None:
    joined = build_catalog._join_unique(words)
    kept = [word for word in joined.split("|") if word] if joined else []
    assert len({word.replace(" ", "") for word in kept}) == len(kept)
    assert {word.replace(" ", "") for word in kept} == {
        w.replace(" ", "") for w in words if w.replace(" ", "")
    }


MIN_PER_KIND = {
    "typo": 20, "nomatch": 15, "value": 12, "bulk": 12, "spacing": 12, "chosung_compound": 12,
    "bundle_component": 12, "set": 8,
}  # fmt: skip


def test_queries_reference_existing_products(queries: list[dict], products: dict[str, dict]) -> None:
    assert len(queries) >= 170
    assert check_queries.query_problems(queries, set(products)) == []
    kinds = Counter(query["kind"] for query in queries)
    assert all(kinds[kind] >= 3 for kind in check_queries.KINDS), kinds
    assert all(kinds[kind] >= count for kind, count in MIN_PER_KIND.items()), kinds
    assert [query["qid"] for query in queries[:86]] == [f"q{n:03d}" for n in range(1, 87)]
    assert any(re.search(r"[A-Za-z]", query["query"]) for query in queries), "keep some English/mixed queries"


def test_new_kinds_carry_their_sort_and_nomatch_grades_nothing(queries: list[dict]) -> None:
    for query in queries:
        if query["kind"] == "nomatch":
            assert query["relevant"] == {}, query["qid"]
        else:
            assert query["relevant"], query["qid"]
        if query["kind"] in ("value", "bulk"):
            assert query["sort"] == query["kind"], query["qid"]
    typos = [query for query in queries if query["kind"] == "typo" and query["qid"] >= "q087"]
    assert any(" " in query["query"] for query in typos) and any(" " not in query["query"] for query in typos)


def test_check_queries_allows_empty_relevant_only_for_nomatch(products: dict[str, dict]) -> None:
    base = {"qid": "q001", "query": "노트북", "kind": "nomatch", "relevant": {}, "sort": None,
            "food_intent": None, "note": "not sold"}  # fmt: skip
    ids = set(products)
    assert check_queries.query_problems([base], ids) == []
    assert check_queries.query_problems([{**base, "relevant": {"km-0001": 1}}], ids)
    assert check_queries.query_problems([{**base, "kind": "typo"}], ids)
    assert (
        check_queries.query_problems(
            [{**base, "kind": "value", "sort": "value", "relevant": {"km-0001": 3}}], ids
        )
        == []
    )
    assert check_queries.query_problems(
        [{**base, "kind": "bulk", "sort": "cheap", "relevant": {"km-0001": 3}}], ids
    )


def _graded(queries: list[dict], text: str) -> dict[str, int]:
    return next(query["relevant"] for query in queries if query["query"] == text)


def test_food_intent_grades_put_the_drink_and_the_keyring_on_opposite_sides(
    queries: list[dict], records: list[dict]
) -> None:
    food = {
        r["product"]["product_id"]: r["gold"]["is_food"] for r in records if not r["product"].get("child_ids")
    }
    brand_only = {pid: grade for pid, grade in _graded(queries, "야쿠르트").items() if pid in food}
    keyring = {pid: grade for pid, grade in _graded(queries, "야쿠르트 키링").items() if pid in food}
    drinks = [grade for pid, grade in brand_only.items() if food[pid]]
    goods = [grade for pid, grade in brand_only.items() if not food[pid]]
    assert drinks and goods and min(drinks) > max(goods)
    assert keyring and not any(food[pid] for pid in keyring), "a keyring query grades no single drink"


def test_check_queries_fails_on_a_dangling_id(tmp_path: Path) -> None:
    query = {
        "qid": "q001", "query": "야쿠르트", "kind": "food", "relevant": {"km-0001": 3},
        "sort": None, "food_intent": True, "note": "test",
    }  # fmt: skip
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(json.dumps(query, ensure_ascii=False) + "\n", encoding="utf-8")
    bad.write_text(json.dumps({**query, "relevant": {"km-9999": 3}}) + "\n", encoding="utf-8")
    products = str(DATA / "products.jsonl")
    assert check_queries.main(["--products", products, "--queries", str(good)]) == 0
    assert check_queries.main(["--products", products, "--queries", str(bad)]) == 1


def test_user_dictionary_keeps_every_brand_as_one_token(records: list[dict]) -> None:
    words = _lines("user_dictionary.txt")
    assert all(word and not re.search(r"\s", word) for word in words), "one word per line, no spaces"
    assert len(words) == len(set(words))
    brands = {record["product"]["brand"] for record in records if record["product"]["brand"]}
    assert {brand.replace(" ", "") for brand in brands} <= set(words)


def test_synonym_lines_are_solr_rules() -> None:
    rules = [line for line in _lines("synonyms.txt") if line.strip() and not line.startswith("#")]
    assert len(rules) >= 20
    for rule in rules:
        if "=>" in rule:
            left, right = (side.strip() for side in rule.split("=>"))
            assert left and right and left != right, rule
        else:
            terms = [term.strip() for term in rule.split(",")]
            assert len(terms) >= 2 and all(terms) and len(set(terms)) == len(terms), rule


def test_typo_lines_map_a_wrong_word_to_a_different_right_one(queries: list[dict]) -> None:
    pairs = [tuple(side.strip() for side in line.split("=>")) for line in _lines("typos.txt")]
    assert len(pairs) >= 10 and all(len(pair) == 2 and pair[0] and pair[1] != pair[0] for pair in pairs)
    wrongs = [pair[0] for pair in pairs]
    assert len(wrongs) == len(set(wrongs))
    # The graded typo queries must be fixed by the typo-tolerant path, not looked up in this starter list.
    assert not {query["query"] for query in queries if query["kind"] == "typo"} & set(wrongs)
