"""Learnings index: Knowledge stream records -> learning documents (only learning items), external versions
and tombstones in the embedded engine, scope filters, similarity search, and the OpenSearch query body."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.adapters.dynamodb_codec import to_item
from cataloop.adapters.dynamodb_streams import StreamChanges, decode_stream_event
from cataloop.adapters.embedded_learnings import EmbeddedLearningIndex
from cataloop.adapters.opensearch_learnings import similar_learnings_body
from cataloop.domain.knowledge.learning import ValueLexicon
from cataloop.domain.knowledge.learning_search import LearningFilter, learning_document, scope_prefixes
from cataloop.domain.knowledge.tree import Learning, LearningStatus, path_key
from cataloop.errors import InvalidInput
from cataloop.services.indexing import index_learning_changes
from cataloop.services.knowledge_search import KnowledgeSearch

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# Each axis is one topic; a text's vector counts its topic words, so nearness is predictable.
TOPICS = (("야쿠르트", "유산균", "yakult"), ("나이키", "운동화", "nike"), ("용량", "ml", "volume"))


class TopicEmbedder:
    dimension = len(TOPICS) + 1

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        self.calls.append((len(texts), kind))
        return [[float(sum(t.lower().count(w) for w in words)) for words in TOPICS] + [0.05] for t in texts]


def _learning(
    learning_id: str,
    text: str,
    values: list[str],
    scope: list[str],
    version: int = 1,
    status: LearningStatus = LearningStatus.ACTIVE,
) -> Learning:
    return Learning(
        id=learning_id, version=version, text=text, scope_path=scope, attributes=["Brand"],
        directive=ValueLexicon(attribute="Brand", values=values), status=status, valid_from=AT,
        valid_to=AT if status is LearningStatus.RETIRED else None, created_at=AT, updated_at=AT,
    )  # fmt: skip


YAKULT = _learning("l-yakult", "야쿠르트 is a Brand of 유산균 drinks", ["야쿠르트"], ["식품", "발효유"])
NIKE = _learning("l-nike", "나이키 is the Brand on 운동화 titles", ["나이키"], ["패션", "신발"])
ROOT = _learning("l-root", "Yakult is a Brand, never a volume in ml", ["Yakult"], [])


KNOWLEDGE_TABLE = "cataloop-test-knowledge"
PRODUCTS_TABLE = "cataloop-test-products"


def _arn(table: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-11-01T00:00:00.000"


def _item(learning: Learning) -> dict[str, Any]:
    """A learning as the Knowledge table stores it (AttributeValues, as a stream record carries it)."""
    data = learning.model_dump(mode="json")
    stored = {
        "pk": f"NODE#{path_key(learning.scope_path)}",
        "sk": f"LEARNING#{learning.id}",
        "entity": "learning",
    }
    return to_item({**stored, **data})


def _record(
    sequence: int,
    name: str,
    keys: dict[str, Any],
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    table: str = KNOWLEDGE_TABLE,
) -> dict[str, Any]:
    """A stream record in Lambda's format; `keys` and images as plain values."""
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1795338000,
        "Keys": to_item(keys),
        "SequenceNumber": str(sequence),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        dynamodb["NewImage"] = new if "pk" in new and isinstance(new["pk"], dict) else to_item(new)
    if old is not None:
        dynamodb["OldImage"] = old if "pk" in old and isinstance(old["pk"], dict) else to_item(old)
    return {
        "eventID": f"e{sequence}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": _arn(table),
    }


def _learning_record(sequence: int, learning: Learning, name: str = "INSERT") -> dict[str, Any]:
    item = _item(learning)
    keys = {"pk": item["pk"]["S"], "sk": item["sk"]["S"]}
    return _record(
        sequence, name, keys, None if name == "REMOVE" else item, item if name != "INSERT" else None
    )


def _changes(records: list[dict[str, Any]]) -> StreamChanges:
    return decode_stream_event(
        {"Records": records}, products_table=PRODUCTS_TABLE, knowledge_table=KNOWLEDGE_TABLE
    )


def _index_records(records: list[dict[str, Any]], index: EmbeddedLearningIndex) -> Any:
    changes = _changes(records)
    assert not changes.products
    return index_learning_changes(changes.learnings, index, ignored=changes.ignored)


@pytest.fixture
def index(tmp_path: Path) -> EmbeddedLearningIndex:
    learnings = EmbeddedLearningIndex(tmp_path / "learnings", TopicEmbedder(), TopicEmbedder.dimension)
    learnings.ensure_index()
    return learnings


# --- documents and filters --------------------------------------------------------------------------


def test_a_learning_document_carries_scope_keys_status_and_an_embedding_text() -> None:
    document = learning_document(YAKULT)
    assert document.scope_prefixes == [
        "/",
        path_key(["식품"]),
        path_key(["식품", "발효유"]),
        "=" + path_key(["식품", "발효유"]),
    ]
    assert (document.id, document.version, document.status) == ("l-yakult", 1, "active")
    assert "식품 > 발효유" in document.embedding_text and "야쿠르트" in document.embedding_text


@given(st.lists(st.text(alphabet="ab가나/%", min_size=1, max_size=4), max_size=4), st.integers(0, 4))
def test_applies_matches_exactly_the_scope_and_its_ancestors(path: list[str], cut: int) -> None:
    source = {"status": "active", "scope_prefixes": scope_prefixes(path[:cut])}
    # A learning placed at a prefix of `path` applies at `path`; one placed deeper does not.
    assert LearningFilter.for_scope(path, "applies").accepts(source)
    assert LearningFilter.for_scope(path[:cut], "within").accepts(
        {"status": "active", "scope_prefixes": scope_prefixes(path)}
    )
    if cut < len(path):
        assert not LearningFilter.for_scope(path[:cut], "applies").accepts(
            {"status": "active", "scope_prefixes": scope_prefixes(path)}
        )


def test_filters_are_the_same_clauses_in_the_opensearch_body() -> None:
    learning_filter = LearningFilter.for_scope(["식품"], "within")
    body = similar_learnings_body([0.1, 0.2], learning_filter, 3)
    knn = body["query"]["knn"]["embedding"]
    assert knn["k"] == 3 and body["size"] == 3
    assert knn["filter"]["bool"]["filter"] == [
        {"terms": {"scope_prefixes": [path_key(["식품"])]}},
        {"terms": {"status": ["proposed", "active"]}},
    ]
    assert "filter" not in similar_learnings_body([0.1], LearningFilter(), 1)["query"]["knn"]["embedding"]


# --- stream batches ---------------------------------------------------------------------------------


def test_only_learning_items_are_indexed_and_other_knowledge_items_are_ignored(
    index: EmbeddedLearningIndex,
) -> None:
    node = {"pk": "NODE#/식품", "sk": "#NODE"}
    records = [
        _record(1, "INSERT", node, {**node, "entity": "node", "path": ["식품"]}),
        _learning_record(2, YAKULT),
        _record(
            3,
            "INSERT",
            {"pk": "LEARNING#l-yakult", "sk": "#LOCATOR"},
            {"node_pk": "NODE#/식품", "version": 1},
        ),
        _record(4, "INSERT", {"pk": "AUDIT#2026-11-01", "sk": "x"}, {"action": "created"}),
        _learning_record(5, NIKE),
    ]
    result = _index_records(records, index)
    assert (result.indexed, result.ignored, result.failed_sequence_numbers) == (2, 3, [])
    assert index.document_count() == 2


def test_versions_are_external_and_a_remove_leaves_a_tombstone(index: EmbeddedLearningIndex) -> None:
    retired = YAKULT.revise(
        AT, "expert", "retired", "wrong brand", status=LearningStatus.RETIRED, valid_to=AT
    )
    result = _index_records([_learning_record(1, retired, "MODIFY"), _learning_record(2, YAKULT)], index)
    assert (result.indexed, result.stale) == (1, 1)  # version 1 arrived after version 2
    hit = index.similar(TopicEmbedder().embed(["야쿠르트"], "query")[0], LearningFilter(), 1)[0]
    assert hit.source["status"] == "retired"

    removed = _index_records([_learning_record(3, retired, "REMOVE")], index)
    late = _index_records([_learning_record(4, retired, "MODIFY")], index)
    assert removed.deleted == 1 and late.stale == 1 and index.document_count() == 0


def test_a_poison_learning_is_reported_with_every_later_record(index: EmbeddedLearningIndex) -> None:
    poison = _learning_record(2, NIKE)
    poison["dynamodb"]["NewImage"]["text"] = {"S": "vague"}  # too short and names no directive value
    records = [_learning_record(1, YAKULT), poison, _learning_record(3, ROOT)]
    result = _index_records(records, index)
    assert result.failed_sequence_numbers == ["2", "3"]
    assert result.rejected and result.rejected[0].startswith("l-nike: InvalidInput: learning l-nike")
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}


# --- the embedded engine -------------------------------------------------------------------------------


def test_a_new_generation_is_invisible_until_the_swap_and_state_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "learnings"
    first = EmbeddedLearningIndex(path, TopicEmbedder(), TopicEmbedder.dimension)
    old = first.ensure_index()
    first.bulk_upsert([learning_document(YAKULT)])
    new = first.create_index()
    first.bulk_upsert([learning_document(NIKE), learning_document(ROOT)], index=new)
    assert first.document_count() == 1
    first.swap_alias(new)

    reopened = EmbeddedLearningIndex(path, TopicEmbedder(), TopicEmbedder.dimension)
    assert reopened.alias_targets() == [new] and reopened.existing_indices() == [old, new]
    assert reopened.document_count() == 2 and reopened.document_count(old) == 1
    with pytest.raises(InvalidInput, match="create_index"):
        reopened.swap_alias("learnings-v0009")


def test_vectors_must_match_the_documents_and_dimension(index: EmbeddedLearningIndex) -> None:
    with pytest.raises(InvalidInput, match="one each"):
        index.bulk_upsert([learning_document(YAKULT)], vectors=[[1, 0, 0, 0], [0, 1, 0, 0]])
    with pytest.raises(InvalidInput, match="dimension 4"):
        index.bulk_upsert([learning_document(YAKULT)], vectors=[[1, 0]])


# --- similarity search ------------------------------------------------------------------------------


def _search(index: EmbeddedLearningIndex) -> KnowledgeSearch:
    retired = _learning(
        "l-old", "야쿠르트 유산균 is a Brand (old wording)", ["야쿠르트"], ["식품"], 2, LearningStatus.RETIRED
    )
    index.bulk_upsert([learning_document(item) for item in (YAKULT, NIKE, ROOT, retired)])
    return KnowledgeSearch(index, TopicEmbedder())


def test_similar_learnings_rank_by_meaning_within_the_applicable_scope(index: EmbeddedLearningIndex) -> None:
    search = _search(index)
    found = search.similar_learnings("유산균 야쿠르트 브랜드", ["식품", "발효유", "요구르트"], limit=5)
    assert [item.id for item in found] == ["l-yakult", "l-root"]  # NIKE's scope is elsewhere, l-old retired
    assert found[0].score > found[1].score and found[0].scope_path == ["식품", "발효유"]

    everywhere = search.similar_learnings("나이키 운동화", None, limit=2)
    assert everywhere[0].id == "l-nike"
    with_history = search.similar_learnings("야쿠르트", ["식품"], reach="within", include_retired=True)
    assert {item.id for item in with_history} == {"l-yakult", "l-old"}


def test_similar_learnings_refuses_bad_input_before_embedding(index: EmbeddedLearningIndex) -> None:
    embedder = TopicEmbedder()
    search = KnowledgeSearch(index, embedder)
    with pytest.raises(InvalidInput, match="text is empty"):
        search.similar_learnings("   ", ["식품"])
    with pytest.raises(InvalidInput, match="limit"):
        search.similar_learnings("야쿠르트", ["식품"], limit=0)
    assert embedder.calls == []
    assert search.similar_learnings("야쿠르트", ["식품"]) == []  # empty index: no hits, no error


# --- the indexer routes by table ----------------------------------------------------------------------


def _indexer_app() -> Any:
    path = Path(__file__).resolve().parents[2] / "functions" / "indexer" / "app.py"
    spec = importlib.util.spec_from_file_location("indexer_app_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_indexer_routes_records_to_the_index_of_their_table(
    index: EmbeddedLearningIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cataloop import wiring
    from cataloop.adapters.memory import InMemoryProductStore
    from cataloop.domain.search.documents import BulkOutcome

    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Cataloop")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    app = _indexer_app()
    config = SimpleNamespace(products_table=PRODUCTS_TABLE, knowledge_table=KNOWLEDGE_TABLE)
    monkeypatch.setattr(app, "settings", lambda: config)
    products: list[Any] = []

    class ProductIndexSpy:
        def bulk_upsert(self, documents: Any, vectors: Any = None, *, index: Any = None) -> Any:
            products.extend(documents)
            return BulkOutcome(indexed=len(documents))

        def bulk_delete(self, items: Any, *, index: Any = None) -> Any:
            return BulkOutcome(deleted=len(items))

    monkeypatch.setattr(wiring, "search_index", lambda _settings: ProductIndexSpy())
    monkeypatch.setattr(wiring, "learning_index", lambda _settings: index)
    monkeypatch.setattr(wiring, "product_store", lambda _settings: InMemoryProductStore())
    product_image = {
        "product_id": "p1", "version": 1, "status": "PENDING", "source_event_id": "e", "created_at": "t",
        "updated_at": "t", "listing": {"product_id": "p1", "title": "야쿠르트 라이트", "category_path": ["발효유"]},
    }  # fmt: skip
    learning = _learning_record(2, YAKULT)
    records = [
        _record(1, "INSERT", {"product_id": "p1"}, product_image, table=config.products_table),
        {**learning, "eventSourceARN": _arn(config.knowledge_table)},
        _record(
            3, "INSERT", {"pk": "NODE#/식품", "sk": "#NODE"}, {"path": ["식품"]}, table=config.knowledge_table
        ),
    ]
    result = app.index_event({"Records": records})
    assert (result.indexed, result.ignored, [document.id for document in products]) == (2, 1, ["p1"])
    assert index.document_count() == 1
    assert app.lambda_handler({"Records": records}, _Context()) == {"batchItemFailures": []}

    with pytest.raises(InvalidInput, match="KNOWLEDGE_TABLE"):
        app.index_event({"Records": [_learning_record(3, NIKE) | {"eventSourceARN": _arn("someone-elses")}]})


class _Context:
    function_name = "IndexerFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IndexerFunction"
    aws_request_id = "r-1"
