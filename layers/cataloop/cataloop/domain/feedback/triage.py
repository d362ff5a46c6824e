"""Triage of feedback signals: does a signal point at an extracted attribute, and which?

A "size runs small" return against an extracted size, or a seller dispute on the pack count, does; late
delivery or taste does not. `triage` decides from the signal's claims, its return reason or the cue words in
its text, and names the suspect attributes with what was extracted and what the signal claims. Pure: no I/O.

What a customer's text claims (`claimed_value_in_text`): a quantity they say they received ("box had 6
bars", "only got a pack of 2") for count and quantity attributes, or a quoted value stated for a named
attribute ('Caffeine content should be "2x Caffeine"', "brand is 'Sulfur 8'") for any attribute. A quantity
goes to the attribute whose kind it fits: "pack of 2" is a pack count, never a net content, and "24 oz" a net
content, never a pack count. A customer may point at an attribute nothing was extracted for only when the
text claims a value for it (a gap the listing or other customers can then confirm); without a value there is
nothing to check. The claim stays data: whether it corrects anything is `corrections.judge_claim`'s call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.enrichment.attributes import AttributeSchema, AttributeSpec
from cataloop.domain.enrichment.normalisation import (
    normalise_text,
    normalise_value,
    parse_pack_count,
    parse_quantity,
)
from cataloop.domain.feedback.signals import FeedbackSignal

# Return reasons that name the attribute concepts they are about; the ones absent here are read from the text.
RETURN_REASON_CONCEPTS: dict[str, tuple[str, ...]] = {
    "SIZE_TOO_SMALL": ("size",),
    "SIZE_TOO_LARGE": ("size",),
    "WRONG_SIZE": ("size",),
    "WRONG_QUANTITY": ("pack_count", "net_content"),
    "WRONG_COLOR": ("color",),
    "WRONG_FLAVOR": ("flavor",),
    "WRONG_MATERIAL": ("material",),
    "NOT_COMPATIBLE": ("compatibility",),
}
# Reasons about delivery, condition or taste: nothing an extraction could have got wrong.
NOT_EXTRACTION_REASONS: dict[str, str] = {
    "LATE_DELIVERY": "late delivery is a logistics problem, not an attribute",
    "DAMAGED_IN_TRANSIT": "damage in transit is a logistics problem, not an attribute",
    "DEFECTIVE": "a defective unit is a quality problem, not an attribute",
    "CHANGED_MIND": "the customer changed their mind",
    "DISLIKED_TASTE": "taste is an opinion, not an attribute",
    "FOUND_BETTER_PRICE": "price shopping says nothing about the attributes",
}
# Words in free text that point at an attribute concept (English and Korean).
TEXT_CUES: dict[str, tuple[str, ...]] = {
    "size": ("size", "runs small", "runs large", "too small", "too big", "too tight", "사이즈", "치수"),
    "pack_count": ("pack", "count", "pieces", "pcs", "only got", "only received", "개입", "수량", "개수"),
    "net_content": ("ounce", "oz", "ml", "gram", "volume", "용량", "중량"),
    "color": ("color", "colour", "색상"),
    "flavor": ("flavor", "flavour", "scent"),
    "material": ("material", "fabric", "leather", "소재"),
    "compatibility": ("compatible", "does not fit my", "doesn't fit my", "호환"),
    "brand": ("brand", "counterfeit", "fake", "브랜드"),
}
# Listing fields that are also an attribute concept; other listing fields are text the workers read.
LISTING_FIELD_CONCEPTS = {"brand": "brand"}
_RECEIVED = re.compile(
    r"(?:received|got|only|had|contained|came with|actually|arrived with|box had)\s+(?:a\s+|an\s+)?"
    r"(?P<value>(?:pack\s+of\s+\d+|\d+(?:[.,]\d+)?\s?-?\s?[A-Za-z가-힣]*))",
    re.IGNORECASE,
)


class Suspect(BaseModel):
    """An extracted attribute a signal points at: what was extracted and what the signal claims."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str
    extracted: str | None = None
    claimed: str | None = None
    reason: str = Field(min_length=1, max_length=500)


class TriageDecision(BaseModel):
    """Whether a signal points at an extraction error, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    relevant: bool
    reason: str = Field(min_length=1, max_length=1000)
    suspects: list[Suspect] = Field(default_factory=list)


def _folded_name(name: str) -> str:
    return normalise_text(name).replace("_", " ").replace("-", " ")


def resolve_attribute(name: str, schema: AttributeSchema) -> AttributeSpec | None:
    """The schema attribute a sender means by `name`: its name or its concept, ignoring case, '_' and '-'."""
    wanted = _folded_name(name)
    for spec in schema.attributes:
        if _folded_name(spec.name) == wanted:
            return spec
    for spec in schema.attributes:
        if spec.concept and _folded_name(spec.concept) == wanted:
            return spec
    return None


def same_value(left: str | None, right: str | None, spec: AttributeSpec) -> bool:
    """Whether two values of `spec` are the same once normalised (two missing values are the same)."""
    if left is None or right is None:
        return left is right
    return normalise_value(left, spec.kind) == normalise_value(right, spec.kind)


# A value stated for a named attribute: the name (or its concept), an optional 'name'/'value', a verb or ':'
# and the value in quotes: 'Caffeine content should be "2x Caffeine"', "brand is 'Sulfur 8'".
_CLAIM_VERB = (
    r"(?:\s+(?:name|value))?\s*(?:(?:is|was|should\s+be|should\s+read|should\s+say|must\s+be)"
    r"(?:\s+(?:actually|really|listed\s+as))?\s+|[:=]\s*)"
)
_QUOTED = r"(?:[\"“](?P<double>[^\"“”\n]{1,80})[\"”]|['‘](?P<single>[^'‘’\n]{1,80})['’](?!\w))"


def _mention(spec: AttributeSpec) -> str:
    """A pattern for the attribute's name or concept in free text ('Pack size', 'pack_count', 'pack count')."""
    names = {spec.name, *([spec.concept] if spec.concept else [])}
    spelled = {
        r"[\s_-]+".join(re.escape(word) for word in re.split(r"[\s_-]+", name.strip()) if word)
        for name in names
    }
    return "(?:" + "|".join(sorted(spelled, key=len, reverse=True)) + ")"


def _named_matches(text: str, spec: AttributeSpec) -> list[tuple[int, int, str]]:
    """(start, end) of each mention of `spec` that states a quoted value, with the value."""
    pattern = re.compile(rf"(?<![\w])(?P<mention>{_mention(spec)}){_CLAIM_VERB}{_QUOTED}", re.IGNORECASE)
    found = []
    for match in pattern.finditer(text):
        value = (match.group("double") or match.group("single") or "").strip()
        if value:
            found.append((match.start("mention"), match.end("mention"), value))
    return found


def named_claim(text: str, spec: AttributeSpec) -> str | None:
    """The quoted value `text` states for the attribute `spec` by name, or None (see the module docstring)."""
    found = _named_matches(text, spec)
    return found[0][2] if found else None


def named_claims(text: str, schema: AttributeSchema) -> dict[str, str]:
    """attribute -> the quoted value `text` states for it by name. A mention inside a longer attribute's
    mention is that attribute's ('Sub brand is "X"' names Sub brand, not Brand)."""
    matches = [
        (start, end, spec.name, value)
        for spec in schema.attributes
        for start, end, value in _named_matches(text, spec)
    ]
    claims: dict[str, str] = {}
    for start, end, name, value in matches:
        inside_longer = any(
            other != name and o_start <= start and end <= o_end and (o_end - o_start) > (end - start)
            for o_start, o_end, other, _ in matches
        )
        if not inside_longer:
            claims.setdefault(name, value)
    return claims


def received_quantity(text: str) -> str | None:
    """A quantity a customer says they actually received ("box had 6 bars", "only got a pack of 2")."""
    match = _RECEIVED.search(text)
    return match.group("value").strip() if match else None


def claimed_value_in_text(text: str, spec: AttributeSpec) -> str | None:
    """What a customer's text claims for `spec`: a quoted value stated for it by name, else (counts and
    quantities) a quantity they say they actually received."""
    named = named_claim(text, spec)
    if named is not None:
        return named
    return received_quantity(text) if spec.kind in ("count", "quantity") else None


def fits_kind(value: str, spec: AttributeSpec) -> bool:
    """Whether a claimed quantity can be a value of `spec`: a volume or mass is no pack count, and a number of
    packages alone ('Pack of 2', '2-pack') is no net content. Other kinds take any value."""
    if spec.kind == "count":
        quantity = parse_quantity(value)
        return quantity is None or quantity.dimension == "count"
    if spec.kind == "quantity":
        pack = parse_pack_count(value)
        packages_only = pack is not None and pack.packages is not None and pack.units is None
        return not (packages_only and parse_quantity(value) is None)
    return True


# A double-quoted value is data about the attribute it is stated for, not a cue: '"Color Wow"' as a brand
# does not point at the color.
_DOUBLE_QUOTED = re.compile(r"[\"“][^\"“”\n]{0,80}[\"”]")


def _cued_concepts(text: str) -> list[str]:
    folded = normalise_text(_DOUBLE_QUOTED.sub(" ", text))
    return [
        concept
        for concept, cues in TEXT_CUES.items()
        if any(re.search(rf"(?<![\w]){re.escape(cue)}(?![\w])", folded) for cue in cues)
    ]


def _suspects_for_concepts(
    concepts: Sequence[str], text: str, schema: AttributeSchema, extracted: Mapping[str, str], why: str
) -> list[Suspect]:
    specs: list[AttributeSpec] = []
    for concept in concepts:
        spec = schema.by_concept(concept)
        if spec is not None and spec not in specs:
            specs.append(spec)
    # Attributes the text names with a quoted value ('Item form should be "Ground"'), cue words or not.
    named = named_claims(text, schema)
    specs += [spec for spec in schema.attributes if spec not in specs and spec.name in named]
    received = received_quantity(text)
    claims = {
        spec.name: named.get(spec.name) or (received if spec.kind in ("count", "quantity") else None)
        for spec in specs
    }
    fitting = [
        spec for spec in specs if claims[spec.name] is not None and fits_kind(claims[spec.name] or "", spec)
    ]
    found: list[Suspect] = []
    for spec in specs:
        claimed = claims[spec.name]
        if claimed is not None and not fits_kind(claimed, spec):
            if fitting:
                continue  # the quantity is another attribute's ('pack of 2' is no net content)
            claimed = None
        current = extracted.get(spec.name)
        if current is None and claimed is None:
            continue  # nothing extracted and no value claimed: there is nothing to check
        if claimed is not None and same_value(claimed, current, spec):
            continue
        found.append(Suspect(attribute=spec.name, extracted=current, claimed=claimed, reason=why))
    return found


def triage(
    signal: FeedbackSignal,
    schema: AttributeSchema,
    extracted: Mapping[str, str] | None,
    applied_signals: Iterable[str] = (),
) -> TriageDecision:
    """Does `signal` point at an error in `extracted` (attribute -> value; None when the product has no
    extraction yet)? `applied_signals` are the signal ids already applied to the product (duplicates)."""
    if signal.signal_id in set(applied_signals):
        return TriageDecision(relevant=False, reason=f"duplicate: {signal.signal_id} was already applied")
    if extracted is None:
        return TriageDecision(
            relevant=False, reason=f"product {signal.product_id} has no extraction yet; nothing to correct"
        )
    if signal.kind in ("SellerDisputeFiled", "ListingUpdated"):
        return _triage_claims(signal, schema, extracted)
    if signal.kind == "ProductReturned":
        code = signal.reason_code or "OTHER"
        if code in NOT_EXTRACTION_REASONS:
            return TriageDecision(
                relevant=False, reason=f"return reason {code}: {NOT_EXTRACTION_REASONS[code]}"
            )
        concepts = RETURN_REASON_CONCEPTS.get(code) or tuple(_cued_concepts(signal.text))
        why = f"return reason {code}" + (f": {signal.text[:200]}" if signal.text else "")
    else:
        concepts = tuple(_cued_concepts(signal.text))
        why = f"{signal.rating}-star review: {signal.text[:200]}"
    suspects = _suspects_for_concepts(concepts, signal.text, schema, extracted, why[:500])
    if not suspects:
        named = ", ".join(concepts) or "no attribute"
        return TriageDecision(
            relevant=False, reason=f"{signal.kind} names {named}, which matches no extracted attribute"
        )
    names = ", ".join(
        s.attribute if s.extracted is not None else f"{s.attribute} (nothing extracted)" for s in suspects
    )
    return TriageDecision(
        relevant=True, reason=f"{signal.kind} points at extracted {names}", suspects=suspects
    )


def _triage_claims(
    signal: FeedbackSignal, schema: AttributeSchema, extracted: Mapping[str, str]
) -> TriageDecision:
    suspects: list[Suspect] = []
    notes: list[str] = []
    for claim in signal.claims:
        concept = LISTING_FIELD_CONCEPTS.get(_folded_name(claim.attribute))
        spec = schema.by_concept(concept) if concept else resolve_attribute(claim.attribute, schema)
        if spec is None:
            notes.append(f"'{claim.attribute}' is not an attribute of schema {schema.schema_id}")
            continue
        current = extracted.get(spec.name)
        if claim.claimed_value is None:
            notes.append(f"{spec.name} was cleared by the seller")
            continue
        if same_value(claim.claimed_value, current, spec):
            notes.append(f"{spec.name} is already extracted as '{current}'")
            continue
        suspects.append(
            Suspect(
                attribute=spec.name,
                extracted=current,
                claimed=claim.claimed_value,
                reason=f"{signal.kind}: seller says {spec.name} is '{claim.claimed_value}', extracted "
                + (f"'{current}'" if current is not None else "nothing"),
            )
        )
    if not suspects:
        known = ", ".join(schema.names)
        return TriageDecision(
            relevant=False,
            reason=("; ".join(notes) or "no attribute claims") + f" (attributes: {known})"[:400],
        )
    names = ", ".join(s.attribute for s in suspects)
    return TriageDecision(
        relevant=True, reason=f"{signal.kind} disputes extracted {names}", suspects=suspects
    )


def extracted_values(enrichment: Mapping[str, Any] | None) -> dict[str, str] | None:
    """attribute -> extracted surface value of a stored product's enrichment (None before enrichment)."""
    if not enrichment:
        return None
    attributes = enrichment.get("attributes") or {}
    return {
        name: str(value.get("value"))
        for name, value in attributes.items()
        if isinstance(value, Mapping) and value.get("value") is not None
    }
