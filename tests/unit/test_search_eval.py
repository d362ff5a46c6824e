"""`cataloop eval search` on a ten-product catalog and three graded queries: the metric table's shape, and
that the methods really differ (lexical methods miss a query with no shared word, k-NN does not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer
from cataloop.domain.catalog.listing import ProductListing
from cataloop_eval.search import (
    METHODS,
    METRICS,
    GradedQuery,
    build_eval_index,
    build_eval_service,
    evaluate_methods,
    method_runners,
    read_graded_queries,
)

# Each axis is one shopping concept, so a query can land near products that share no word with it.
CONCEPTS = (
    ("야쿠르트", "유산균", "발효유", "drink"),
    ("인형", "키링", "doll"),
    ("세제", "세탁", "detergent"),
    ("홍삼", "ginseng"),
)


class ConceptEmbedder:
    dimension = len(CONCEPTS) + 1

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        return [[float(sum(t.lower().count(w) for w in words)) for words in CONCEPTS] + [0.1] for t in texts]


def _listing(number: int, title: str, category: list[str], brand: str) -> ProductListing:
    return ProductListing(
        product_id=f"p{number:02d}", title=title, category_path=category, brand=brand, locale="ko"
    )


LISTINGS = [
    _listing(1, "야쿠르트 오리지널 65ml x 5개", ["발효유", "유산균 음료"], "야쿠르트"),
    _listing(2, "야쿠르트 라이트 65ml x 20개", ["발효유", "유산균 음료"], "야쿠르트"),
    _listing(3, "바른장 유산균 스틱 60포", ["건강기능식품", "유산균"], "바른장"),
    _listing(4, "야쿠르트 아줌마 인형 키링", ["캐릭터굿즈", "키링"], "야쿠르트"),
    _listing(5, "몽글이 봉제 인형 30cm", ["캐릭터굿즈", "인형"], "몽글이"),
    _listing(6, "맑은빨래 세탁 세제 3L", ["생활용품", "세제"], "맑은빨래"),
    _listing(7, "맑은빨래 캡슐 세제 40개", ["생활용품", "세제"], "맑은빨래"),
    _listing(8, "홍원삼 홍삼정 스틱 30포", ["건강기능식품", "홍삼"], "홍원삼"),
    _listing(9, "홍원삼 홍삼 캔디 200g", ["건강기능식품", "홍삼"], "홍원삼"),
    _listing(10, "몽글이 머그컵 350ml", ["캐릭터굿즈", "주방"], "몽글이"),
]

QUERIES = [
    GradedQuery(qid="q1", query="야쿠르트 라이트", relevant={"p02": 3, "p01": 1}),
    GradedQuery(qid="q2", query="맑은빨래 세제", relevant={"p06": 3, "p07": 3}),
    # No word in common with any title: only the vector side can find these.
    GradedQuery(qid="q3", query="ginseng", relevant={"p08": 3, "p09": 2}),
]


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, float]]:
    analyzer = KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("야쿠르트", "맑은빨래", "홍원삼")))
    embedder = ConceptEmbedder()
    index = build_eval_index(LISTINGS, analyzer, embedder)
    service = build_eval_service(index, embedder)
    vectors = embedder.embed([query.query for query in QUERIES], "query")
    return evaluate_methods(method_runners(index, service), QUERIES, vectors)


def test_the_table_has_every_method_and_metric_in_range(table: dict[str, dict[str, float]]) -> None:
    assert list(table) == list(METHODS)
    for row in table.values():
        assert list(row) == list(METRICS)
        assert all(0.0 <= value <= 1.0 for value in row.values())


def test_lexical_methods_miss_a_query_without_a_shared_word(table: dict[str, dict[str, float]]) -> None:
    assert table["bm25"]["zero_result_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert table["vector"]["zero_result_rate"] == 0.0
    assert table["vector"]["recall@50"] > table["bm25"]["recall@50"]


def test_keyword_queries_put_the_graded_products_first(table: dict[str, dict[str, float]]) -> None:
    # q1 and q2 name their products: BM25 ranks a grade-3 product first on both, q3 finds nothing.
    assert table["bm25"]["mrr"] == pytest.approx(2 / 3, abs=1e-3)
    assert table["hybrid_min_max"]["mrr"] > table["bm25"]["mrr"]


def test_methods_do_not_all_score_alike(table: dict[str, dict[str, float]]) -> None:
    rows = {tuple(row.values()) for row in table.values()}
    assert len(rows) >= 3


def test_vectors_must_match_queries() -> None:
    with pytest.raises(ValueError, match="one each"):
        evaluate_methods({}, QUERIES, [])


def test_a_bad_query_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text('{"qid": "q1", "query": "a", "relevant": {"x": 1}}\n{"qid": "q2"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"queries.jsonl:2 is not a graded query"):
        read_graded_queries(path)


def test_graded_query_files_parse(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    line: dict[str, Any] = {"qid": "q1", "query": "야쿠르트", "relevant": {"p01": 3}, "kind": "exact"}
    path.write_text(GradedQuery.model_validate(line).model_dump_json() + "\n\n", encoding="utf-8")
    assert read_graded_queries(path) == [
        GradedQuery(qid="q1", query="야쿠르트", relevant={"p01": 3}, kind="exact")
    ]
    assert GradedQuery(qid="q2", query="a", relevant={}).kind == "unlabelled"


def test_the_derived_english_queries_are_up_to_date_and_grade_train_products() -> None:
    import importlib.util

    from cataloop_eval.extraction import read_oa_mine
    from cataloop_eval.search import ENGLISH_QUERIES, OA_MINE_TRAIN

    spec = importlib.util.spec_from_file_location(
        "build_queries", ENGLISH_QUERIES.parent / "build_queries.py"
    )
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    records = read_oa_mine(OA_MINE_TRAIN)
    assert builder.render(builder.build_queries(records)) == ENGLISH_QUERIES.read_text(encoding="utf-8")
    train_ids = {record.listing().product_id for record in records}
    queries = read_graded_queries(ENGLISH_QUERIES)
    assert len(queries) == 100
    for query in queries:
        assert set(query.relevant) <= train_ids
        assert 3 in query.relevant.values()  # the product the query was made from is always a grade 3


# ------------------------------------------------ per-kind, nomatch and unit-price order (no model loaded)


def test_net_content_parses_to_grams_or_millilitres() -> None:
    from cataloop_eval.search import parse_net_content, unit_gold

    assert parse_net_content("65ml") == ("volume_ml", 65.0)
    assert parse_net_content("1.2L") == ("volume_ml", 1200.0)
    assert parse_net_content("500mg") == ("mass_g", 0.5)
    assert parse_net_content("2kg") == ("mass_g", 2000.0)
    assert parse_net_content("80매") is None and parse_net_content(None) is None
    found = unit_gold(4400, "65ml", 20)
    assert found is not None and found.total == 1300.0 and found.unit_price == pytest.approx(4400 / 1300)
    assert unit_gold(1000, None, 1) is None


def _gold() -> dict[str, Any]:
    from cataloop_eval.search import unit_gold

    # a: 1000 won / 100 g = 10 per g; b: 1500 / 300 g = 5; c: 2000 / 1000 g = 2; m: a millilitre product
    return {
        "a": unit_gold(1000, "100g", 1),
        "b": unit_gold(1500, "100g", 3),
        "c": unit_gold(2000, "1kg", 1),
        "m": unit_gold(500, "10ml", 1),
    }


def test_value_order_is_one_when_cheapest_per_gram_comes_first_and_zero_when_reversed() -> None:
    from cataloop_eval.search import order_score

    grades = {"a": 3, "b": 3, "c": 2, "m": 3}
    assert order_score(["c", "b", "a"], grades, _gold(), "value") == 1.0
    assert order_score(["a", "b", "c"], grades, _gold(), "value") == 0.0
    assert order_score(["b", "c", "a"], grades, _gold(), "value") == pytest.approx(2 / 3)  # (b, c) wrong
    # unjudged, grade-1 and other-dimension products are skipped; one product alone is not scored
    assert order_score(["c", "x", "m", "b"], {**grades, "b": 1}, _gold(), "value") is None


def test_bulk_order_wants_the_largest_total_first() -> None:
    from cataloop_eval.search import order_score

    grades = {"a": 2, "b": 2, "c": 3}
    assert order_score(["c", "b", "a"], grades, _gold(), "bulk") == 1.0
    assert order_score(["a", "b", "c"], grades, _gold(), "bulk") == 0.0
    with pytest.raises(ValueError, match="value"):
        order_score([], grades, _gold(), "price_asc")


def test_per_kind_nomatch_and_order_tables_from_hand_made_runs() -> None:
    from cataloop_eval.search import nomatch_empty_rates, per_kind_table, unit_price_orders

    queries = [
        GradedQuery(qid="1", query="싼 것", relevant={"a": 3, "b": 3, "c": 3}, kind="value", sort="value"),
        GradedQuery(qid="2", query="노트북", relevant={}, kind="nomatch"),
        GradedQuery(qid="3", query="자동차", relevant={}, kind="nomatch"),
    ]
    runs = {
        "good": [(["c", "b", "a"], 3), ([], 0), ([], 0)],
        "bad": [(["a", "b", "c"], 3), (["a"], 1), ([], 0)],
    }
    kinds = per_kind_table(queries, runs)
    assert list(kinds) == ["value", "nomatch"]
    assert kinds["value"]["good"]["ndcg@10"] == 1.0 and kinds["value"]["good"]["queries"] == 1
    assert kinds["nomatch"]["bad"]["ndcg@10"] is None and kinds["nomatch"]["bad"]["queries"] == 2
    assert kinds["nomatch"]["good"]["zero_result_rate"] == 1.0
    assert nomatch_empty_rates(queries, runs) == {"good": 1.0, "bad": 0.5}
    assert nomatch_empty_rates(queries[:1], runs) is None
    orders = unit_price_orders(queries, runs, _gold())
    assert orders == {
        "value": {
            "good": {"score": 1.0, "queries": 1, "unscored": 0},
            "bad": {"score": 0.0, "queries": 1, "unscored": 0},
        }
    }


def test_respaced_titles_drop_the_spaces_around_the_pack_multiplier() -> None:
    from cataloop_eval.search import respaced_title

    assert respaced_title("야쿠르트 오리지널 65ml x 20개") == "야쿠르트 오리지널 65mlx20개"
    assert respaced_title("몽글이 머그컵") == "몽글이 머그컵"


def test_exact_name_check_counts_own_product_first() -> None:
    from cataloop_eval.search import exact_name_check

    def run(text: str, vector: Any) -> tuple[list[str], int]:
        return (["p02", "p01"] if "라이트" in text else ["p01"]), 2

    result = exact_name_check(run, LISTINGS[:2])
    assert result == {"titles": 2, "first": 2, "misses": []}
    result = exact_name_check(run, LISTINGS[2:4])
    assert result["first"] == 0 and result["misses"] == [LISTINGS[2].title, LISTINGS[3].title]


def test_hard_english_and_cross_language_queries_grade_existing_products() -> None:
    import json

    from cataloop_eval.extraction import read_oa_mine
    from cataloop_eval.search import (
        CROSS_LANGUAGE_QUERIES,
        HARD_ENGLISH_QUERIES,
        KOREAN_PRODUCTS,
        OA_MINE_TRAIN,
    )

    train_ids = {record.listing().product_id for record in read_oa_mine(OA_MINE_TRAIN)}
    korean_ids = {
        json.loads(line)["product"]["product_id"]
        for line in KOREAN_PRODUCTS.read_text(encoding="utf-8").splitlines()
    }
    hard = read_graded_queries(HARD_ENGLISH_QUERIES)
    assert len(hard) >= 40 and {query.kind for query in hard} >= {"natural", "attribute", "typo"}
    for query in hard:
        assert query.relevant and set(query.relevant) <= train_ids, query.qid
        assert 3 in query.relevant.values(), query.qid
    cross = read_graded_queries(CROSS_LANGUAGE_QUERIES)
    assert len(cross) >= 20 and {query.kind for query in cross} == {"cross_language"}
    graded = set().union(*(query.relevant for query in cross))
    assert graded <= train_ids | korean_ids
    assert graded & train_ids and graded & korean_ids, "the mixed set grades products of both catalogs"
    assert len({query.qid for query in hard + cross}) == len(hard) + len(cross)
