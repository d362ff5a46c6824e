"""Enrichment use cases: the function each EnrichProduct workflow state calls, all over the ModelClient port.

generate (Parallel branches) -> evaluate (Evaluate) -> decide (Consensus) -> supervise (on DISAGREE/AUDIT).
Each model call records the model id, template id and version, token usage and latency, and its output is
validated again here (attribute names against the schema, evidence against the text, learning ids against
those injected), whatever the adapter already checked.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import AttributeSchema
from cataloop.domain.enrichment.consensus import ConsensusDecision, ConsensusSettings, decide_consensus
from cataloop.domain.enrichment.extraction import (
    AttributeValue,
    EvaluatorReport,
    SupervisorResolution,
    WorkerExtraction,
)
from cataloop.domain.enrichment.prompting import (
    DEFAULT_BUDGET_CHARS,
    ProductData,
    prepare_product_data,
    render_evaluator,
    render_generator,
    render_supervisor,
)
from cataloop.domain.knowledge.learning import LearningView
from cataloop.domain.model_calls import ModelRequest, ModelUsage, OutputT, PromptText
from cataloop.errors import ModelError
from cataloop.ports import ModelClient

GeneratorRole = Literal["generator", "generator_b"]
FewShotExample = tuple[str, dict[str, str]]


class ModelCallRecord(BaseModel):
    """Provenance of one model call: what ran, with which prompt, at what cost."""

    model_config = ConfigDict(frozen=True)

    role: str
    model_id: str
    template_id: str
    template_version: str
    usage: ModelUsage
    latency_ms: float
    truncated: bool = False
    learning_ids_injected: list[str] = Field(default_factory=list)
    prompt_chars: int = 0


class WorkerRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    call: ModelCallRecord
    extraction: WorkerExtraction
    dropped: list[str] = Field(default_factory=list, description="output problems removed during validation")


class EvaluatorRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    call: ModelCallRecord
    report: EvaluatorReport
    dropped: list[str] = Field(default_factory=list)


class SupervisorRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    call: ModelCallRecord
    resolution: SupervisorResolution
    dropped: list[str] = Field(default_factory=list)


def _call(
    model: ModelClient,
    role: str,
    prompt: PromptText,
    payload: dict[str, Any],
    output_model: type[OutputT],
    product: ProductData,
    learnings: Sequence[LearningView],
) -> tuple[OutputT, ModelCallRecord]:
    request = ModelRequest(role=role, prompt=prompt, payload=payload)
    started = time.perf_counter()
    response = model.invoke(request, output_model)
    elapsed_ms = (time.perf_counter() - started) * 1000
    try:
        # Validate again: an adapter may hand back a dict-shaped or foreign model instance.
        output = output_model.model_validate(response.output.model_dump(mode="json"))
    except ValidationError as error:
        raise ModelError(f"{role} output does not match {output_model.__name__}: {error}") from None
    record = ModelCallRecord(
        role=role,
        model_id=response.model_id,
        template_id=prompt.template_id,
        template_version=prompt.template_version,
        usage=response.usage,
        latency_ms=response.usage.latency_ms or elapsed_ms,
        truncated=product.truncated,
        learning_ids_injected=[view.id for view in learnings],
        prompt_chars=len(prompt.system) + len(prompt.user),
    )
    return output, record


def _field_text(product: ProductData, field: str) -> str:
    if field == "bullet_points":
        return " ".join(product.bullet_points)
    if field == "category_path":
        return " > ".join(product.category_path)
    value = getattr(product, field, "")
    return value if isinstance(value, str) else ""


def _clean_attributes(
    attributes: dict[str, AttributeValue], schema: AttributeSchema, product: ProductData
) -> tuple[dict[str, AttributeValue], list[str]]:
    """Drop attributes outside the schema; drop evidence that does not quote the product text."""
    kept: dict[str, AttributeValue] = {}
    dropped: list[str] = []
    for name, value in attributes.items():
        if schema.get(name) is None:
            dropped.append(f"attribute {name!r} is not in schema {schema.schema_id}")
            continue
        evidence = value.evidence
        if (
            evidence is not None
            and _field_text(product, evidence.field)[evidence.start : evidence.end] != evidence.text
        ):
            dropped.append(
                f"evidence of {name!r} does not quote {evidence.field}[{evidence.start}:{evidence.end}]"
            )
            value = value.model_copy(update={"evidence": None, "confidence": min(value.confidence, 0.3)})
        kept[name] = value
    return kept, dropped


def _known_ids(used: list[str], learnings: Sequence[LearningView], dropped: list[str]) -> list[str]:
    injected = {view.id for view in learnings}
    unknown = [lid for lid in used if lid not in injected]
    if unknown:
        dropped.append(f"learning ids {unknown} were not injected")
    return [lid for lid in used if lid in injected]


def _payload(
    product: ProductData, schema: AttributeSchema, learnings: Sequence[LearningView], **extra: Any
) -> dict[str, Any]:
    return {
        "product": product.model_dump(mode="json"),
        "schema": schema.model_dump(mode="json"),
        "learnings": [view.model_dump(mode="json") for view in learnings],
        **extra,
    }


def _candidates(runs: Sequence[WorkerRun]) -> list[dict[str, Any]]:
    return [{"role": run.call.role, "extraction": run.extraction.model_dump(mode="json")} for run in runs]


def generate(
    role: GeneratorRole,
    listing: ProductListing,
    learnings: Sequence[LearningView],
    schema: AttributeSchema,
    model: ModelClient,
    *,
    examples: Sequence[FewShotExample] = (),
    budget_chars: int = DEFAULT_BUDGET_CHARS,
) -> WorkerRun:
    """Run one generator over the listing with the retrieved learnings injected; output validated."""
    product = prepare_product_data(listing, budget_chars)
    prompt = render_generator(product, schema, learnings, examples)
    payload = _payload(product, schema, learnings, examples=[list(example) for example in examples])
    output, record = _call(model, role, prompt, payload, WorkerExtraction, product, learnings)
    attributes, dropped = _clean_attributes(output.attributes, schema, product)
    ids = _known_ids(output.learning_ids_used, learnings, dropped)
    extraction = output.model_copy(update={"attributes": attributes, "learning_ids_used": ids})
    return WorkerRun(call=record, extraction=extraction, dropped=dropped)


def evaluate(
    listing: ProductListing,
    runs: Sequence[WorkerRun],
    learnings: Sequence[LearningView],
    schema: AttributeSchema,
    model: ModelClient,
    *,
    budget_chars: int = DEFAULT_BUDGET_CHARS,
) -> EvaluatorRun:
    """Run the critical evaluator over the generators' extractions; verdicts outside the schema are dropped."""
    product = prepare_product_data(listing, budget_chars)
    candidates = _candidates(runs)
    prompt = render_evaluator(product, schema, candidates, learnings)
    payload = _payload(product, schema, learnings, candidates=candidates)
    output, record = _call(model, "evaluator", prompt, payload, EvaluatorReport, product, learnings)
    dropped = [
        f"verdict for unknown attribute {v.attribute!r}"
        for v in output.verdicts
        if schema.get(v.attribute) is None
    ]
    verdicts = [v for v in output.verdicts if schema.get(v.attribute) is not None]
    ids = _known_ids(output.learning_ids_used, learnings, dropped)
    report = output.model_copy(update={"verdicts": verdicts, "learning_ids_used": ids})
    return EvaluatorRun(call=record, report=report, dropped=dropped)


def decide(
    listing: ProductListing,
    schema: AttributeSchema,
    runs: Sequence[WorkerRun],
    evaluation: EvaluatorRun | None,
    settings: ConsensusSettings | None = None,
) -> ConsensusDecision:
    """The Consensus state: AGREE, DISAGREE (with attributes) or AUDIT. Pure; no model call."""
    return decide_consensus(
        listing.product_id,
        schema,
        [run.extraction for run in runs],
        evaluation.report if evaluation else None,
        settings,
    )


def supervise(
    listing: ProductListing,
    schema: AttributeSchema,
    runs: Sequence[WorkerRun],
    evaluation: EvaluatorRun | None,
    decision: ConsensusDecision,
    learnings: Sequence[LearningView],
    model: ModelClient,
    *,
    budget_chars: int = DEFAULT_BUDGET_CHARS,
) -> SupervisorRun:
    """Resolve a disagreement (or check an audited agreement) with the strong model; learnings it writes
    are returned as drafts for the knowledge base to place. Unresolved attributes go to human review."""
    product = prepare_product_data(listing, budget_chars)
    candidates = _candidates(runs)
    report = evaluation.report.model_dump(mode="json") if evaluation else None
    prompt = render_supervisor(
        product, schema, candidates, report, decision.decision, decision.disagreed_attributes, learnings
    )
    payload = _payload(
        product,
        schema,
        learnings,
        candidates=candidates,
        evaluation=report,
        decision=decision.decision,
        disagreed_attributes=list(decision.disagreed_attributes),
        agreed_values={name: value.model_dump(mode="json") for name, value in decision.agreed_values.items()},
        source_channel="audit" if decision.decision == "AUDIT" else "worker_disagreement",
    )
    output, record = _call(model, "supervisor", prompt, payload, SupervisorResolution, product, learnings)
    attributes, dropped = _clean_attributes(output.attributes, schema, product)
    unresolved = [name for name in output.unresolved if schema.get(name) is not None]
    names = set(schema.names)
    learnings_kept = []
    for draft in output.learnings:
        if set(draft.attributes) <= names:
            learnings_kept.append(draft)
        else:
            dropped.append(f"learning about attributes outside the schema: {draft.attributes}")
    ids = _known_ids(output.learning_ids_used, learnings, dropped)
    resolution = output.model_copy(
        update={
            "attributes": attributes,
            "unresolved": unresolved,
            "learnings": learnings_kept,
            "learning_ids_used": ids,
        }
    )
    return SupervisorRun(call=record, resolution=resolution, dropped=dropped)


def final_attributes(
    decision: ConsensusDecision, supervision: SupervisorRun | None
) -> dict[str, AttributeValue]:
    """What to persist: the supervisor's resolution when there is one, else the agreed values."""
    if supervision is None:
        return dict(decision.agreed_values)
    return dict(supervision.resolution.attributes)
