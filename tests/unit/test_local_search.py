"""The embedded engine: Korean/English keyword, chosung, keyboard and hybrid search, filters, external
versioning, deletes, and alias swaps over versioned on-disk indices."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

from cataloop.adapters.embedded_search import EmbeddedSearchIndex
from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search.documents import ProductDocument, product_document
from cataloop.domain.search.plan import SearchFilters, SearchPlan, build_search_plan
from cataloop.errors import InvalidInput

# A concept embedder: each axis is one shopping concept, named in Korean and English, so "footwear" is near
# "운동화" although no document contains the word "footwear".
CONCEPTS = (
    ("운동화", "신발", "footwear", "sneaker"),
    ("야쿠르트", "유산균", "음료", "probiotic"),
    ("iphone", "case", "phone"),
)


class ConceptEmbedder:
    dimension = len(CONCEPTS) + 1

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        self.calls.append((len(texts), kind))
        vectors = []
        for text in texts:
            lowered = text.lower()
            vectors.append([float(sum(lowered.count(word) for word in words)) for words in CONCEPTS] + [0.05])
        return vectors


def _listing(product_id: str, title: str, category: list[str], **fields: Any) -> ProductListing:
    return ProductListing(product_id=product_id, title=title, category_path=category, **fields)


LISTINGS = {
    "p1": _listing(
        "p1", "나이키 에어맥스 운동화", ["패션", "신발"], brand="Nike", price=120000, rating=4.5,
        metadata_keywords="러닝화|스니커즈",
    ),
    "p2": _listing("p2", "한국야쿠르트 야쿠르트 에이스", ["식품", "음료"], price=3000, metadata_keywords="유산균|장건강"),
    "p3": _listing("p3", "Apple iPhone 15 Case", ["Electronics", "Accessories"], brand="Apple", price=20000, locale="en"),
    "p4": _listing("p4", "아디다스 운동화 슈퍼스타", ["패션", "신발"], brand="Adidas", price=90000, rating=4.8),
    "p5": _listing("p5", "야쿠르트 라이트", ["식품", "음료"], price=2500, parent_id="b1"),
    "b1": _listing("b1", "야쿠르트 선물세트", ["식품", "음료"], price=20000, child_ids=["p5"]),
}  # fmt: skip


def _documents(version: int = 1) -> list[ProductDocument]:
    enrichments: dict[str, dict[str, Any]] = {"p4": {"attributes": {"Color": "흰색"}}}
    return [
        product_document(
            listing,
            enrichments.get(product_id),
            version,
            bundle_children=[LISTINGS["p5"]] if product_id == "b1" else (),
        )
        for product_id, listing in LISTINGS.items()
    ]


@pytest.fixture(scope="module")
def analyzer() -> KoreanAnalyzer:
    return KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("야쿠르트", "에어맥스")))


@pytest.fixture()
def index(analyzer: KoreanAnalyzer) -> EmbeddedSearchIndex:
    engine = EmbeddedSearchIndex(None, analyzer, ConceptEmbedder(), ConceptEmbedder.dimension)
    engine.ensure_index()
    outcome = engine.bulk_upsert(_documents())
    assert outcome.indexed == len(LISTINGS)
    return engine


def _ids(engine: EmbeddedSearchIndex, plan: SearchPlan) -> list[str]:
    return [hit.id for hit in engine.search(plan).hits]


def _plan(engine: EmbeddedSearchIndex, query: str, **kwargs: Any) -> SearchPlan:
    return build_search_plan(query, in_catalog=engine.in_catalog, **kwargs)


# --- lexical ------------------------------------------------------------------------------------------


def test_korean_keyword_query_finds_the_shoes(index: EmbeddedSearchIndex) -> None:
    assert set(_ids(index, _plan(index, "운동화"))) == {"p1", "p4"}


def test_particles_in_the_query_do_not_matter(index: EmbeddedSearchIndex) -> None:
    assert _ids(index, _plan(index, "유산균을"))[0] == "p2"


def test_english_query_is_stemmed(index: EmbeddedSearchIndex) -> None:
    assert _ids(index, _plan(index, "iphone cases")) == ["p3"]


def test_brand_in_latin_letters_finds_the_korean_titled_product(index: EmbeddedSearchIndex) -> None:
    assert _ids(index, _plan(index, "nike"))[0] == "p1"


def test_chosung_query_finds_names_by_initial_consonants(index: EmbeddedSearchIndex) -> None:
    found = _ids(index, _plan(index, "ㅇㅋㄹㅌ"))
    assert set(found) == {"p2", "p5", "b1"}
    assert _ids(index, _plan(index, "ㅇㄷㄷㅅ")) == ["p4"]


def test_korean_typed_on_an_english_keyboard_is_found(index: EmbeddedSearchIndex) -> None:
    plan = _plan(index, "diznfmxm")  # 야쿠르트 typed with the layout switched to English
    assert ("keyboard", "야쿠르트") in [(clause.purpose, clause.text) for clause in plan.clauses]
    assert set(_ids(index, plan)) == {"p2", "p5", "b1"}


def test_keyboard_conversion_outside_the_catalog_is_not_used(index: EmbeddedSearchIndex) -> None:
    assert index.in_catalog("야쿠르트")
    assert not index.in_catalog("야구르트")
    plan = _plan(index, "dirnfmxm")  # converts to 야구르트, which no product has
    assert "야구르트" not in [clause.text for clause in plan.clauses]


def test_bundle_is_found_by_its_child_name(index: EmbeddedSearchIndex) -> None:
    assert set(_ids(index, _plan(index, "라이트"))) == {"p5", "b1"}


# --- hybrid -------------------------------------------------------------------------------------------


def test_hybrid_finds_by_meaning_what_keywords_miss(index: EmbeddedSearchIndex) -> None:
    assert _ids(index, _plan(index, "footwear")) == []
    assert set(_ids(index, _plan(index, "footwear", mode="hybrid"))[:2]) == {"p1", "p4"}


def test_hybrid_min_max_mean_lets_a_strong_keyword_match_lead(index: EmbeddedSearchIndex) -> None:
    page = index.search(_plan(index, "야쿠르트 에이스", mode="hybrid"))
    assert page.hits[0].id == "p2"
    assert page.total == len(LISTINGS)  # every vector is a k-NN candidate
    assert all(left.score >= right.score for left, right in zip(page.hits, page.hits[1:], strict=False))


def test_hybrid_rrf_ranks_documents_both_sides_found_above_vector_only_ones(
    index: EmbeddedSearchIndex,
) -> None:
    page = index.search(_plan(index, "야쿠르트 에이스", mode="hybrid", combination="rrf"))
    assert {hit.id for hit in page.hits[:3]} == {"p2", "p5", "b1"}
    assert page.hits[0].score == pytest.approx(1 / 61 * 0.5 + 1 / 62 * 0.5)


def test_hybrid_uses_the_given_query_vector(index: EmbeddedSearchIndex) -> None:
    plan = _plan(index, "아무거나", mode="hybrid")
    phone_vector = [0.0, 0.0, 1.0, 0.0]
    assert _ids(index, plan)[0] != "p3"
    assert index.search(plan, phone_vector).hits[0].id == "p3"


def test_hybrid_applies_filters_to_both_sides(index: EmbeddedSearchIndex) -> None:
    plan = _plan(index, "운동화", mode="hybrid", filters=SearchFilters(is_food=True))
    assert set(_ids(index, plan)) == {"p2", "p5", "b1"}


# --- filters, sort, pages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(brands=("adidas",)), {"p4"}),
        (SearchFilters(price_max=100000), {"p4"}),
        (SearchFilters(min_rating=4.6), {"p4"}),
        (SearchFilters(attributes={"Color": ("흰색",)}), {"p4"}),
        (SearchFilters(category_prefix=("패션", "신발")), {"p1", "p4"}),
        (SearchFilters(category_prefix=("식품",)), set()),
        (SearchFilters(exclude_ids=("p1",)), {"p4"}),
    ],
)
def test_filters_restrict_shoe_results(
    index: EmbeddedSearchIndex, filters: SearchFilters, expected: set[str]
) -> None:
    assert set(_ids(index, _plan(index, "운동화", filters=filters))) == expected


def test_top_level_only_hides_bundle_children(index: EmbeddedSearchIndex) -> None:
    found = _ids(index, _plan(index, "야쿠르트", filters=SearchFilters(top_level_only=True)))
    assert set(found) == {"p2", "b1"}


def test_sort_by_price_and_pagination(index: EmbeddedSearchIndex) -> None:
    assert _ids(index, _plan(index, "운동화", sort="price_asc")) == ["p4", "p1"]
    assert _ids(index, _plan(index, "운동화", sort="price_desc")) == ["p1", "p4"]
    second = index.search(_plan(index, "운동화", sort="price_asc", size=1, page=1))
    assert ([hit.id for hit in second.hits], second.total) == (["p1"], 2)


def test_hits_carry_the_source_without_the_embedding_text(index: EmbeddedSearchIndex) -> None:
    hit = index.search(_plan(index, "아디다스")).hits[0]
    assert hit.source["name"] == "아디다스 운동화 슈퍼스타"
    assert hit.source["attr_color"] == ["흰색"]
    assert "embedding_text" not in hit.source


# --- versioning and deletes ---------------------------------------------------------------------------


def _renamed(product_id: str, title: str, version: int) -> ProductDocument:
    listing = LISTINGS[product_id].model_copy(update={"title": title})
    return product_document(listing, None, version)


def test_older_or_equal_version_never_overwrites_a_newer_one(index: EmbeddedSearchIndex) -> None:
    assert index.bulk_upsert([_renamed("p1", "나이키 축구화", 3)]).indexed == 1
    outcome = index.bulk_upsert([_renamed("p1", "나이키 농구화", 2), _renamed("p1", "나이키 배구화", 3)])
    assert (outcome.indexed, outcome.stale_skipped) == (0, ["p1", "p1"])
    assert _ids(index, _plan(index, "축구화")) == ["p1"]
    assert _ids(index, _plan(index, "농구화")) == []


def test_within_one_batch_the_newest_version_wins(index: EmbeddedSearchIndex) -> None:
    outcome = index.bulk_upsert([_renamed("p4", "아디다스 축구화", 5), _renamed("p4", "아디다스 농구화", 4)])
    assert (outcome.indexed, outcome.stale_skipped) == (1, ["p4"])
    assert _ids(index, _plan(index, "축구화")) == ["p4"]


def test_delete_removes_text_and_vector_and_blocks_older_writes(index: EmbeddedSearchIndex) -> None:
    assert index.delete("p3", 2).deleted == 1
    assert _ids(index, _plan(index, "iphone")) == []
    assert "p3" not in _ids(index, _plan(index, "phone", mode="hybrid"))
    assert index.bulk_upsert([_renamed("p3", "Apple iPhone 15 Case", 2)]).stale_skipped == ["p3"]
    assert index.bulk_upsert([_renamed("p3", "Apple iPhone 16 Case", 3)]).indexed == 1
    assert _ids(index, _plan(index, "iphone")) == ["p3"]


def test_stale_delete_is_skipped(index: EmbeddedSearchIndex) -> None:
    assert index.delete("p2", 1).stale_skipped == ["p2"]
    assert "p2" in _ids(index, _plan(index, "에이스"))


def test_upsert_without_vectors_or_embedder_says_what_to_pass(analyzer: KoreanAnalyzer) -> None:
    engine = EmbeddedSearchIndex(None, analyzer, None, 4)
    engine.ensure_index()
    with pytest.raises(InvalidInput, match="pass vectors= or an embedder"):
        engine.bulk_upsert(_documents()[:1])
    assert engine.bulk_upsert(_documents()[:1], vectors=[[1.0, 0.0, 0.0, 0.0]]).indexed == 1


# --- generations and alias ----------------------------------------------------------------------------


def test_alias_swap_keeps_the_old_index_searchable_until_the_swap(
    tmp_path: Path, analyzer: KoreanAnalyzer
) -> None:
    engine = EmbeddedSearchIndex(tmp_path, analyzer, ConceptEmbedder(), ConceptEmbedder.dimension)
    assert engine.ensure_index() == "products-v0001"
    engine.bulk_upsert(_documents())

    rebuilt = engine.create_index()
    assert rebuilt == "products-v0002"
    engine.bulk_upsert([_renamed("p1", "나이키 축구화", 1)], index=rebuilt)
    assert _ids(engine, _plan(engine, "운동화")) != []
    assert _ids(engine, _plan(engine, "축구화")) == []

    engine.swap_alias(rebuilt)
    assert engine.alias_targets() == ["products-v0002"]
    assert _ids(engine, _plan(engine, "축구화")) == ["p1"]
    assert _ids(engine, _plan(engine, "운동화")) == []
    engine.close()


def test_index_state_survives_a_reopen(tmp_path: Path, analyzer: KoreanAnalyzer) -> None:
    first = EmbeddedSearchIndex(tmp_path, analyzer, ConceptEmbedder(), ConceptEmbedder.dimension)
    first.ensure_index()
    first.bulk_upsert(_documents(version=2))
    first.delete("p3", 3)
    first.close()

    reopened = EmbeddedSearchIndex(tmp_path, analyzer, ConceptEmbedder(), ConceptEmbedder.dimension)
    assert reopened.alias_targets() == ["products-v0001"]
    assert set(_ids(reopened, _plan(reopened, "운동화"))) == {"p1", "p4"}
    assert _ids(reopened, _plan(reopened, "footwear", mode="hybrid"))[0] in {"p1", "p4"}
    assert reopened.bulk_upsert([_renamed("p1", "나이키 축구화", 2)]).stale_skipped == ["p1"]
    assert reopened.bulk_upsert([_renamed("p3", "Apple iPhone 15 Case", 3)]).stale_skipped == ["p3"]
    reopened.close()


def test_swapping_to_an_unknown_index_is_refused(index: EmbeddedSearchIndex) -> None:
    with pytest.raises(InvalidInput, match="create_index"):
        index.swap_alias("products-v0009")


# --- exact names, compounds, unit pricing, similarity floors ------------------------------------------


def test_the_exact_name_plan_is_one_term_lookup_that_ignores_spacing_and_case(
    index: EmbeddedSearchIndex,
) -> None:
    from cataloop.domain.search.plan import exact_name_plan

    assert _ids(index, exact_name_plan("apple iphone 15 case")) == ["p3"]
    assert _ids(index, exact_name_plan("야쿠르트라이트")) == ["p5"]
    assert _ids(index, exact_name_plan("야쿠르트")) == []  # a word of a name is not the name


def test_a_compound_matches_however_it_is_spaced(analyzer: KoreanAnalyzer) -> None:
    engine = EmbeddedSearchIndex(
        None, KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("주방세제",))), ConceptEmbedder(), 4
    )
    engine.ensure_index()
    listings = [
        _listing("joined", "맑은집 레몬 주방세제 500ml", ["생활용품"]),
        _listing("spaced", "뽀득 주방 세제 리필", ["생활용품"]),
        _listing("laundry", "뽀득 액체세제 3L", ["생활용품"]),
        _listing("gloves", "맑은집 주방 고무장갑", ["생활용품"]),
    ]
    engine.bulk_upsert([product_document(listing, None, 1) for listing in listings])
    spaced_query = _ids(engine, _plan(engine, "주방 세제"))
    joined_query = _ids(engine, _plan(engine, "주방세제"))
    assert set(spaced_query[:2]) == {"joined", "spaced"}
    assert set(joined_query[:2]) == {"joined", "spaced"}


def test_unit_price_and_total_content_sorts(index: EmbeddedSearchIndex, analyzer: KoreanAnalyzer) -> None:
    engine = EmbeddedSearchIndex(None, analyzer, ConceptEmbedder(), ConceptEmbedder.dimension)
    engine.ensure_index()
    listings = [
        _listing("small", "야쿠르트 65ml x 5개", ["음료"], price=1100),
        _listing("big", "야쿠르트 65ml x 40개", ["음료"], price=8100),
        _listing("goods", "야쿠르트 키링", ["굿즈"], price=500),
    ]
    engine.bulk_upsert([product_document(listing, None, 1) for listing in listings])
    assert _ids(engine, _plan(engine, "야쿠르트", sort="unit_price_asc")) == ["big", "small", "goods"]
    assert _ids(engine, _plan(engine, "야쿠르트", sort="total_content_desc")) == ["big", "small", "goods"]


def test_the_similarity_floor_drops_products_only_the_vectors_found(index: EmbeddedSearchIndex) -> None:
    # "sneaker" is no word of any document: only the vectors find the shoes. A floor above every k-NN
    # score leaves nothing; a floor the shoes pass keeps them and drops the unrelated rest.
    vector = ConceptEmbedder().embed(["sneaker"], "query")[0]
    unfloored = build_search_plan("sneaker", mode="hybrid")
    assert len(index.search(unfloored, vector).hits) == len(LISTINGS)
    too_high = build_search_plan("sneaker", mode="hybrid", min_vector_score=0.999999)
    assert index.search(too_high, vector).hits == []
    floored = build_search_plan("sneaker", mode="hybrid", min_vector_score=0.9, vector_score_margin=0.05)
    assert {hit.id for hit in index.search(floored, vector).hits} == {"p1", "p4"}


def test_a_lexical_match_keeps_its_similarity_under_the_floor(index: EmbeddedSearchIndex) -> None:
    # "나이키" matches p1 by name; the floor removes no lexical hit and leaves its vector score in the fusion.
    vector = ConceptEmbedder().embed(["나이키"], "query")[0]
    plan = build_search_plan("나이키", mode="hybrid", min_vector_score=0.999999)
    hits = index.search(plan, vector).hits
    assert [hit.id for hit in hits] == ["p1"]


def test_an_index_built_with_other_fields_asks_for_a_reset(tmp_path: Path) -> None:
    import tantivy

    from cataloop.adapters.embedded_search_storage import Generation

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True)
    tantivy.Index(builder.build(), path=str(tmp_path))
    with pytest.raises(InvalidInput, match="cataloop reset"):
        Generation("products-v0001", tmp_path, 4)
