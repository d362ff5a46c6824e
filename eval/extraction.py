"""Offline evaluation of the whole enrichment loop over an OA-Mine-format JSONL.

Per product: two generators -> evaluator -> consensus -> supervisor on DISAGREE or AUDIT. Learnings the
supervisor writes go into an in-memory list (a stand-in for the knowledge base, which comes later) and are
retrieved for later products by category scope and lexical match with the title. The final attributes are
scored against the gold labels (ExtractGPT convention, see cataloop_eval.scoring).

Token counts from the offline baseline are estimates (prompt and output characters / 4) and are labelled so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.domain.enrichment.consensus import ConsensusSettings
from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.enrichment.pricing import PriceTable, default_prices
from cataloop.domain.knowledge.learning import (
    AttributeFact,
    LearningDraft,
    LearningView,
    NotValue,
    UnitPattern,
    ValueLexicon,
    directive_key,
)
from cataloop.errors import InvalidInput
from cataloop.ports import ModelClient
from cataloop.services.enrichment import (
    EvaluatorRun,
    SupervisorRun,
    decide,
    evaluate,
    final_attributes,
    generate,
    supervise,
)
from cataloop.services.workflow import review_routing
from cataloop_eval.scoring import ScoreBoard


class OaMineRecord(BaseModel):
    """One line of an OA-Mine JSONL: title, category and gold values per attribute."""

    model_config = ConfigDict(extra="ignore")

    input: str = Field(min_length=1, max_length=500)
    category: str = Field(min_length=1, max_length=100)
    target_scores: dict[str, dict[str, float]] = Field(default_factory=dict)

    @property
    def gold(self) -> dict[str, list[str]]:
        return {attribute: list(values) for attribute, values in self.target_scores.items() if values}

    def listing(self) -> ProductListing:
        """The record as a seller listing; the id is derived from the title so reruns are stable."""
        digest = hashlib.sha256(self.input.encode()).hexdigest()[:16]
        return ProductListing(
            product_id=f"oa-{digest}", title=self.input, category_path=[self.category], locale="en"
        )


def read_oa_mine(path: str | Path) -> list[OaMineRecord]:
    """Records of an OA-Mine JSONL; InvalidInput names the first bad line."""
    records: list[OaMineRecord] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(OaMineRecord.model_validate_json(line))
            except ValidationError as error:
                raise InvalidInput(
                    f"{path}:{number} is not an OA-Mine record {{input, category, target_scores}}: {error}"
                ) from None
    return records


def holdout_split(
    records: Sequence[OaMineRecord], fraction_denominator: int = 5
) -> tuple[list[OaMineRecord], list[OaMineRecord]]:
    """(train, holdout) by a fixed hash of the title: sha256(title) % denominator == 0 is held out (20%)."""
    train: list[OaMineRecord] = []
    holdout: list[OaMineRecord] = []
    for record in records:
        bucket = int(hashlib.sha256(record.input.encode()).hexdigest(), 16) % fraction_denominator
        (holdout if bucket == 0 else train).append(record)
    return train, holdout


class LearningMemory:
    """In-memory learnings with ids, de-duplicated by (scope, directive); retrieval by scope and title match."""

    def __init__(self, learnings: Iterable[LearningView] = ()) -> None:
        self.views: list[LearningView] = []
        self._keys: set[str] = set()
        for view in learnings:
            self._remember(view)

    def _key(
        self, scope_path: Sequence[str], directive: ValueLexicon | NotValue | UnitPattern | AttributeFact
    ) -> str:
        return "/".join(normalise_text(part) for part in scope_path) + "#" + directive_key(directive)

    def _remember(self, view: LearningView) -> bool:
        key = self._key(view.scope_path, view.directive)
        if key in self._keys:
            return False
        self._keys.add(key)
        self.views.append(view)
        return True

    def add(self, draft: LearningDraft) -> LearningView | None:
        """Store a draft under a new id; None when the same directive already exists in the same scope."""
        view = LearningView.from_draft(draft, f"L{len(self.views) + 1:05d}")
        return view if self._remember(view) else None

    def retrieve(self, category_path: Sequence[str], title: str, limit: int = 30) -> list[LearningView]:
        """Learnings whose scope covers the category and whose terms occur in the title (facts always)."""
        folded = f" {normalise_text(title)} "
        scored: list[tuple[int, int, LearningView]] = []
        for index, view in enumerate(self.views):
            if not view.applies_to(list(category_path)):
                continue
            directive = view.directive
            if isinstance(directive, AttributeFact):
                terms = [""]
            elif isinstance(directive, ValueLexicon):
                terms = list(directive.values)
            elif isinstance(directive, NotValue):
                terms = [directive.value]
            else:
                terms = list(directive.unit_terms)
            hits = [term for term in terms if normalise_text(term) in folded]
            if hits:
                scored.append((-max(len(term) for term in hits), index, view))
        scored.sort(key=lambda item: (item[0], item[1]))
        return [view for _, _, view in scored[:limit]]


class EvalSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    consensus: ConsensusSettings = Field(default_factory=ConsensusSettings)
    collect_learnings: bool = True
    use_learnings: bool = True
    max_learnings_in_prompt: int = Field(default=30, ge=0, le=100)
    review_confidence_threshold: float = Field(default=0.6, ge=0.0, le=1.0)


class ProductOutcome(BaseModel):
    product_id: str
    category: str
    decision: str
    disagreed_attributes: list[str]
    supervised: bool
    unresolved: list[str]
    human_review: bool
    predicted: dict[str, str]
    outcomes: dict[str, str]
    evaluator_approval: float
    input_tokens: int
    output_tokens: int
    cost: float
    learnings_injected: int
    learnings_written: int


class EvalOutcome(BaseModel):
    """The summary dict (see run_extraction_eval), every product's outcome, and the learnings at the end."""

    summary: dict[str, Any]
    products: list[ProductOutcome]
    learnings: list[LearningView]


def _rate(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else 0.0


def _by_tenth(flags: Sequence[bool]) -> list[float]:
    if not flags:
        return []
    size = len(flags)
    return [
        round(_rate(flags[size * i // 10 : size * (i + 1) // 10]), 4)
        for i in range(10)
        if size * (i + 1) // 10 > size * i // 10
    ]


def _by_tenth_within_category(products: Sequence[ProductOutcome]) -> list[float]:
    # Files are often grouped by category; the learning effect shows within each category's own sequence.
    seen: dict[str, int] = {}
    totals: dict[str, int] = {}
    for product in products:
        totals[product.category] = totals.get(product.category, 0) + 1
    buckets: list[list[bool]] = [[] for _ in range(10)]
    for product in products:
        position = seen.get(product.category, 0)
        seen[product.category] = position + 1
        buckets[position * 10 // totals[product.category]].append(product.decision == "DISAGREE")
    return [round(_rate(bucket), 4) for bucket in buckets if bucket]


def run_pipeline(
    records: Sequence[OaMineRecord],
    model: ModelClient,
    *,
    settings: EvalSettings | None = None,
    memory: LearningMemory | None = None,
    prices: PriceTable | None = None,
) -> EvalOutcome:
    """Run the enrichment loop over `records` in order, feeding learnings forward, and score the result."""
    settings = settings or EvalSettings()
    memory = memory if memory is not None else LearningMemory()
    prices = prices or default_prices()
    board = ScoreBoard()
    products: list[ProductOutcome] = []
    approvals: list[float] = []
    for record in records:
        listing = record.listing()
        schema = schema_for(listing.category_path)
        learnings = (
            memory.retrieve(listing.category_path, listing.title, settings.max_learnings_in_prompt)
            if settings.use_learnings
            else []
        )
        runs = [generate(role, listing, learnings, schema, model) for role in ("generator", "generator_b")]
        evaluation: EvaluatorRun = evaluate(listing, runs, learnings, schema, model)
        decision = decide(listing, schema, runs, evaluation, settings.consensus)
        supervision: SupervisorRun | None = None
        written = 0
        if decision.decision in ("DISAGREE", "AUDIT"):
            supervision = supervise(listing, schema, runs, evaluation, decision, learnings, model)
            if settings.collect_learnings:
                written = sum(memory.add(draft) is not None for draft in supervision.resolution.learnings)
        final = final_attributes(decision, supervision)
        predicted = {name: value.value for name, value in final.items()}
        outcomes = board.add(predicted, record.gold)
        calls = [run.call for run in runs] + [evaluation.call] + ([supervision.call] if supervision else [])
        approvals.append(evaluation.report.approval_rate)
        products.append(
            ProductOutcome(
                product_id=listing.product_id,
                category=record.category,
                decision=decision.decision,
                disagreed_attributes=decision.disagreed_attributes,
                supervised=supervision is not None,
                unresolved=supervision.resolution.unresolved if supervision else [],
                # The Supervise state's rule, not a copy of it.
                human_review=supervision is not None
                and review_routing(supervision, settings.review_confidence_threshold).needs_review,
                predicted=predicted,
                outcomes=dict(outcomes),
                evaluator_approval=evaluation.report.approval_rate,
                input_tokens=sum(call.usage.input_tokens for call in calls),
                output_tokens=sum(call.usage.output_tokens for call in calls),
                cost=sum(prices.cost(call.role, call.usage) for call in calls),
                learnings_injected=len(learnings),
                learnings_written=written,
            )
        )
    count = len(products) or 1
    disagreed = [p.decision == "DISAGREE" for p in products]
    micro = board.micro()
    summary: dict[str, Any] = {
        "products": len(products),
        "micro": {
            "precision": micro.precision,
            "recall": micro.recall,
            "f1": micro.f1,
            **micro.counts.model_dump(),
        },
        "per_attribute": {
            name: {"precision": s.precision, "recall": s.recall, "f1": s.f1, **s.counts.model_dump()}
            for name, s in board.per_attribute().items()
        },
        "disagreement_rate": _rate(disagreed),
        "disagreement_rate_by_tenth": _by_tenth(disagreed),
        "disagreement_rate_by_tenth_within_category": _by_tenth_within_category(products),
        "audit_rate": _rate([p.decision == "AUDIT" for p in products]),
        "supervisor_rate": _rate([p.supervised for p in products]),
        "human_review_rate": _rate([p.human_review for p in products]),
        "evaluator_approval_rate": sum(approvals) / count,
        "tokens_per_product": {
            "input": sum(p.input_tokens for p in products) / count,
            "output": sum(p.output_tokens for p in products) / count,
            "estimated": True,
            "method": "characters / 4 of the rendered prompt and of the JSON output",
        },
        "modelled_cost_per_product": {
            "amount": sum(p.cost for p in products) / count,
            "currency": prices.currency,
            "prices": "cataloop/config/model_prices.json",
        },
        "learnings_written": sum(p.learnings_written for p in products),
        "learnings_total": len(memory.views),
    }
    return EvalOutcome(summary=summary, products=products, learnings=list(memory.views))


def run_extraction_eval(
    jsonl_path: str | Path,
    model: ModelClient,
    *,
    settings: EvalSettings | None = None,
    learnings: Iterable[LearningView] = (),
) -> dict[str, Any]:
    """Evaluate the loop over an OA-Mine JSONL; returns {"products", "micro", "per_attribute",
    "disagreement_rate", "supervisor_rate", "tokens_per_product", "modelled_cost_per_product", ...}."""
    return run_pipeline(
        read_oa_mine(jsonl_path), model, settings=settings, memory=LearningMemory(learnings)
    ).summary


def learning_curve(
    train: Sequence[OaMineRecord],
    holdout: Sequence[OaMineRecord],
    model: ModelClient,
    *,
    settings: EvalSettings | None = None,
) -> dict[str, Any]:
    """Replay `train` with learnings fed back, then score `holdout` with and without those learnings
    (learning frozen on the holdout, so its labels never leak into the knowledge)."""
    settings = settings or EvalSettings()
    replay = run_pipeline(train, model, settings=settings)
    frozen = settings.model_copy(update={"collect_learnings": False})
    without = run_pipeline(holdout, model, settings=frozen.model_copy(update={"use_learnings": False}))
    with_learnings = run_pipeline(holdout, model, settings=frozen, memory=LearningMemory(replay.learnings))
    return {
        "replay": replay.summary,
        "holdout_without_learnings": without.summary,
        "holdout_with_learnings": with_learnings.summary,
    }
