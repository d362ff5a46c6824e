"""What `cataloop deploy bootstrap` creates on an OpenSearch domain, as resources the bootstrap service
(`cataloop.services.bootstrap`) checks, describes and creates: the products index (first generation and
alias), the learnings index (same), the products vocabulary index, and the hybrid search pipeline the
search function would otherwise create on its first hybrid query (same name and body, so either may run
first).

Each resource says whether it exists (read-only requests), which write requests creating it takes (what a
dry run prints), and creates itself through the adapters, so what is printed is what is sent.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cataloop.adapters.opensearch_index import OpenSearchIndex
from cataloop.adapters.opensearch_learnings import OpenSearchLearningIndex
from cataloop.adapters.opensearch_queries import pipeline_name, search_pipeline_body
from cataloop.adapters.opensearch_vocabulary import OpenSearchVocabulary, vocabulary_index_body
from cataloop.domain.search.documents import index_name
from cataloop.domain.search.plan import SearchPlan, build_search_plan


def _first_generation_requests(alias: str, mapping: Mapping[str, Any]) -> list[dict[str, Any]]:
    first = index_name(alias, 1)
    return [
        {"method": "PUT", "path": f"/{first}", "body": copy.deepcopy(dict(mapping))},
        {
            "method": "POST",
            "path": "/_aliases",
            "body": {"actions": [{"add": {"index": first, "alias": alias, "is_write_index": True}}]},
        },
    ]


@dataclass
class AliasedIndexResource:
    """A products or learnings alias with its first generation."""

    index: OpenSearchIndex | OpenSearchLearningIndex
    mapping: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"index alias {self.index.alias}"

    def exists(self) -> bool:
        return bool(self.index.alias_targets())

    def requests(self) -> list[dict[str, Any]]:
        return _first_generation_requests(self.index.alias, self.mapping)

    def create(self) -> None:
        self.index.ensure_index()


@dataclass
class VocabularyIndexResource:
    """The index holding the products alias's catalog vocabulary document."""

    vocabulary: OpenSearchVocabulary

    @property
    def name(self) -> str:
        return f"vocabulary index {self.vocabulary.index}"

    def exists(self) -> bool:
        return self.vocabulary.exists()

    def requests(self) -> list[dict[str, Any]]:
        return [{"method": "PUT", "path": f"/{self.vocabulary.index}", "body": vocabulary_index_body()}]

    def create(self) -> None:
        self.vocabulary.ensure_index()


def default_hybrid_plan() -> SearchPlan:
    """A hybrid plan with the fusion settings the search service uses (the plan defaults)."""
    return build_search_plan("bootstrap", mode="hybrid")


@dataclass
class SearchPipelineResource:
    """The hybrid search pipeline (normalization-processor: min_max + arithmetic_mean with weights)."""

    index: OpenSearchIndex
    plan: SearchPlan

    @property
    def pipeline(self) -> str:
        return pipeline_name(self.plan)

    @property
    def body(self) -> dict[str, Any]:
        return search_pipeline_body(
            self.plan.normalization,
            self.plan.combination,
            self.plan.sub_query_weights(),
            self.plan.rank_constant,
        )

    @property
    def name(self) -> str:
        return f"search pipeline {self.pipeline}"

    def exists(self) -> bool:
        """True when the pipeline is there with this body (a different body is replaced: PUT is idempotent)."""
        from opensearchpy.exceptions import NotFoundError

        try:
            found = self.index.client.search_pipeline.get(id=self.pipeline)
        except NotFoundError:
            return False
        return bool(found.get(self.pipeline) == self.body)

    def requests(self) -> list[dict[str, Any]]:
        return [{"method": "PUT", "path": f"/_search/pipeline/{self.pipeline}", "body": self.body}]

    def create(self) -> None:
        plan = self.plan
        self.index.ensure_search_pipeline(
            self.pipeline, plan.normalization, plan.combination, plan.sub_query_weights(), plan.rank_constant
        )


def bootstrap_resources(
    products: OpenSearchIndex, learnings: OpenSearchLearningIndex
) -> list[AliasedIndexResource | VocabularyIndexResource | SearchPipelineResource]:
    """Everything a fresh domain needs before the functions use it, in creation order."""
    return [
        AliasedIndexResource(products, products.mapping),
        AliasedIndexResource(learnings, learnings.mapping),
        VocabularyIndexResource(products.vocabulary_store),
        SearchPipelineResource(products, default_hybrid_plan()),
    ]
