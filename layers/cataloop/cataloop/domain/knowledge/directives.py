"""What two learning directives say about each other: one covers the other, they merge into one, or the
newer contradicts (and so replaces) the older; and concrete prose for a directive whose wording a merge or a
consolidation changed. Pure logic only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.knowledge.learning import (
    MAX_LEXICON_VALUES,
    MAX_TEXT_CHARS,
    AttributeFact,
    NotValue,
    UnitPattern,
    ValueLexicon,
    directive_key,
)

Directive = ValueLexicon | NotValue | UnitPattern | AttributeFact


def describe_directive(directive: Directive, scope_path: Sequence[str]) -> str:
    """Concrete prose for a directive, used when a merge or consolidation changes what a learning says.

    The category is not written into the prose: it is the learning's `scope_path`, a data field that prompts
    render as such (`scope_path` is accepted for the callers' convenience and deliberately not used), so a
    category name a seller chose never becomes sentence text."""
    if isinstance(directive, ValueLexicon | UnitPattern):
        terms = directive.values if isinstance(directive, ValueLexicon) else directive.unit_terms
        if isinstance(directive, ValueLexicon):
            head = f"These are {directive.attribute} values: "
        else:
            keep = "with the unit word" if directive.keep_unit else "as the bare number"
            head = f"A number followed by one of these is {directive.attribute} ({keep}): "
        quoted: list[str] = []
        for term in terms:
            candidate = ", ".join([*quoted, f"'{term}'"])
            if quoted and len(head) + len(candidate) + 5 > MAX_TEXT_CHARS:
                return head + ", ".join(quoted) + ", …"
            quoted.append(f"'{term}'")
        return (head + ", ".join(quoted) + ".")[:MAX_TEXT_CHARS]
    if isinstance(directive, NotValue):
        tail = f" (it is {directive.correct_attribute})" if directive.correct_attribute else ""
        return f"'{directive.value}' is not a {directive.attribute} value{tail}."[:MAX_TEXT_CHARS]
    return f"Every product in scope has {directive.attribute} = '{directive.value}'."[:MAX_TEXT_CHARS]


def _folded(terms: Iterable[str]) -> set[str]:
    return {normalise_text(term) for term in terms}


def merged_directive(existing: Directive, incoming: Directive) -> Directive | None:
    """The union of two mergeable directives, or None when they cannot merge (different kinds, different
    attribute, or the union would exceed MAX_LEXICON_VALUES)."""
    if directive_key(existing) == directive_key(incoming):
        return existing
    if isinstance(existing, ValueLexicon) and isinstance(incoming, ValueLexicon):
        if existing.attribute != incoming.attribute:
            return None
        seen = _folded(existing.values)
        values = [*existing.values, *(v for v in incoming.values if normalise_text(v) not in seen)]
        return None if len(values) > MAX_LEXICON_VALUES else existing.model_copy(update={"values": values})
    if isinstance(existing, UnitPattern) and isinstance(incoming, UnitPattern):
        if existing.attribute != incoming.attribute or existing.keep_unit != incoming.keep_unit:
            return None
        seen = _folded(existing.unit_terms)
        terms = [*existing.unit_terms, *(t for t in incoming.unit_terms if normalise_text(t) not in seen)]
        return None if len(terms) > MAX_LEXICON_VALUES else existing.model_copy(update={"unit_terms": terms})
    return None


def covers(existing: Directive, incoming: Directive) -> bool:
    """True when `existing` already says everything `incoming` says."""
    if directive_key(existing) == directive_key(incoming):
        return True
    if isinstance(existing, ValueLexicon) and isinstance(incoming, ValueLexicon):
        return existing.attribute == incoming.attribute and _folded(incoming.values) <= _folded(
            existing.values
        )
    if isinstance(existing, UnitPattern) and isinstance(incoming, UnitPattern):
        return (
            existing.attribute == incoming.attribute
            and existing.keep_unit == incoming.keep_unit
            and _folded(incoming.unit_terms) <= _folded(existing.unit_terms)
        )
    return False


def contradicts(existing: Directive, incoming: Directive) -> str | None:
    """Why `incoming` contradicts `existing` (so it replaces it), or None. Only direct contradictions about
    the same attribute and the same surface value count; anything else is kept side by side."""
    if existing.attribute != incoming.attribute:
        return None
    if isinstance(existing, AttributeFact) and isinstance(incoming, AttributeFact):
        if normalise_text(existing.value) == normalise_text(incoming.value):
            return None
        return f"{existing.attribute} was '{existing.value}', the new evidence says '{incoming.value}'"
    if isinstance(existing, UnitPattern) and isinstance(incoming, UnitPattern):
        shared = _folded(existing.unit_terms) & _folded(incoming.unit_terms)
        if existing.keep_unit == incoming.keep_unit or not shared:
            return None
        return f"keep_unit for {sorted(shared)} flips to {incoming.keep_unit}"
    if isinstance(existing, NotValue) and isinstance(incoming, NotValue):
        same_value = normalise_text(existing.value) == normalise_text(incoming.value)
        if not same_value or existing.correct_attribute == incoming.correct_attribute:
            return None
        return f"'{incoming.value}' belongs to {incoming.correct_attribute}, not {existing.correct_attribute}"
    if isinstance(existing, NotValue) and isinstance(incoming, ValueLexicon):
        if normalise_text(existing.value) not in _folded(incoming.values):
            return None
        return f"'{existing.value}' is now known to be a {existing.attribute} value"
    if isinstance(existing, ValueLexicon) and isinstance(incoming, NotValue):
        # Only a single-value lexicon is replaced outright; a larger one keeps its other values and the more
        # specific NotValue is added next to it.
        if _folded(existing.values) != {normalise_text(incoming.value)}:
            return None
        return f"'{incoming.value}' is not a {incoming.attribute} value after all"
    return None
