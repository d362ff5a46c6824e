"""The learning loop, measured: the EnrichProduct use cases (`cataloop.services.pipeline`) over labelled
products, scored against gold.

`score_run` turns one `PipelineRun` into a `ProductScore` (what was decided, what each worker, the consensus
and the supervisor said, and how each compares with gold). `summarise` aggregates scores; `learning_eval`
is the experiment of `cataloop eval learning`: replay a train set with learning on (round-robin over
categories), freeze the knowledge base, and score a test set without learnings, with the tree's retrieval
and with a flat list of the same learnings under the same token budget.

Definitions (every number in the report means exactly this):
- disagreement rate: products whose Consensus decision is DISAGREE.
- supervisor rate: products the supervisor saw (DISAGREE, plus the AUDIT sample of agreed products).
- agreed-path precision: precision against gold of the values persisted WITHOUT the supervisor (products
  decided AGREE), the values a customer sees when nobody checked them.
- audit agreement: on AUDIT products, the share of agreed values the supervisor kept (what production can
  measure without gold; an estimate of agreed-path precision).
- supervisor F1: the supervisor's own resolution on the products it saw, against gold.
- modelled cost: per-role token prices (config/model_prices.json) times token counts; the offline baseline's
  token counts are estimates (characters / 4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.consensus import ConsensusSettings
from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.enrichment.pricing import PriceTable, default_prices
from cataloop.domain.knowledge.learning import LearningView
from cataloop.domain.knowledge.retrieval import DEFAULT_PROMPT_BUDGET_TOKENS, rank_for_prompt
from cataloop.domain.knowledge.tree import LearningStatus
from cataloop.ports import KnowledgeStore, ModelClient
from cataloop.services.pipeline import EnrichmentPipeline, PipelineRun, Retriever, tree_retriever
from cataloop_eval.scoring import ScoreBoard, Scores

T = TypeVar("T")


@dataclass(frozen=True)
class Labelled:
    """A listing and its gold values per attribute."""

    listing: ProductListing
    gold: Mapping[str, Sequence[str]]

    @property
    def category(self) -> str:
        return " > ".join(self.listing.category_path)


@dataclass(frozen=True)
class ProductScore:
    product_id: str
    category: str
    decision: str
    supervised: bool
    human_review: bool
    predicted: dict[str, str]
    gold: dict[str, list[str]]
    agreed: dict[str, str]
    supervisor: dict[str, str] | None
    workers: dict[str, dict[str, str]]
    evaluator_approval: float
    learnings_injected: int
    learnings_proposed: int
    placements: dict[str, int]
    input_tokens: int
    output_tokens: int
    cost: float


def _values(attributes: Mapping[str, Any]) -> dict[str, str]:
    return {name: value.value for name, value in attributes.items()}


def score_run(run: PipelineRun, gold: Mapping[str, Sequence[str]], prices: PriceTable) -> ProductScore:
    calls = [r.call for r in run.runs] + [run.evaluation.call]
    if run.supervision is not None:
        calls.append(run.supervision.call)
    placements: dict[str, int] = {}
    for placement in run.placements:
        for decision in placement.decisions:
            placements[decision.action] = placements.get(decision.action, 0) + 1
    return ProductScore(
        product_id=run.listing.product_id,
        category=" > ".join(run.listing.category_path),
        decision=run.decision,
        supervised=run.supervision is not None,
        human_review=run.needs_review,
        predicted=_values(run.final),
        gold={name: list(values) for name, values in gold.items()},
        agreed=_values(run.consensus.agreed_values),
        supervisor=_values(run.supervision.resolution.attributes) if run.supervision else None,
        workers={r.call.role: _values(r.extraction.attributes) for r in run.runs},
        evaluator_approval=run.evaluation.report.approval_rate,
        learnings_injected=len(run.learnings),
        learnings_proposed=len(run.supervision.resolution.learnings) if run.supervision else 0,
        placements=placements,
        input_tokens=sum(c.usage.input_tokens for c in calls),
        output_tokens=sum(c.usage.output_tokens for c in calls),
        cost=sum(prices.cost(c.role, c.usage) for c in calls),
    )


def run_labelled(
    pipeline: EnrichmentPipeline,
    items: Iterable[Labelled],
    prices: PriceTable | None = None,
    on_product: Callable[[ProductScore], None] | None = None,
) -> list[ProductScore]:
    """Run the pipeline over `items` in order (learning carries forward when the pipeline has a store)."""
    prices = prices or default_prices()
    scores: list[ProductScore] = []
    for item in items:
        score = score_run(pipeline.run(item.listing), item.gold, prices)
        scores.append(score)
        if on_product is not None:
            on_product(score)
    return scores


# --------------------------------------------------------------------------------------------- summaries


def _rate(flags: Sequence[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def _scores(scores: Scores) -> dict[str, Any]:
    return {
        "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4),
        "f1": round(scores.f1, 4),
        **scores.counts.model_dump(),
    }


def _board(pairs: Iterable[tuple[Mapping[str, str], Mapping[str, Sequence[str]]]]) -> ScoreBoard:
    board = ScoreBoard()
    for predicted, gold in pairs:
        board.add(predicted, gold)
    return board


def _audit_agreement(scores: Sequence[ProductScore]) -> float | None:
    kept = total = 0
    for score in scores:
        if score.decision != "AUDIT" or score.supervisor is None:
            continue
        for name, value in score.agreed.items():
            total += 1
            kept += normalise_text(score.supervisor.get(name, "")) == normalise_text(value)
    return round(kept / total, 4) if total else None


def summarise(scores: Sequence[ProductScore], prices: PriceTable | None = None) -> dict[str, Any]:
    """Every figure the report prints, for one set of products (see the module docstring)."""
    prices = prices or default_prices()
    count = len(scores) or 1
    agreed = [s for s in scores if s.decision == "AGREE"]
    supervised = [s for s in scores if s.supervisor is not None]
    roles = sorted({role for s in scores for role in s.workers})
    placements: dict[str, int] = {}
    for score in scores:
        for action, n in score.placements.items():
            placements[action] = placements.get(action, 0) + n
    board = _board((s.predicted, s.gold) for s in scores)
    micro = board.micro()
    return {
        "products": len(scores),
        "micro": _scores(micro),
        "per_attribute": {name: _scores(x) for name, x in board.per_attribute().items()},
        "f1": round(micro.f1, 4),
        "disagreement_rate": _rate([s.decision == "DISAGREE" for s in scores]),
        "audit_rate": _rate([s.decision == "AUDIT" for s in scores]),
        "supervisor_rate": _rate([s.supervised for s in scores]),
        "human_review_rate": _rate([s.human_review for s in scores]),
        "evaluator_approval_rate": round(sum(s.evaluator_approval for s in scores) / count, 4),
        "agreed_path_precision": round(_board((s.agreed, s.gold) for s in agreed).micro().precision, 4)
        if agreed
        else None,
        "agreed_path_products": len(agreed),
        "audit_agreement": _audit_agreement(scores),
        "supervisor_f1": round(_board((s.supervisor or {}, s.gold) for s in supervised).micro().f1, 4)
        if supervised
        else None,
        "worker_f1": {
            role: round(_board((s.workers.get(role, {}), s.gold) for s in scores).micro().f1, 4)
            for role in roles
        },
        "learnings_injected_per_product": round(sum(s.learnings_injected for s in scores) / count, 2),
        "learnings_proposed": sum(s.learnings_proposed for s in scores),
        "placements": placements,
        "tokens_per_product": {
            "input": round(sum(s.input_tokens for s in scores) / count, 1),
            "output": round(sum(s.output_tokens for s in scores) / count, 1),
            "estimated": True,
            "method": "characters / 4 of the rendered prompt and of the JSON output",
        },
        "modelled_cost_per_product": {
            "amount": round(sum(s.cost for s in scores) / count, 6),
            "currency": prices.currency,
            "prices": "cataloop/config/model_prices.json",
        },
    }


def by_slice(scores: Sequence[ProductScore], slices: int = 10) -> list[dict[str, Any]]:
    """`summarise` of each of `slices` consecutive equal parts (arrival order)."""
    size = len(scores)
    parts = [
        scores[size * i // slices : size * (i + 1) // slices]
        for i in range(slices)
        if size * (i + 1) // slices > size * i // slices
    ]
    return [summarise(part) for part in parts]


def round_robin(items: Sequence[T], key: Callable[[T], str]) -> list[T]:
    """Round-robin over the groups `key` names, each group in its given order."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    queues = list(groups.values())
    ordered: list[T] = []
    position = 0
    while any(position < len(queue) for queue in queues):
        ordered.extend(queue[position] for queue in queues if position < len(queue))
        position += 1
    return ordered


def interleave(items: Sequence[Labelled]) -> list[Labelled]:
    """Round-robin over categories, each category in file order: a marketplace receives every category
    over time, so what changes from slice to slice is the learning, not the slice's category mix."""
    return round_robin(items, lambda item: item.category)


# ------------------------------------------------------------------------------------ flat-list retrieval


def flat_retriever(
    store: KnowledgeStore, budget: int = DEFAULT_PROMPT_BUDGET_TOKENS, now: datetime | None = None
) -> Retriever:
    """The control for the tree: every active learning in one flat list, ranked by the same score within the
    same token budget, with no category scoping (each learning is treated as if it applied everywhere)."""
    learnings = [
        item.model_copy(update={"scope_path": []})
        for page in store.scan_learnings()
        for item in page
        if item.status is LearningStatus.ACTIVE and item.valid_to is None
    ]

    def retrieve(category_path: Sequence[str], text: str) -> list[LearningView]:
        return rank_for_prompt(learnings, text, category_path, budget, now)

    return retrieve


# ----------------------------------------------------------------------------------------- experiment


@dataclass
class LearningExperiment:
    """Settings of `learning_eval`."""

    consensus: ConsensusSettings = field(default_factory=ConsensusSettings)
    review_confidence_threshold: float = 0.6
    budget: int = DEFAULT_PROMPT_BUDGET_TOKENS
    slices: int = 10


def knowledge_shape(store: KnowledgeStore) -> dict[str, Any]:
    """The tree's shape: nodes by depth, learnings by status and kind, deepest path."""
    nodes = store.tree()
    by_depth: dict[int, int] = {}
    for node in nodes:
        by_depth[len(node.path)] = by_depth.get(len(node.path), 0) + 1
    status: dict[str, int] = {}
    kinds: dict[str, int] = {}
    depth_of_active: dict[int, int] = {}
    for page in store.scan_learnings():
        for item in page:
            status[item.status.value] = status.get(item.status.value, 0) + 1
            if item.status is LearningStatus.ACTIVE:
                kinds[item.directive.type] = kinds.get(item.directive.type, 0) + 1
                depth = len(item.scope_path)
                depth_of_active[depth] = depth_of_active.get(depth, 0) + 1
    return {
        "nodes": len(nodes),
        "nodes_by_depth": {str(k): v for k, v in sorted(by_depth.items())},
        "max_depth": max(by_depth) if by_depth else 0,
        "learnings_by_status": status,
        "active_by_directive": kinds,
        "active_by_depth": {str(k): v for k, v in sorted(depth_of_active.items())},
    }


def learning_eval(
    train: Sequence[Labelled],
    test: Sequence[Labelled],
    model: ModelClient,
    store: KnowledgeStore,
    settings: LearningExperiment | None = None,
    on_product: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Replay `train` with learning on, then score `test` frozen: without learnings, with the tree, and with
    a flat list of the same learnings. `store` starts empty (the in-memory fake, or a real table)."""
    settings = settings or LearningExperiment()

    def pipeline(retrieve: Retriever | None, learn: bool) -> EnrichmentPipeline:
        return EnrichmentPipeline(
            model=model,
            retrieve=retrieve,
            knowledge=store if learn else None,
            consensus=settings.consensus,
            review_confidence_threshold=settings.review_confidence_threshold,
        )

    def tick(phase: str) -> Callable[[ProductScore], None]:
        return lambda _score: on_product(phase) if on_product else None

    replayed = run_labelled(
        pipeline(tree_retriever(store, settings.budget), learn=True), train, on_product=tick("replay")
    )
    without = run_labelled(pipeline(None, learn=False), test, on_product=tick("test without"))
    with_tree = run_labelled(
        pipeline(tree_retriever(store, settings.budget), learn=False), test, on_product=tick("test tree")
    )
    with_flat = run_labelled(
        pipeline(flat_retriever(store, settings.budget), learn=False), test, on_product=tick("test flat")
    )
    slices = by_slice(replayed, settings.slices)
    test_without, test_tree, test_flat = summarise(without), summarise(with_tree), summarise(with_flat)
    return {
        "replay": {
            **summarise(replayed),
            "disagreement_rate_by_slice": [s["disagreement_rate"] for s in slices],
            "supervisor_rate_by_slice": [s["supervisor_rate"] for s in slices],
            "agreed_path_precision_by_slice": [s["agreed_path_precision"] for s in slices],
            "modelled_cost_by_slice": [s["modelled_cost_per_product"]["amount"] for s in slices],
            "learnings_injected_by_slice": [s["learnings_injected_per_product"] for s in slices],
            "f1_by_slice": [s["f1"] for s in slices],
            "slices": slices,
        },
        "test": {
            "products": len(test),
            "f1_without_learnings": test_without["f1"],
            "f1_with_learnings": test_tree["f1"],
            "disagreement_rate_without": test_without["disagreement_rate"],
            "disagreement_rate_with": test_tree["disagreement_rate"],
            "supervisor_rate_without": test_without["supervisor_rate"],
            "supervisor_rate_with": test_tree["supervisor_rate"],
            "agreed_path_precision_without": test_without["agreed_path_precision"],
            "agreed_path_precision_with": test_tree["agreed_path_precision"],
            "without": test_without,
            "with": test_tree,
        },
        "tree_vs_flat": {
            "tree_f1": test_tree["f1"],
            "flat_f1": test_flat["f1"],
            "budget_tokens": settings.budget,
            "tree_learnings_injected_per_product": test_tree["learnings_injected_per_product"],
            "flat_learnings_injected_per_product": test_flat["learnings_injected_per_product"],
            "flat": test_flat,
        },
        "knowledge": knowledge_shape(store),
    }
