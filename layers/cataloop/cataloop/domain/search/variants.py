"""Keyword variants of a shopper query: initial consonants ("ㅇㅋㄹㅌ" -> "야쿠르트"), Korean typed on an
English keyboard ("diznfmxm" -> "야쿠르트") and Hangul typos ("야구르트" -> "야쿠르트": a wrong vowel, a doubled
consonant, a slipped final consonant), resolved against the catalog vocabulary (`CatalogVocabulary`:
exact, chosung and one-jamo-off lookups, most frequent term first). Pure: the caller supplies the
vocabulary."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.search.hangul import (
    decompose,
    is_chosung_query,
    is_syllable,
    looks_like_mistyped_korean,
    qwerty_to_hangul,
    to_chosung,
)
from cataloop.domain.search.query import normalise_query

_HANGUL_SYLLABLE = re.compile("[\uac00-\ud7a3]")


def jamo_edit_distance(left: str, right: str, limit: int | None = None) -> int:
    """Levenshtein distance over compatibility jamo ("야구르트" vs "야쿠르트" is 1). With `limit`, any distance
    above it is reported as `limit + 1` (cheaper for screening)."""
    a, b = decompose(left), decompose(right)
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


class CatalogVocabulary:
    """Catalog terms (words from product names, brands, keywords) with optional frequencies, indexed for
    exact, chosung and one-jamo-off lookups."""

    def __init__(self, terms: Iterable[str] | Mapping[str, int]) -> None:
        counts: dict[str, int] = {}
        items = terms.items() if isinstance(terms, Mapping) else ((term, 1) for term in terms)
        for term, count in items:
            # Index terms are already normalised single words: only other text pays for normalisation.
            plain = term.isprintable() and " " not in term and unicodedata.is_normalized("NFKC", term)
            cleaned = term.strip() if plain else normalise_query(term)
            if cleaned and " " not in cleaned:
                counts[cleaned] = counts.get(cleaned, 0) + int(count)
        self.counts = counts
        self._folded = {term.casefold(): term for term in counts}
        # The chosung and near-miss indexes are built on first use: a vocabulary is rebuilt when the catalog
        # changes, and most searches never need them.
        self._chosung_index: dict[str, list[str]] | None = None
        self._deletion_index: dict[str, set[str]] | None = None

    @property
    def _by_chosung(self) -> dict[str, list[str]]:
        if self._chosung_index is None:
            index: dict[str, list[str]] = {}
            for term in self.counts:
                if _HANGUL_SYLLABLE.search(term):
                    index.setdefault(to_chosung(term), []).append(term)
            self._chosung_index = index
        return self._chosung_index

    @property
    def _by_deletion(self) -> dict[str, set[str]]:
        # Single-deletion neighbourhoods of each term's jamo: two strings within edit distance 1 always
        # share a key, so near-miss lookups touch a handful of terms instead of the whole vocabulary.
        if self._deletion_index is None:
            index: dict[str, set[str]] = {}
            for term in self.counts:
                if _HANGUL_SYLLABLE.search(term):
                    for key in _deletion_keys(decompose(term)):
                        index.setdefault(key, set()).add(term)
            self._deletion_index = index
        return self._deletion_index

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and term.casefold() in self._folded

    def __len__(self) -> int:
        return len(self.counts)

    def canonical(self, term: str) -> str | None:
        """The vocabulary spelling of `term` (case-insensitive), or None."""
        return self._folded.get(term.casefold())

    def chosung_matches(self, chosung: str) -> list[str]:
        """Terms whose initial consonants are exactly `chosung`, most frequent first."""
        return sorted(self._by_chosung.get(chosung, []), key=lambda term: (-self.counts[term], term))

    def near_misses(self, word: str) -> list[str]:
        """Terms exactly one jamo edit away from `word` (Hangul words only), most frequent first (ties in
        spelling order)."""
        if not any(is_syllable(char) for char in word):
            return []
        candidates: set[str] = set()
        for key in _deletion_keys(decompose(word)):
            candidates |= self._by_deletion.get(key, set())
        syllables = _syllables(word)
        # A slip inside a syllable keeps the syllable count; "사료" is not "살" with a vowel dropped.
        found = [
            term
            for term in candidates
            if _syllables(term) == syllables and jamo_edit_distance(word, term, limit=1) == 1
        ]
        return sorted(found, key=lambda term: (-self.counts[term], term))


def _syllables(text: str) -> int:
    return sum(1 for char in text if is_syllable(char))


def _deletion_keys(jamo: str) -> set[str]:
    return {jamo} | {jamo[:i] + jamo[i + 1 :] for i in range(len(jamo))}


def as_catalog_vocabulary(
    vocabulary: CatalogVocabulary | Iterable[str] | Mapping[str, int],
) -> CatalogVocabulary:
    """Accept a prepared vocabulary or build one (building costs a pass over every term: reuse it)."""
    return vocabulary if isinstance(vocabulary, CatalogVocabulary) else CatalogVocabulary(vocabulary)


class WordReplacement(BaseModel):
    model_config = ConfigDict(frozen=True)

    typed: str
    converted: str
    term: str
    near_miss: bool = False


class KeywordVariant(BaseModel):
    """A rewritten query proposed to the planner, with the per-word evidence behind it."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["keyboard", "chosung", "typo"]
    original: str
    text: str
    replacements: list[WordReplacement]
    alternatives: list[str] = Field(default_factory=list)

    @property
    def reason(self) -> str:
        def part(r: WordReplacement) -> str:
            if not r.near_miss:
                return f"'{r.typed}' -> '{r.term}'"
            if r.converted == r.typed:
                return f"'{r.typed}' -> '{r.term}' (one jamo off)"
            return f"'{r.typed}' -> '{r.term}' (typed '{r.converted}', one jamo off)"

        parts = [part(r) for r in self.replacements]
        return f"{self.kind} variant: " + ", ".join(parts)


def _resolve(converted: str, vocabulary: CatalogVocabulary) -> tuple[str, bool] | None:
    exact = vocabulary.canonical(converted)
    if exact is not None:
        return exact, False
    misses = vocabulary.near_misses(converted) if typo_budget(converted) > 0 else []
    # Only an unambiguous near miss is safe to apply silently; two candidates means we would be guessing.
    if len(misses) == 1:
        return misses[0], True
    return None


def keyboard_variant(
    query: str,
    vocabulary: CatalogVocabulary | Iterable[str] | Mapping[str, int],
    corrections: Mapping[str, str] | None = None,
) -> KeywordVariant | None:
    """Read each Latin word as 2-set keystrokes ("diznfmxm" -> "야쿠르트"); a converted word is used when it
    is a catalog term, one jamo off exactly one term, or a typo whose approved correction (`corrections`,
    from the typo dictionary) is a term ("dirnfmxm" -> 야구르트 -> 야쿠르트). None when nothing converts."""
    vocab = as_catalog_vocabulary(vocabulary)
    fixes = {wrong.casefold(): right for wrong, right in (corrections or {}).items()}
    words = normalise_query(query).split()
    replacements: list[WordReplacement] = []
    out: list[str] = []
    for word in words:
        resolved = None
        if word.isascii() and word.isalpha() and word not in vocab and looks_like_mistyped_korean(word):
            converted = qwerty_to_hangul(word)
            resolved = _resolve(converted, vocab)
            corrected = fixes.get(converted.casefold())
            if resolved is None and corrected is not None and corrected in vocab:
                resolved = (corrected, True)
        if resolved is None:
            out.append(word)
            continue
        term, near_miss = resolved
        replacements.append(WordReplacement(typed=word, converted=converted, term=term, near_miss=near_miss))
        out.append(term)
    if not replacements:
        return None
    return KeywordVariant(
        kind="keyboard", original=" ".join(words), text=" ".join(out), replacements=replacements
    )


def chosung_variant(
    query: str, vocabulary: CatalogVocabulary | Iterable[str] | Mapping[str, int]
) -> KeywordVariant | None:
    """Expand initial-consonant words ("ㅇㅋㄹㅌ") to the catalog term with exactly those initials, the most
    frequent when several match (the others are listed in `alternatives`). None when nothing matches."""
    vocab = as_catalog_vocabulary(vocabulary)
    words = normalise_query(query).split()
    replacements: list[WordReplacement] = []
    alternatives: list[str] = []
    out: list[str] = []
    for word in words:
        matches = vocab.chosung_matches(word) if is_chosung_query(word) else []
        if not matches:
            out.append(word)
            continue
        replacements.append(WordReplacement(typed=word, converted=word, term=matches[0]))
        alternatives.extend(matches[1:6])
        out.append(matches[0])
    if not replacements:
        return None
    return KeywordVariant(
        kind="chosung",
        original=" ".join(words),
        text=" ".join(out),
        replacements=replacements,
        alternatives=alternatives,
    )


def typo_budget(word: str) -> int:
    """How many jamo edits a Hangul word may be corrected by: none for one syllable (too many neighbours
    to guess from), one from two syllables on (a wrong vowel, a doubled consonant, a final consonant
    slip)."""
    return 0 if _syllables(word) < 2 else 1


def typo_variant(
    query: str,
    vocabulary: CatalogVocabulary | Iterable[str] | Mapping[str, int],
    known: Callable[[str], bool] | None = None,
    corrections: Mapping[str, str] | None = None,
) -> KeywordVariant | None:
    """Correct Hangul words the catalog does not know: a word that is neither a vocabulary term nor
    `known` (the index's own analysed check, so "유산균이" or a spaced compound is left alone) is replaced
    by its approved correction (`corrections`, the typo dictionary) or by the vocabulary term within its
    `typo_budget`, the most frequent when several are (the others are listed in `alternatives`). None when
    no word is corrected."""
    vocab = as_catalog_vocabulary(vocabulary)
    fixes = {wrong.casefold(): right for wrong, right in (corrections or {}).items()}
    words = normalise_query(query).split()
    replacements: list[WordReplacement] = []
    alternatives: list[str] = []
    out: list[str] = []
    for word in words:
        term: str | None = None
        others: list[str] = []
        hangul = any(is_syllable(char) for char in word)
        if hangul and word not in vocab and not (known is not None and known(word)):
            approved = fixes.get(word.casefold())
            if approved is not None:
                term = approved
            elif typo_budget(word) > 0:
                misses = vocab.near_misses(word)
                term, others = (misses[0], misses[1:]) if misses else (None, [])
        if term is None:
            out.append(word)
            continue
        replacements.append(WordReplacement(typed=word, converted=word, term=term, near_miss=True))
        alternatives.extend(others[:5])
        out.append(term)
    if not replacements:
        return None
    return KeywordVariant(
        kind="typo",
        original=" ".join(words),
        text=" ".join(out),
        replacements=replacements,
        alternatives=alternatives,
    )
