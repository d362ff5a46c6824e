"""The offline baseline's evaluator (role `evaluator`): a verdict per attribute on the workers' candidates.

A value must occur in the text (`unsupported`), must not be vetoed by a learning or be a learned value of
another attribute (`misread`); two different readings, or a span shared with another attribute, are
`ambiguous`; a quantity without a unit is `missing_context`; a descriptive word as brand is `misread`; a lone
one-word brand is `missing_context`; a value confirmed by a learning is `ok`. It does object: it is not a
rubber stamp.
"""

from __future__ import annotations

from collections import defaultdict

from cataloop.adapters.offline.common import Payload, candidate_extractions, read_payload
from cataloop.adapters.offline.lexicons import builtin_lexicon_values, descriptor_words
from cataloop.domain.enrichment.extraction import EvaluatorReport, EvaluatorVerdict, Verdict
from cataloop.domain.enrichment.normalisation import (
    normalise_text,
    normalise_value,
    parse_pack_count,
    parse_quantity,
    tokens,
)


def evaluate(payload: Payload) -> EvaluatorReport:
    """The evaluator's report on the candidate extractions in `payload`."""
    product, schema, knowledge = read_payload(payload)
    text = f"{product.title} {product.description}"
    folded_text = normalise_text(text)
    extractions = candidate_extractions(payload)
    used: set[str] = set()
    verdicts: list[EvaluatorVerdict] = []
    spans_by_attribute: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for extraction in extractions:
        for name, value in extraction.attributes.items():
            if value.evidence is not None and value.evidence.field == "title":
                spans_by_attribute[name].append((value.evidence.start, value.evidence.end))
    for spec in schema.attributes:
        values = [e.attributes[spec.name] for e in extractions if spec.name in e.attributes]
        if not values:
            continue
        surfaces = list(dict.fromkeys(v.value for v in values))
        verdict: Verdict = "ok"
        reason = f"'{surfaces[0]}' is stated in the text"
        confirmed = [lid for s in surfaces for lid in knowledge.lexicon_ids(spec.name, s)]
        missing = [s for s in surfaces if normalise_text(s) not in folded_text]
        rejected = [
            (s, knowledge.not_values[spec.name][normalise_text(s)])
            for s in surfaces
            if normalise_text(s) in knowledge.not_values.get(spec.name, {})
        ]
        elsewhere = [(s, *other) for s in surfaces if (other := knowledge.other_attribute_of(spec.name, s))]
        overlapping = [
            other
            for other, spans in spans_by_attribute.items()
            if other != spec.name
            and any(s < e2 and s2 < e for s, e in spans_by_attribute.get(spec.name, []) for s2, e2 in spans)
        ]
        if rejected:
            verdict, reason = (
                "misread",
                f"learning {rejected[0][1]}: '{rejected[0][0]}' is not a {spec.name} value",
            )
            used.add(rejected[0][1])
        elif elsewhere:
            verdict = "misread"
            reason = f"learning {elsewhere[0][2]}: '{elsewhere[0][0]}' is a {elsewhere[0][1]} value"
            used.add(elsewhere[0][2])
        elif missing:
            verdict, reason = "unsupported", f"'{missing[0]}' does not occur in the product text"
        elif confirmed and len(surfaces) == 1:
            verdict, reason = "ok", f"'{surfaces[0]}' confirmed by learning {confirmed[0]}"
            used.add(confirmed[0])
        elif len(surfaces) > 1 and len({normalise_value(s, spec.kind) for s in surfaces}) > 1:
            verdict, reason = "ambiguous", f"two readings: {surfaces[:2]}"
        elif spec.kind == "quantity" and not any(ch.isdigit() for ch in surfaces[0]):
            verdict, reason = "misread", f"'{surfaces[0]}' has no amount"
        elif (
            spec.kind == "quantity"
            and parse_quantity(surfaces[0]) is None
            and parse_pack_count(surfaces[0]) is None
        ):
            verdict, reason = "missing_context", f"'{surfaces[0]}' has no recognisable unit"
        elif overlapping:
            verdict, reason = "ambiguous", f"the span of '{surfaces[0]}' is also read as {overlapping[0]}"
        elif spec.concept == "brand" and (
            normalise_text(surfaces[0]) in descriptor_words()
            or normalise_text(surfaces[0]) in builtin_lexicon_values()
        ):
            verdict, reason = "misread", f"'{surfaces[0]}' is a descriptive word, not a brand"
        elif spec.concept == "brand" and len(tokens(surfaces[0])) == 1 and not confirmed:
            # A one-word brand at the start is often the first word of a longer name ("Holy" of "Holy Land").
            verdict, reason = "missing_context", f"'{surfaces[0]}' may be only the first word of the brand"
        verdicts.append(EvaluatorVerdict(attribute=spec.name, verdict=verdict, reason=reason[:500]))
    approved = sum(v.verdict == "ok" for v in verdicts)
    return EvaluatorReport(
        verdicts=verdicts,
        summary=f"{approved} of {len(verdicts)} attributes approved",
        learning_ids_used=sorted(used),
    )
