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
    assert read_graded_queries(path) == [GradedQuery(qid="q1", query="야쿠르트", relevant={"p01": 3})]


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
