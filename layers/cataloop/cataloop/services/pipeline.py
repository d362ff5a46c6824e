"""The EnrichProduct workflow as one composition of the use cases its states call.

`statemachines/enrich_product.asl.json` runs, state by state: PrepareContext (retrieve learnings) -> Workers
(Parallel: `generate` per worker role) -> Evaluate -> Consensus (`decide`) -> AgreedOrNot (Choice: AGREE goes
to Persist) -> Supervise (`supervise` + `review_routing`) -> PlaceLearnings (`place_learning` per draft) ->
Persist. Each Lambda handler calls exactly one of those functions (Supervise also scores the learnings the
workers used with `learning_outcomes.supervision_outcomes`). `EnrichmentPipeline.run` calls the same
functions in the same order in one process, over whatever ports it is given (the in-memory fakes for a fast
replay, the DynamoDB stores in a script). `cataloop eval learning` runs it; `--cloud` runs the ASL and the
handlers instead, and a test checks both give the same decisions and extractions on a fixed sample.

Persist is not part of `run`: the evaluation scores what would be persisted (`final_attributes`), and the
product store is the workflow's concern, not the learning loop's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import AttributeSchema, schema_for
from cataloop.domain.enrichment.consensus import ConsensusDecision, ConsensusSettings
from cataloop.domain.enrichment.extraction import AttributeValue
from cataloop.domain.knowledge.learning import LearningView
from cataloop.domain.knowledge.retrieval import DEFAULT_PROMPT_BUDGET_TOKENS
from cataloop.domain.knowledge.tree import DeploymentMode
from cataloop.ports import KnowledgeStore, ModelClient
from cataloop.services.enrichment import (
    EvaluatorRun,
    WorkerRun,
    decide,
    evaluate,
    final_attributes,
    generate,
    supervise,
)
from cataloop.services.knowledge_base import PlacementResult, place_learning, retrieve_for_prompt
from cataloop.services.learning_outcomes import OutcomeReport, record_outcomes, supervision_outcomes
from cataloop.services.workflow import SupervisionOutcome, review_routing

# The Workers state's Parallel branches, in branch order.
WORKER_ROLES: tuple[str, ...] = ("generator", "generator_b")
# The AgreedOrNot Choice state: every decision but AGREE goes to the supervisor.
SUPERVISED_DECISIONS: frozenset[str] = frozenset({"DISAGREE", "AUDIT"})

Retriever = Callable[[Sequence[str], str], list[LearningView]]


def product_text(listing: ProductListing) -> str:
    """The text PrepareContext ranks learnings against (title, then description)."""
    return f"{listing.title} {listing.description}".strip()


def tree_retriever(
    store: KnowledgeStore, budget: int = DEFAULT_PROMPT_BUDGET_TOKENS, now: datetime | None = None
) -> Retriever:
    """PrepareContext's retrieval: the active learnings along the category path, within the token budget."""

    def retrieve(category_path: Sequence[str], text: str) -> list[LearningView]:
        return retrieve_for_prompt(store, list(category_path), text, budget=budget, now=now)

    return retrieve


@dataclass(frozen=True)
class PipelineRun:
    """Everything one enrichment decided, in the shape of the states' outputs."""

    listing: ProductListing
    schema: AttributeSchema
    learnings: list[LearningView]
    runs: list[WorkerRun]
    evaluation: EvaluatorRun
    consensus: ConsensusDecision
    supervision: SupervisionOutcome | None
    placements: list[PlacementResult] = field(default_factory=list)
    outcomes: OutcomeReport | None = None

    @property
    def final(self) -> dict[str, AttributeValue]:
        """What Persist would write."""
        return final_attributes(self.consensus, self.supervision)

    @property
    def decision(self) -> str:
        return self.consensus.decision

    @property
    def needs_review(self) -> bool:
        return self.supervision is not None and self.supervision.needs_review


@dataclass
class EnrichmentPipeline:
    """The EnrichProduct states composed over ports (see the module docstring).

    `retrieve`: PrepareContext's learning retrieval (None: no learnings are injected). `knowledge`: where
    PlaceLearnings places the supervisor's drafts (None: learning is frozen, nothing is written).
    """

    model: ModelClient
    retrieve: Retriever | None
    knowledge: KnowledgeStore | None
    consensus: ConsensusSettings = field(default_factory=ConsensusSettings)
    review_confidence_threshold: float = 0.6
    mode: DeploymentMode = DeploymentMode.DEPLOY_AND_LEARN
    memory_manager: ModelClient | None = None

    def run(self, listing: ProductListing, execution_id: str | None = None) -> PipelineRun:
        schema = schema_for(listing.category_path)
        learnings = self.retrieve(listing.category_path, product_text(listing)) if self.retrieve else []
        runs = [generate(role, listing, learnings, schema, self.model) for role in WORKER_ROLES]  # type: ignore[arg-type]
        evaluation = evaluate(listing, runs, learnings, schema, self.model)
        consensus = decide(listing, schema, runs, evaluation, self.consensus)
        supervision: SupervisionOutcome | None = None
        placements: list[PlacementResult] = []
        outcomes: OutcomeReport | None = None
        if consensus.decision in SUPERVISED_DECISIONS:
            run = supervise(listing, schema, runs, evaluation, consensus, learnings, self.model)
            supervision = review_routing(run, self.review_confidence_threshold)
            if self.knowledge is not None:
                # The Supervise state: the resolution scores the learnings the workers used.
                outcomes = record_outcomes(
                    self.knowledge,
                    supervision_outcomes(
                        listing.product_id, consensus.decision, learnings, runs, supervision
                    ),
                )
                # The PlaceLearnings state.
                for draft in run.resolution.learnings:
                    placements.append(
                        place_learning(
                            draft,
                            self.knowledge,
                            self.mode,
                            self.memory_manager,
                            execution_id=execution_id,
                        )
                    )
        return PipelineRun(
            listing=listing,
            schema=schema,
            learnings=list(learnings),
            runs=runs,
            evaluation=evaluation,
            consensus=consensus,
            supervision=supervision,
            placements=placements,
            outcomes=outcomes,
        )
