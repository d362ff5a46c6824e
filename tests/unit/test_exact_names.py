"""Every catalog title searched as typed (and with "65ml x 20개" written "65mlx20개") finds its own product
first: the exact-name fast path over the whole Korean demo catalog."""

from __future__ import annotations

import re
from typing import Literal

import pytest

from cataloop import wiring
from cataloop.adapters.embedded_search import EmbeddedSearchIndex
from cataloop.adapters.offline_guardrail import OfflineGuardrail
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search.documents import product_document
from cataloop.services.search import SearchService, SearchSettings
from cataloop.settings import Settings
from cataloop_eval.korean_catalog import korean_listings


class ZeroEmbedder:
    """The exact-name path never embeds; the few-shot classifier needs vectors of some kind."""

    dimension = 4

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0, 0.0] for _ in texts]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ProductListing], SearchService]:
    config = Settings(data_dir=str(tmp_path_factory.mktemp("state")))
    listings = [ProductListing.model_validate(item) for item in korean_listings()]
    by_id = {listing.product_id: listing for listing in listings}
    index = EmbeddedSearchIndex(None, wiring.korean_analyzer(config), ZeroEmbedder(), ZeroEmbedder.dimension)
    index.ensure_index()
    index.bulk_upsert(
        [product_document(item, None, 1, [by_id[child] for child in item.child_ids]) for item in listings]
    )
    service = wiring.build_search_service(
        index=index,
        embedder=ZeroEmbedder(),
        guardrail=OfflineGuardrail(),
        token_secret=b"exact-name-test-secret-0123456789",
        settings=SearchSettings(min_vector_score=None, vector_score_margin=None),
    )
    return listings, service


@pytest.mark.parametrize("respace", [False, True], ids=["as-listed", "65mlx20개"])
def test_every_catalog_title_finds_its_own_product_first(
    catalog: tuple[list[ProductListing], SearchService], respace: bool
) -> None:
    listings, service = catalog
    missed = []
    for listing in listings:
        query = re.sub(r"\s*x\s*", "x", listing.title) if respace else listing.title
        response = service.search({"q": query, "size": 5})
        if (
            not response.results
            or response.results[0].id != listing.product_id
            or not response.plan.exact_match
        ):
            missed.append(query)
    assert len(listings) == 420
    assert missed == []
