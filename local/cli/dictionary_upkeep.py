"""Dictionary upkeep: propose typo and synonym entries from searches that found nothing or little, and
write approved ones as a new version of the analyzer dictionaries.

Proposals are evidence, not edits: nothing changes until a reviewer passes the accepted entries to
`approve_suggestions`, which writes a complete new version to the stack's bucket (`DictionaryS3`:
`dictionaries/vNNNN/` plus the `dictionaries/current.json` pointer; the previous versions stay, so a bad entry
is undone by pointing `current.json` back at the previous version). The files shipped in the package are
version 0 and are never written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from cataloop.adapters.dictionary_files import typo_mappings
from cataloop.domain.search.hangul import (
    is_chosung_query,
    is_syllable,
    looks_like_mistyped_korean,
    qwerty_to_hangul,
)
from cataloop.domain.search.log import LOW_RESULT_THRESHOLD, SearchLogRecord
from cataloop.domain.search.query import normalise_query
from cataloop.domain.search.variants import CatalogVocabulary, as_catalog_vocabulary
from cataloop.errors import InvalidInput

if TYPE_CHECKING:
    from cataloop.adapters.dictionary_s3 import DictionaryS3

TYPOS = "typos"
SYNONYMS = "synonyms"
_FORBIDDEN_IN_TERMS = (",", "=>", "#", "\n", "\r")


class TypoSuggestion(NamedTuple):
    """`wrong => right`, seen in `searches` zero- or low-result searches (a NamedTuple field cannot be
    called `count`: that is tuple.count)."""

    wrong: str
    right: str
    searches: int


class SynonymSuggestion(NamedTuple):
    """`term, synonym` as an equivalence, with the evidence that suggested it."""

    term: str
    synonym: str
    evidence: str


class DictionarySuggestions(BaseModel):
    """Proposals from one pass over the search log, strongest evidence first."""

    model_config = ConfigDict(frozen=True)

    typos: list[TypoSuggestion] = Field(default_factory=list)
    synonyms: list[SynonymSuggestion] = Field(default_factory=list)
    searches_examined: int = 0
    zero_result_searches: int = 0
    low_result_searches: int = 0


def _is_hangul_word(word: str) -> bool:
    return bool(word) and all(is_syllable(char) for char in word)


def _split_into_terms(word: str, vocabulary: CatalogVocabulary) -> tuple[str, str] | None:
    """A run-together word that is two catalog terms ("유산균음료" -> "유산균", "음료"), first split wins."""
    for cut in range(1, len(word)):
        left, right = vocabulary.canonical(word[:cut]), vocabulary.canonical(word[cut:])
        if left is not None and right is not None:
            return left, right
    return None


def suggest_dictionary(
    records: Iterable[SearchLogRecord],
    vocabulary: CatalogVocabulary | Iterable[str],
    *,
    low_result_threshold: int = LOW_RESULT_THRESHOLD,
    min_count: int = 1,
    known_typos: Iterable[str] = (),
) -> DictionarySuggestions:
    """Propose entries from zero- and low-result searches: typos (one jamo from exactly one catalog term, or
    keyboard-layout text that converts to a catalog term) and synonyms (initial consonants of exactly one
    term, run-together or split spellings of catalog terms). Words already in `known_typos` are skipped."""
    vocab = as_catalog_vocabulary(vocabulary)
    skip = {normalise_query(word).casefold() for word in known_typos}
    examined = zero = low = 0
    word_counts: Counter[str] = Counter()
    pair_counts: Counter[tuple[str, str]] = Counter()
    for record in records:
        examined += 1
        if record.is_zero_result:
            zero += 1
        elif record.is_low_result(low_result_threshold):
            low += 1
        else:
            continue
        words = normalise_query(record.query or "").split()
        word_counts.update(dict.fromkeys(words, 1))
        pair_counts.update(dict.fromkeys(pairwise(words), 1))

    typos: dict[tuple[str, str], int] = {}
    synonyms: dict[tuple[str, str], str] = {}
    for word, count in word_counts.items():
        if count < min_count or word in vocab or word.casefold() in skip or word.isdigit():
            continue
        if word.isascii() and word.isalpha() and looks_like_mistyped_korean(word):
            converted = qwerty_to_hangul(word)
            target = vocab.canonical(converted)
            if target is None:
                misses = vocab.near_misses(converted)
                target = misses[0] if len(misses) == 1 else None
            if target is not None:
                typos[(word, target)] = count
        elif is_chosung_query(word):
            matches = vocab.chosung_matches(word)
            if len(matches) == 1:
                synonyms[(matches[0], word)] = (
                    f"initial consonants of '{matches[0]}' (the only catalog term with them); "
                    f"{count} zero/low-result searches"
                )
        elif _is_hangul_word(word):
            misses = vocab.near_misses(word)
            if len(misses) == 1:
                typos[(word, misses[0])] = count
            elif (parts := _split_into_terms(word, vocab)) is not None:
                synonyms[(word, " ".join(parts))] = (
                    f"written together, '{parts[0]}' and '{parts[1]}' are both catalog terms; "
                    f"{count} zero/low-result searches"
                )
    for (left, right), count in pair_counts.items():
        joined = vocab.canonical(left + right)
        if count >= min_count and joined is not None and left not in vocab and right not in vocab:
            synonyms[(joined, f"{left} {right}")] = (
                f"'{left} {right}' spaced apart is the catalog term '{joined}'; {count} zero/low-result searches"
            )

    return DictionarySuggestions(
        typos=[
            TypoSuggestion(wrong, right, count)
            for (wrong, right), count in sorted(typos.items(), key=lambda item: (-item[1], item[0]))
        ],
        synonyms=[
            SynonymSuggestion(term, synonym, evidence)
            for (term, synonym), evidence in sorted(synonyms.items())
        ],
        searches_examined=examined,
        zero_result_searches=zero,
        low_result_searches=low,
    )


# --- approval -----------------------------------------------------------------------------------------


def _check_term(term: str) -> str:
    cleaned = normalise_query(term)
    if not cleaned or any(bad in cleaned for bad in _FORBIDDEN_IN_TERMS):
        raise InvalidInput(f"dictionary term {term!r} is empty or contains ',', '=>' or '#'; fix or drop it")
    return cleaned


def approve_suggestions(
    approved: Sequence[TypoSuggestion | SynonymSuggestion],
    store: DictionaryS3,
    *,
    approved_by: str,
    now: datetime,
) -> str:
    """Write the reviewer-approved entries as a new version in `store` (a full copy of the version in force
    plus the new lines, then the pointer) and return its name. InvalidInput if nothing new is approved or the
    version in force cannot be read; Conflict if another approval won meanwhile."""
    if not approved:
        raise InvalidInput("nothing approved: pass the suggestions a reviewer accepted")
    if not approved_by.strip():
        raise InvalidInput("approved_by is empty: name who approved the entries")
    # Read now, not from a cache: the pointer's ETag is the condition of the final write, so a concurrent
    # approval shows up as a Conflict rather than as silently lost entries.
    base = store.read_current()
    typo_lines = list(base.files.get(TYPOS, ()))
    synonym_lines = list(base.files.get(SYNONYMS, ()))
    existing_typos = {source.casefold() for source in typo_mappings(typo_lines)}
    existing_synonyms = {line.strip().casefold() for line in synonym_lines}

    new_typos: list[str] = []
    new_synonyms: list[str] = []
    for entry in approved:
        if isinstance(entry, TypoSuggestion):
            wrong, right = _check_term(entry.wrong), _check_term(entry.right)
            if wrong.casefold() not in existing_typos and wrong != right:
                new_typos.append(f"{wrong} => {right}")
                existing_typos.add(wrong.casefold())
        else:
            line = f"{_check_term(entry.term)}, {_check_term(entry.synonym)}"
            if line.casefold() not in existing_synonyms:
                new_synonyms.append(line)
                existing_synonyms.add(line.casefold())
    if not new_typos and not new_synonyms:
        raise InvalidInput("every approved entry is already in the current dictionary; nothing to write")

    stamp = f"# approved by {approved_by.strip()} at {now.isoformat()} (from {base.name})"
    changed = {}
    if new_typos:
        changed[TYPOS] = [*typo_lines, stamp, *new_typos]
    if new_synonyms:
        changed[SYNONYMS] = [*synonym_lines, stamp, *new_synonyms]
    return store.write_version(base, changed, approved_by=approved_by.strip(), approved_at=now)
