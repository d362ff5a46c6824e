"""The catalog vocabulary on OpenSearch (`opensearch_vocabulary.py`): built at reindex from the catalog,
extended by the indexer, read with a TTL cache; and chosung (`ㅇㅋㄹㅌ`), wrong-keyboard (`diznfmxm`) and
typo (`dirnfmxm` -> 야구르트 -> 야쿠르트) queries resolve the same way on the embedded engine and on the
OpenSearch adapter over `FakeOpenSearch`, whose `_analyze` runs the analyzers nori mirrors locally.

The catalog is the first products of data/korean-mall (야쿠르트 is its chosung/keyboard example).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cataloop.adapters.embedded_search import EmbeddedSearchIndex
from cataloop.adapters.embedded_search_storage import english_analyzer
from cataloop.adapters.korean_analyzer import (
    SHINGLE_FILLER,
    KoreanAnalysisConfig,
    KoreanAnalyzer,
    nori_index_settings,
)
from cataloop.adapters.memory import InMemoryProductStore
from cataloop.adapters.opensearch_index import OpenSearchIndex
from cataloop.adapters.opensearch_mapping import index_mapping
from cataloop.adapters.opensearch_vocabulary import OpenSearchVocabulary
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.domain.search.changes import ProductChanged
from cataloop.domain.search.documents import product_document
from cataloop.domain.search.plan import build_search_plan
from cataloop.domain.search.variants import CatalogVocabulary, chosung_variant, keyboard_variant
from cataloop.ports import StoredVocabulary
from cataloop.services.indexing import index_product_changes
from cataloop.services.reindex import plan_reindex, reindex_products
from cataloop_eval.korean_catalog import korean_listings
from tests.contract.fake_opensearch import FakeOpenSearch
from tests.contract.test_product_index_contract import ConceptEmbedder

ROOT = Path(__file__).resolve().parents[2]
TYPOS = {"야구르트": "야쿠르트"}  # the data/korean-mall typo dictionary's entry for this word
USER_DICTIONARY = ("야쿠르트",)
NOW = "2026-01-01T00:00:00Z"


def _stored(listing: ProductListing, version: int = 1) -> StoredProduct:
    return StoredProduct(
        product_id=listing.product_id,
        version=version,
        status=ProductStatus.ENRICHED,
        listing=listing,
        source_event_id=f"e-{listing.product_id}",
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.fixture(scope="module")
def listings() -> list[ProductListing]:
    return [ProductListing.model_validate(item) for item in korean_listings(40)]


@pytest.fixture(scope="module")
def analyzer() -> KoreanAnalyzer:
    return KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=USER_DICTIONARY))


def _positioned(analyzer: KoreanAnalyzer) -> Callable[[str], list[tuple[str, int]]]:
    """`korean_index` with positions, so the fake's shingles see the gaps of stopped words as nori's do."""
    return lambda text: [(token.term, token.position) for token in analyzer.tokens(text)]


def _fake(analyzer: KoreanAnalyzer) -> FakeOpenSearch:
    english = english_analyzer()
    return FakeOpenSearch(analyzers={"korean_index": _positioned(analyzer), "english": english.analyze})


def _opensearch(client: FakeOpenSearch, **options: Any) -> OpenSearchIndex:
    mapping = index_mapping(ConceptEmbedder.dimension, nori_index_settings(list(USER_DICTIONARY), []))
    return OpenSearchIndex(client, "products", mapping=mapping, embedder=ConceptEmbedder(), **options)


def _store(listings: list[ProductListing]) -> InMemoryProductStore:
    store = InMemoryProductStore(page_size=7)
    for listing in listings:
        store.create_pending(listing, f"e-{listing.product_id}", NOW)
    return store


@pytest.fixture
def engines(
    tmp_path: Path, analyzer: KoreanAnalyzer, listings: list[ProductListing]
) -> Iterator[tuple[EmbeddedSearchIndex, OpenSearchIndex]]:
    embedded = EmbeddedSearchIndex(
        tmp_path / "search", analyzer, ConceptEmbedder(), ConceptEmbedder.dimension
    )
    opensearch = _opensearch(_fake(analyzer))
    store = _store(listings)
    for index in (embedded, opensearch):
        index.ensure_index()
        reindex_products(index, store)
    yield embedded, opensearch
    embedded.close()


def test_the_embedded_engine_keeps_no_vocabulary_data_and_opensearch_does() -> None:
    assert isinstance(_opensearch(FakeOpenSearch()), StoredVocabulary)


def test_reindex_stores_the_vocabulary_the_embedded_engine_lists(
    engines: tuple[EmbeddedSearchIndex, OpenSearchIndex],
    analyzer: KoreanAnalyzer,
    listings: list[ProductListing],
) -> None:
    """Nearly the same terms. The one known difference: OpenSearch analyses each keyword of the `keywords`
    array on its own (so does the vocabulary, as it holds what the index holds), the embedded engine the
    keywords joined by spaces, and mecab splits a word in context differently now and then (고단백). The
    embedded engine lists the terms of its compound fields as indexed, filler shingles ("_딸기", next to a
    stopped word) included; the OpenSearch vocabulary leaves those out (no one types them)."""
    embedded, opensearch = engines
    stored = set(opensearch.vocabulary())
    listed = {term for term in embedded.vocabulary() if SHINGLE_FILLER not in term}
    assert not any(SHINGLE_FILLER in term for term in stored)
    assert {"야쿠르트", "요구르트", "오리지널", "딸기"} <= stored
    separate: set[str] = set()
    joined: set[str] = set()
    for listing in listings:
        keywords = product_document(listing, None, 1).keywords
        separate.update(term for keyword in keywords for term in analyzer.analyze(keyword))
        joined.update(analyzer.analyze(" ".join(keywords)))
    assert stored ^ listed <= separate ^ joined, sorted(stored ^ listed)
    assert len(stored ^ listed) <= 0.1 * len(listed)


@pytest.mark.parametrize("query", ["ㅇㅋㄹㅌ", "diznfmxm", "dirnfmxm"])
def test_variants_resolve_the_same_on_both_engines(
    engines: tuple[EmbeddedSearchIndex, OpenSearchIndex], query: str
) -> None:
    resolved = []
    for index in engines:
        vocabulary = CatalogVocabulary(index.vocabulary())
        variant = chosung_variant(query, vocabulary) or keyboard_variant(query, vocabulary, TYPOS)
        assert variant is not None, type(index).__name__
        plan = build_search_plan(variant.text, in_catalog=index.in_catalog)
        resolved.append((variant.kind, variant.text, [(c.purpose, c.text) for c in plan.clauses]))
    assert resolved[0] == resolved[1]
    assert resolved[0][1] == "야쿠르트"


def test_in_catalog_agrees_with_the_embedded_engine(
    engines: tuple[EmbeddedSearchIndex, OpenSearchIndex],
) -> None:
    for text in ("야쿠르트", "야구르트", "야쿠르트 오리지널", "유산균음료", "nike"):
        assert engines[1].in_catalog(text) == engines[0].in_catalog(text), text


def test_the_indexer_adds_the_terms_of_new_products(
    analyzer: KoreanAnalyzer, listings: list[ProductListing]
) -> None:
    client = _fake(analyzer)
    index = _opensearch(client, vocabulary_ttl_seconds=0)
    index.ensure_index()
    reindex_products(index, _store(listings[:3]))
    new = ProductListing(
        product_id="new-1", title="그릭요거트 플레인", category_path=["발효유"], brand="매일"
    )
    change = ProductChanged(product_id="new-1", version=1, product=_stored(new), sequence_number="1")
    result = index_product_changes([change], index, _store([new]))
    assert result.indexed == 1 and result.failed_sequence_numbers == []
    vocabulary = set(index.vocabulary())
    assert set(analyzer.analyze("그릭요거트 플레인")) | set(analyzer.analyze("매일")) <= vocabulary
    assert "야쿠르트" in vocabulary  # kept from the reindex
    # An already known term is not written again: no vocabulary write for a repeat batch.
    writes = len([r for r in client.requests if r["path"] == "/products-vocabulary/_doc/vocabulary"])
    index_product_changes([change.model_copy(update={"sequence_number": "2"})], index, _store([new]))
    puts = [r for r in client.requests if r["path"] == "/products-vocabulary/_doc/vocabulary"]
    assert [r["method"] for r in puts[writes:]] == ["GET"]


def test_a_vocabulary_failure_does_not_fail_the_indexed_batch(
    analyzer: KoreanAnalyzer, listings: list[ProductListing], monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _opensearch(_fake(analyzer))
    index.ensure_index()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("domain unreachable")

    monkeypatch.setattr(index.vocabulary_store, "terms", broken)
    change = ProductChanged(product_id=listings[0].product_id, version=1, product=_stored(listings[0]),
                            sequence_number="1")  # fmt: skip
    result = index_product_changes([change], index, _store(listings[:1]))
    assert result.indexed == 1 and result.failed_sequence_numbers == []


def test_concurrent_writers_do_not_lose_terms(
    analyzer: KoreanAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _fake(analyzer)
    first = OpenSearchVocabulary(client, "products", ttl_seconds=0)
    second = OpenSearchVocabulary(client, "products", ttl_seconds=0)
    first.replace({"야쿠르트": 3}, generation="products-v0001")
    original = second._read
    raced = False

    def read_then_race() -> Any:
        nonlocal raced
        found = original()
        if not raced:  # another indexer writes between our read and our write: our write gets a 409
            raced = True
            first.extend({"요거트": 1})
        return found

    monkeypatch.setattr(second, "_read", read_then_race)
    second.extend({"유산균": 2})
    assert first.load() == {"야쿠르트": 3, "요거트": 1, "유산균": 2}


def test_the_vocabulary_is_cached_for_its_ttl(analyzer: KoreanAnalyzer) -> None:
    client = FakeOpenSearch()
    now = [0.0]
    reader = OpenSearchVocabulary(client, "products", ttl_seconds=300, clock=lambda: now[0])
    writer = OpenSearchVocabulary(client, "products")
    assert reader.load() == {}  # nothing stored yet: empty, and search skips variants
    writer.replace({"야쿠르트": 1}, generation="products-v0001")
    now[0] = 299.0
    assert reader.load() == {}
    now[0] = 300.0
    assert reader.load() == {"야쿠르트": 1}


def test_plan_reindex_reads_only(analyzer: KoreanAnalyzer, listings: list[ProductListing]) -> None:
    client = _fake(analyzer)
    index = _opensearch(client)
    index.ensure_index()
    before = len(client.requests)
    store = _store(listings[:5])
    plan = plan_reindex(index, store.approximate_count)
    assert plan.model_dump() == {
        "alias": "products",
        "current_indices": ["products-v0001"],
        "approximate_items": 5,
        "rebuilds_vocabulary": True,
    }
    assert all(r["method"] in ("GET", "HEAD") for r in client.requests[before:])


def test_documents_match_what_the_catalog_gives(listings: list[ProductListing]) -> None:
    # Guard: the catalog still holds the example word this module relies on.
    assert any("야쿠르트" in product_document(listing, None, 1).name for listing in listings)


def test_the_vocabulary_holds_the_compounds_of_names_and_keywords(
    engines: tuple[EmbeddedSearchIndex, OpenSearchIndex],
    analyzer: KoreanAnalyzer,
    listings: list[ProductListing],
) -> None:
    """The `.joined` sub-fields add each pair of neighbouring terms written together; the vocabulary
    holds them on both engines, so a compound typed without spaces is a catalog term."""
    embedded, opensearch = engines
    stored, listed = set(opensearch.vocabulary()), set(embedded.vocabulary())
    document = product_document(listings[0], None, 1)
    compounds = {
        term
        for text in (document.name, *document.keywords)
        for term in analyzer.joined(text)
        if term not in analyzer.analyze(text)
    }
    assert compounds and compounds <= stored and compounds <= listed


def test_compounds_are_the_shingles_only_and_never_a_filler_shingle() -> None:
    """`_analyze` with the compound analyzer returns unigrams (counted by the index analyzer already) and
    shingles; a shingle next to a stopped word holds the filler "_" (Lucene's default `filler_token`, as
    `KoreanAnalyzer.joined` writes it) and is no vocabulary term."""
    client = FakeOpenSearch()
    vocabulary = OpenSearchVocabulary(client, "products")
    responses = {
        "korean_index": {"tokens": [{"token": "주방", "type": "word"}, {"token": "세제", "type": "word"}]},
        "korean_joined": {
            "tokens": [
                {"token": "주방", "type": "word"},
                {"token": "주방_", "type": "shingle"},  # 주방 + the gap of a stopped 용
                {"token": "_세제", "type": "shingle"},
                {"token": "세제", "type": "word"},
                {"token": "세제리필", "type": "shingle"},
            ]
        },
        "english": {"tokens": []},
    }

    def analyze(index: str, body: dict[str, Any]) -> dict[str, Any]:
        return responses[body["analyzer"]]

    client.indices.analyze = analyze  # type: ignore[method-assign]
    document = product_document(
        ProductListing(product_id="x", title="주방용 세제 리필", category_path=["생활"]), None, 1
    )
    assert vocabulary.terms([document], "products") == {"주방": 1, "세제": 1, "세제리필": 1}


def test_the_compound_analyzer_puts_the_filler_where_a_stopped_word_was(analyzer: KoreanAnalyzer) -> None:
    """Through the mapping's analyzers: the index-side shingles are `KoreanAnalyzer.joined`'s, fillers
    included, and the vocabulary keeps only the real compounds."""
    client = _fake(analyzer)
    index = _opensearch(client)
    index.ensure_index()
    for text in ("주방용 세제", "순한 주방 세제"):
        tokens = client.indices.analyze(index="products", body={"analyzer": "korean_joined", "text": text})
        assert [token["token"] for token in tokens["tokens"]] == analyzer.joined(text)
    documents = [
        product_document(ProductListing(product_id=pid, title=title, category_path=["생활"]), None, 1)
        for pid, title in (("a", "주방용 세제"), ("b", "순한 주방 세제"))
    ]
    terms = index.catalog_terms(documents)
    assert terms["주방세제"] == 1 and not any("_" in term for term in terms)


def test_a_generation_without_the_compound_analyzer_gives_no_compounds(analyzer: KoreanAnalyzer) -> None:
    from opensearchpy.exceptions import RequestError

    client = _fake(analyzer)
    vocabulary = OpenSearchVocabulary(client, "products")
    original = client.indices.analyze

    def analyze(body: dict[str, Any], index: str | None = None) -> dict[str, Any]:
        if body["analyzer"] == "korean_joined":
            raise RequestError(
                400, "illegal_argument_exception", {"error": "failed to find analyzer [korean_joined]"}
            )
        return original(body=body, index=index)

    client.indices.analyze = analyze  # type: ignore[method-assign]
    _opensearch(client).ensure_index()
    document = product_document(
        ProductListing(product_id="x", title="주방 세제", category_path=["생활"]), None, 1
    )
    assert vocabulary.terms([document], "products") == {"주방": 1, "세제": 1}
