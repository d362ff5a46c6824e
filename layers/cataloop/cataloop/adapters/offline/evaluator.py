"""The offline baseline's evaluator (role `evaluator`): a verdict per attribute on the workers' candidates.

A value must occur in the text (`unsupported`), must not be vetoed by a learning or be a learned value of
another attribute (`misread`); two different readings, or a span shared with another attribute, are
`ambiguous`; a quantity without a unit is `missing_context`; a descriptive word as brand is `misread`; a lone
one-word brand is `missing_context`; a value only one worker read, unconfirmed by a learning, is
`missing_context`; a value confirmed by a learning is `ok`. It does object: it is not a
rubber stamp.
"""

from __future__ import annotations

import re
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
    claimed = [span for spans in spans_by_attribute.values() for span in spans]
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
        elif len(values) < len(extractions) and not confirmed:
            # One worker's reading that no learning vouches for is not yet evidence: not approved, so an
            # optional attribute is dropped and a required one stays disputed.
            verdict, reason = "missing_context", f"only one worker read '{surfaces[0]}'"
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
        elif (
            spec.kind == "text"
            and spec.concept != "brand"
            and not confirmed
            and (longer := _longer_phrase(product.title, spans_by_attribute.get(spec.name, []), claimed))
        ):
            verdict, reason = "ambiguous", f"'{surfaces[0]}' may be only part of '{longer}'"
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


_WORD = re.compile(r"[A-Za-z][A-Za-z'&-]*")
# Words that join phrases rather than extend them ("Tea Bags of Green Tea"): never part of a longer value.
_JOINERS = frozenset({"and", "or", "of", "with", "for", "in", "by", "the", "a", "an", "to", "&"})


def _longer_phrase(title: str, spans: list[tuple[int, int]], claimed: list[tuple[int, int]]) -> str | None:
    """The longer phrase a text value may be cut from: the value ends a segment's first two words and the
    word before it is capitalised and claimed by no other attribute. ', Chewable Tablets' makes 'Tablets' a
    candidate; '100 Tablets' or 'Vegan Tablets' inside a longer run of words does not."""
    if not spans:
        return None
    start, end = min(s for s, _ in spans), max(e for _, e in spans)

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in claimed if not (s >= start and e <= end))

    before = re.search(r"[,|(/-] ?([A-Za-z][A-Za-z'&-]*) $", title[:start])
    if (
        before
        and before.group(1)[0].isupper()
        and before.group(1).lower() not in _JOINERS
        and free(before.start(1), before.end(1))
    ):
        return title[before.start(1) : end]
    return None
