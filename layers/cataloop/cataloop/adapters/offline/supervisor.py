"""The offline baseline's supervisor (role `supervisor`): a SIMULATED strong model, not an LLM.

Given a labelled reference set (`Reference`, an OA-Mine-format JSONL) it returns the reference labels for a
product whose title is in the set (confidence 0.95). Otherwise it resolves each disputed attribute from the
values of the most similar reference products of the same category, then from the category's recurring
reference values, then from learnings, then from its own reading of the candidates (low confidence), and lists
what it cannot resolve as unresolved (human review). It writes at most `max_learnings_per_product` concrete
learnings per product (value lexicons, not-values that demonstrably belong to another attribute, unit
patterns) and does not repeat learnings it was shown.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cataloop.adapters.offline.common import (
    Knowledge,
    Payload,
    Product,
    candidate_extractions,
    read_payload,
    title_value,
    word_re,
)
from cataloop.adapters.offline.reference import Reference, ReferenceRow
from cataloop.domain.enrichment.attributes import AttributeSchema
from cataloop.domain.enrichment.extraction import AttributeValue, SupervisorResolution, WorkerExtraction
from cataloop.domain.enrichment.normalisation import normalise_text, normalise_value, tokens, unit_info
from cataloop.domain.knowledge.learning import LearningDraft, LearningProvenance


def _scope_text(path: list[str]) -> str:
    return " > ".join(path) if path else "all categories"


@dataclass(frozen=True)
class Supervisor:
    """The simulated supervisor. `reference`: the labelled set it may consult (None: it has none);
    `model_id`: recorded in the provenance of the learnings it writes."""

    reference: Reference | None
    model_id: str
    max_learnings_per_product: int = 4
    similar_products: int = 10

    def resolve(self, payload: Payload) -> SupervisorResolution:
        """The supervisor's resolution of the payload's product (see the module docstring)."""
        product, schema, knowledge = read_payload(payload)
        extractions = candidate_extractions(payload)
        row = self.reference.by_title.get(normalise_text(product.title)) if self.reference else None
        if row is not None:
            gold = {a: list(v) for a, v in row.target_scores.items() if schema.get(a) is not None}
            attributes = {}
            for name, values in gold.items():
                spec = schema.get(name)
                if spec is None or not values:
                    continue
                value = values[0].strip()
                match = word_re(value).search(product.title)
                attributes[name] = (
                    title_value(product.title, match.start(), match.end(), spec, 0.95)
                    if match
                    else AttributeValue(
                        value=value, normalised=normalise_value(value, spec.kind), confidence=0.9
                    )
                )
            learnings = self._learnings(payload, schema, product, extractions, attributes, knowledge)
            return SupervisorResolution(
                attributes=attributes,
                unresolved=[],
                confidence=0.95,
                reason="resolved against the labelled reference set (simulated strong model)",
                learnings=learnings,
                learning_ids_used=[],
            )
        return self._resolve_by_similarity(payload, schema, product, extractions, knowledge)

    def _resolve_by_similarity(
        self,
        payload: Payload,
        schema: AttributeSchema,
        product: Product,
        extractions: list[WorkerExtraction],
        knowledge: Knowledge,
    ) -> SupervisorResolution:
        # Agreed attributes stay; only the disputed ones are re-read.
        attributes: dict[str, AttributeValue] = {
            name: value
            for name, value in payload.agreed_values.items()
            if name not in payload.disagreed_attributes
        }
        similar_lexicon, category_lexicon = self._lexicons(product)
        unresolved: list[str] = []
        guessed: list[str] = []
        used: set[str] = set()
        confirmed: dict[str, str] = {}
        for name in payload.disagreed_attributes:
            spec = schema.get(name)
            if spec is None:
                continue
            candidates = [e.attributes[name] for e in extractions if name in e.attributes]
            chosen: AttributeValue | None = None
            for lexicon in (similar_lexicon, category_lexicon):
                known = lexicon.get(name, {})
                for candidate in candidates:
                    if normalise_text(candidate.value) in known:
                        chosen = candidate.model_copy(update={"confidence": 0.75})
                        confirmed[name] = candidate.value
                        break
                if chosen is None:
                    spans = sorted(
                        (
                            (m.start(), m.end())
                            for folded, surface in known.items()
                            for m in word_re(surface).finditer(product.title)
                        ),
                        key=lambda span: (span[0] - span[1], span[0]),
                    )
                    if spans:
                        chosen = title_value(product.title, spans[0][0], spans[0][1], spec, 0.65)
                        confirmed[name] = chosen.value
                if chosen is not None:
                    break
            if chosen is None:
                learned = [c for c in candidates if knowledge.lexicon_ids(name, c.value)]
                if learned:
                    chosen = learned[0]
                    used.update(knowledge.lexicon_ids(name, chosen.value))
            if chosen is None and candidates:
                # Its own reading: keep a candidate the evaluator did not reject, preferring the fuller one,
                # at low confidence (the resolution's confidence then routes it to human review upstream).
                verdict = payload.evaluation.verdict_for(name) if payload.evaluation else None
                if verdict is None or verdict.verdict not in ("misread", "unsupported"):
                    best = max(candidates, key=lambda c: (c.confidence, len(c.value)))
                    chosen = best.model_copy(update={"confidence": 0.45})
                    guessed.append(name)
            if chosen is None:
                unresolved.append(name)
            else:
                attributes[name] = chosen
        learnings = self._learnings(
            payload,
            schema,
            product,
            extractions,
            {n: attributes[n] for n in confirmed if n in attributes},
            knowledge,
        )
        confidence = 0.4 if unresolved else 0.5 if guessed else 0.6
        return SupervisorResolution(
            attributes=attributes,
            unresolved=unresolved,
            confidence=confidence,
            reason=(
                "not in the reference set: resolved from similar reference products and the text"
                + (f"; low-confidence reading of {guessed}" if guessed else "")
                + (f"; unresolved: {unresolved}" if unresolved else "")
            ),
            learnings=learnings,
            learning_ids_used=sorted(used),
        )

    def _lexicons(self, product: Product) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        if self.reference is None or not product.category_path:
            return {}, {}
        category = normalise_text(product.category_path[-1])
        rows = self.reference.by_category.get(category, [])
        title_tokens = set(tokens(product.title))

        def similarity(row: ReferenceRow) -> float:
            other = set(tokens(row.input))
            return len(title_tokens & other) / (len(title_tokens | other) or 1)

        similar = sorted(rows, key=similarity, reverse=True)[: self.similar_products]
        similar_lexicon: dict[str, dict[str, str]] = defaultdict(dict)
        for row in similar:
            for attribute, values in row.target_scores.items():
                for value in values:
                    similar_lexicon[attribute][normalise_text(value)] = value.strip()
        category_lexicon: dict[str, dict[str, str]] = {
            attribute: {normalise_text(v): v for v, count in counter.items() if count >= 2}
            for attribute, counter in self.reference.lexicon.get(category, {}).items()
        }
        return similar_lexicon, category_lexicon

    def _learnings(
        self,
        payload: Payload,
        schema: AttributeSchema,
        product: Product,
        extractions: list[WorkerExtraction],
        resolved: dict[str, AttributeValue],
        knowledge: Knowledge,
    ) -> list[LearningDraft]:
        """Concrete learnings that would have made the workers right, disputed attributes first."""
        scope = product.category_path[-1:] if product.category_path else []
        # Scope to the full path: a learning about 'Numi' in Tea should not leak into Coffee.
        scope = list(product.category_path) or scope
        where = _scope_text(scope)
        order = list(payload.disagreed_attributes) + [
            n for n in resolved if n not in payload.disagreed_attributes
        ]
        drafts: list[LearningDraft] = []
        seen: set[str] = set()
        provenance = LearningProvenance(
            product_id=product.product_id,
            model_id=self.model_id,
            evidence=product.title[:300],
        )
        resolved_by_norm = {normalise_text(v.value): n for n, v in resolved.items()}

        def add(fields: dict[str, Any]) -> None:
            try:
                draft = LearningDraft.model_validate(fields)
            except ValidationError:
                return  # e.g. a value too long to be a reusable lexicon entry
            key = draft.directive.type + draft.text
            if key not in seen and len(drafts) < self.max_learnings_per_product:
                seen.add(key)
                drafts.append(draft)

        for name in order:
            spec = schema.get(name)
            if spec is None:
                continue
            final = resolved.get(name)
            worker_values = [e.attributes.get(name) for e in extractions]
            if final is not None and any(
                w is None or normalise_text(w.value) != normalise_text(final.value) for w in worker_values
            ):
                if knowledge.lexicon_ids(name, final.value):
                    continue
                if spec.kind in ("quantity", "count") and any(ch.isdigit() for ch in final.value):
                    pattern = self._unit_pattern(product.title, final.value)
                    if pattern is not None:
                        terms, keep = pattern
                        add(
                            dict(
                                text=(
                                    f"In {where}, a number followed by '{terms[0]}' is the {name}"
                                    + (
                                        " (keep the unit word)."
                                        if keep
                                        else " (the bare number, without the word)."
                                    )
                                ),
                                kind="rule",
                                scope_path=scope,
                                attributes=[name],
                                directive={
                                    "type": "pattern",
                                    "attribute": name,
                                    "unit_terms": terms,
                                    "keep_unit": keep,
                                },
                                source_channel=payload.source_channel,
                                provenance=provenance,
                            )
                        )
                    continue
                add(
                    dict(
                        text=f"In {where}, '{final.value}' is a {name} value.",
                        kind="example",
                        scope_path=scope,
                        attributes=[name],
                        directive={"type": "value_lexicon", "attribute": name, "values": [final.value]},
                        source_channel=payload.source_channel,
                        provenance=provenance,
                    )
                )
            for worker in worker_values:
                if worker is None or (
                    final is not None and normalise_text(worker.value) == normalise_text(final.value)
                ):
                    continue
                if normalise_text(worker.value) in knowledge.not_values.get(name, {}):
                    continue
                belongs = resolved_by_norm.get(normalise_text(worker.value))
                if belongs is None or belongs == name:
                    # Only a value that demonstrably belongs to another attribute generalises; "X is not a
                    # Gender" learned from one product's labels would wrongly veto X everywhere.
                    continue
                text = f"In {where}, '{worker.value}' is not a {name} value; it is the {belongs}."
                add(
                    dict(
                        text=text,
                        kind="rule",
                        scope_path=scope,
                        attributes=[name, belongs],
                        directive={
                            "type": "not_value",
                            "attribute": name,
                            "value": worker.value,
                            "correct_attribute": belongs,
                        },
                        source_channel=payload.source_channel,
                        provenance=provenance,
                    )
                )
        return drafts

    @staticmethod
    def _unit_pattern(title: str, value: str) -> tuple[list[str], bool] | None:
        """The unit word that follows the value's number in the title, and whether the value keeps it."""
        number = re.search(r"\d+(?:[.,]\d+)?", value)
        if number is None:
            return None
        digits = number.group(0)
        keep = bool(re.search(r"[A-Za-z가-힣]", value[number.end() :]))
        match = re.search(rf"(?<![\w.]){re.escape(digits)}\s?-?\s?([A-Za-z가-힣][\w-]*\.?)", title)
        if match is None:
            return None
        unit = match.group(1).rstrip(".")
        if unit_info(unit) is not None and keep:
            return None  # a standard unit the workers already read; a pattern would add nothing
        if normalise_text(unit) in {"pack", "of"}:
            return None
        return [unit], keep
