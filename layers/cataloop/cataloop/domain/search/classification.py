"""Shopper query classification: keyword or natural-language search, sort intent, food intent.

Rules first (sort phrases, food cues, descriptive phrasing), then the nearest few-shot examples
(`FewShotIndex`, by embedding or character n-gram cosine) vote on whatever the rules left open; when the
rules decide everything the examples are not looked up (no query embedding). Pure: the
caller supplies the few-shot examples (normally `load_query_vocabulary()`) and, optionally, an embedding
function; nothing here does I/O except reading the shipped `config/query_examples.json` when asked to.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.search.hangul import is_chosung_query, is_syllable, looks_like_mistyped_korean
from cataloop.domain.search.query import (
    MAX_QUERY_CHARS,
    QueryKind,
    SortIntent,
    SortOrder,
    normalise_query,
)
from cataloop.errors import InvalidInput
from cataloop.validation import describe_validation_error

if TYPE_CHECKING:
    import numpy.typing as npt

try:  # numpy is local-only (not a layer dependency): in AWS the few-shot lookup runs in pure Python
    import numpy as np
except ImportError:  # pragma: no cover - exercised in the Lambda runtime
    np = None  # type: ignore[assignment]

DecidedBy = Literal["rules", "examples"]
"""Whether the rules alone classified a query or the few-shot examples were consulted."""

EmbedTexts = Callable[[list[str]], Sequence[Sequence[float]]]
"""Texts to vectors, e.g. `lambda texts: embedder.embed(texts, "query")`."""


# --- vocabulary and examples ----------------------------------------------------------------------------


class QueryExample(BaseModel):
    """A labelled shopper query the classifier compares new queries with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    kind: QueryKind
    food_intent: bool | None = None


class QueryVocabulary(BaseModel):
    """Intent phrases, food cues and few-shot examples (shipped as `config/query_examples.json`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sort_phrases: dict[SortIntent, tuple[str, ...]] = Field(default_factory=dict)
    sort_modifiers: tuple[str, ...] = ()
    word_suffixes: tuple[str, ...] = ()
    food_cues: tuple[str, ...] = ()
    non_food_cues: tuple[str, ...] = ()
    examples: tuple[QueryExample, ...] = ()


def parse_query_vocabulary(data: Mapping[str, Any]) -> QueryVocabulary:
    """Validate a vocabulary mapping; InvalidInput says which entry is wrong."""
    try:
        return QueryVocabulary.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(f"query vocabulary: {describe_validation_error(error)}") from error


@lru_cache(maxsize=1)
def load_query_vocabulary() -> QueryVocabulary:
    """The vocabulary shipped in cataloop/config/query_examples.json (read once per process)."""
    text = resources.files("cataloop").joinpath("config/query_examples.json").read_text(encoding="utf-8")
    return parse_query_vocabulary(json.loads(text))


# --- classification -----------------------------------------------------------------------------------


class NearestExample(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    kind: QueryKind
    food_intent: bool | None
    similarity: float


class QueryClassification(BaseModel):
    """How a query will be searched. `cleaned_query` has the sort-intent words removed ("저렴한 유산균" ->
    "유산균"); it equals the query when removing them would leave nothing."""

    model_config = ConfigDict(frozen=True)

    kind: QueryKind
    sort_intent: SortIntent | None = None
    food_intent: bool | None = None
    cleaned_query: str
    reasons: list[str] = Field(default_factory=list)
    nearest_examples: list[NearestExample] = Field(default_factory=list)
    classifier: str = Field(
        default="rules",
        description='Who classified the query: "rules", "bedrock", or "rules (fallback: REASON)" when the '
        "model-backed classifier fell back to the rules.",
    )

    decided_by: DecidedBy = Field(
        default="examples",
        description='"rules" when the rules alone decided the kind and the food intent (no few-shot lookup, '
        'so no query embedding); "examples" when the nearest few-shot examples were looked up for what the '
        "rules left open (the kind of a multi-word query no rule marks, or the food intent without a cue "
        "word), or a model classified the query.",
    )

    @property
    def fell_back(self) -> bool:
        """True when a model-backed classifier failed and the rules answered instead."""
        return self.classifier.startswith("rules (fallback")


# Endings and function words that mark a description rather than a product name. Korean shoppers write
# "…에 좋은", "…할 때 먹는", "…용으로"; English ones write "for …", "that …".
_NATURAL_KO_ENDINGS = (
    "에좋은",
    "에 좋은",
    "할때",
    "할 때",
    "으로 좋은",
    "로 좋은",
    "수 있는",
    "만한",
    "위한",
)
_NATURAL_EN_WORDS = frozenset(
    {"for", "that", "which", "what", "when", "how", "who", "something", "need", "want", "good", "to", "not"}
)
_NEAREST_K = 5
# A neighbour must be at least this similar to vote; below it the examples are unrelated to the query.
# Embedding cosines of e5-style models sit high even for unrelated text, hence the separate floor.
NGRAM_SIMILARITY_FLOOR = 0.3
EMBEDDING_SIMILARITY_FLOOR = 0.85
# The few-shot vote must be this one-sided to override a default (keyword search, no food intent).
_VOTE_SHARE = 0.6


def _words(text: str) -> list[str]:
    return text.casefold().split()


def _phrase_span(
    words: Sequence[str], phrase: Sequence[str], suffixes: Sequence[str]
) -> tuple[int, int, str] | None:
    """First whole-word occurrence of `phrase` in `words`: (start, end, leftover suffix). The last word may
    carry a suffix ("저렴한순", "싼거"), which stays out of the cleaned query."""
    size = len(phrase)
    for start in range(len(words) - size + 1):
        window = words[start : start + size]
        if window[:-1] != list(phrase[:-1]):
            continue
        last, wanted = window[-1], phrase[-1]
        if last == wanted:
            return start, start + size, ""
        if last.startswith(wanted) and last[len(wanted) :] in suffixes:
            return start, start + size, last[len(wanted) :]
    return None


class _CompiledVocabulary:
    """A vocabulary's phrases and cues case-folded and split once (classification runs on every search)."""

    __slots__ = ("food_cues", "modifiers", "non_food_cues", "sort_phrases", "suffixes")

    def __init__(self, vocabulary: QueryVocabulary) -> None:
        candidates = [
            (intent, tuple(phrase.casefold().split()))
            for intent, phrases in vocabulary.sort_phrases.items()
            for phrase in phrases
        ]
        # Longest phrase first, so "가성비 좋은" wins over "가성비" and "best rated" is never read as "best".
        candidates.sort(key=lambda item: -len(" ".join(item[1])))
        self.sort_phrases: tuple[tuple[SortIntent, tuple[str, ...]], ...] = tuple(candidates)
        self.modifiers = frozenset(modifier.casefold() for modifier in vocabulary.sort_modifiers)
        self.suffixes: tuple[str, ...] = tuple(vocabulary.word_suffixes)
        self.food_cues = _compiled_cues(vocabulary.food_cues)
        self.non_food_cues = _compiled_cues(vocabulary.non_food_cues)


def _compiled_cues(cues: Iterable[str]) -> tuple[tuple[str, tuple[str, ...], bool], ...]:
    """(cue, its folded words, whether it may be the head of a compound word) per cue."""
    out = []
    for cue in cues:
        folded = cue.casefold()
        compound = " " not in folded and len(folded) >= 2 and all(is_syllable(char) for char in folded)
        out.append((cue, tuple(folded.split()), compound))
    return tuple(out)


# Compiled vocabularies by identity (the shipped one and the few a test builds); the vocabulary is kept
# alongside so its id cannot be reused while the entry lives.
_COMPILED: dict[int, tuple[QueryVocabulary, _CompiledVocabulary]] = {}
_COMPILED_MAX = 32


def _compiled(vocabulary: QueryVocabulary) -> _CompiledVocabulary:
    entry = _COMPILED.get(id(vocabulary))
    if entry is not None and entry[0] is vocabulary:
        return entry[1]
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    compiled = _CompiledVocabulary(vocabulary)
    _COMPILED[id(vocabulary)] = (vocabulary, compiled)
    return compiled


def _sort_intent(
    words: list[str], vocabulary: QueryVocabulary
) -> tuple[SortIntent | None, list[str], str | None]:
    """(intent, words with the intent phrase and its modifiers removed, matched phrase)."""
    compiled = _compiled(vocabulary)
    prepared = _Words(words, compiled.suffixes)
    present = set(words)
    for intent, phrase in compiled.sort_phrases:
        # A phrase can only match where its last word (or the last word plus a suffix) and its other words
        # are among the query's words: most phrases are ruled out without a scan.
        if not phrase or phrase[-1] not in prepared.first_base or not present.issuperset(phrase[:-1]):
            continue
        span = _phrase_span(words, phrase, compiled.suffixes)
        if span is None:
            continue
        start, end, _ = span
        while start > 0 and words[start - 1] in compiled.modifiers:
            start -= 1
        return intent, words[:start] + words[end:], " ".join(phrase)
    return None, words, None


class _Words:
    """A query's words prepared for cue lookups: each word's bases (the word, and the word without each
    suffix it ends with) and its stem (without the first such suffix in vocabulary order)."""

    __slots__ = ("first_base", "stems", "words")

    def __init__(self, words: Sequence[str], suffixes: Sequence[str]) -> None:
        self.words = words
        self.first_base: dict[str, int] = {}
        self.stems: list[str] = []
        for index, word in enumerate(words):
            self.first_base.setdefault(word, index)
            stem = None
            for suffix in suffixes:
                if word.endswith(suffix):
                    self.first_base.setdefault(word[: len(word) - len(suffix)], index)
                    if stem is None and suffix:
                        stem = word[: -len(suffix)]
            self.stems.append(word if stem is None else stem)


def _cue_hits(
    prepared: _Words, cues: Sequence[tuple[str, tuple[str, ...], bool]], suffixes: Sequence[str]
) -> list[tuple[int, str]]:
    """(index of the word, cue) for each cue found as whole words, or, for a Hangul cue of two or more
    syllables, as the head (end) of a compound word: "주방세제" is a "세제"."""
    hits = []
    words = prepared.words
    for cue, phrase, compound in cues:
        if len(phrase) == 1:
            # A one-word phrase matches the first word equal to it or to it plus a suffix.
            index = prepared.first_base.get(phrase[0])
            if index is not None:
                hits.append((index, cue))
                continue
        elif phrase:
            span = _phrase_span(words, phrase, suffixes)
            if span is not None:
                hits.append((span[1] - 1, cue))
                continue
        if not compound:
            continue
        folded = phrase[0]
        for index, word in enumerate(words):
            if len(word) > len(folded) and (word.endswith(folded) or prepared.stems[index].endswith(folded)):
                hits.append((index, cue))
                break
    return hits


def _food_cue(words: Sequence[str], vocabulary: QueryVocabulary) -> tuple[bool | None, str | None]:
    """Food intent from cue words. Korean (and most English shopping queries) put the head noun last, so
    the last cue decides: "야쿠르트 아줌마 인형" is a doll, "마시는 야쿠르트" a drink."""
    compiled = _compiled(vocabulary)
    prepared = _Words(words, compiled.suffixes)
    food = _cue_hits(prepared, compiled.food_cues, compiled.suffixes)
    goods = _cue_hits(prepared, compiled.non_food_cues, compiled.suffixes)
    if not food and not goods:
        return None, None
    last_food = max(food, default=(-1, ""))
    last_goods = max(goods, default=(-1, ""))
    if last_goods[0] >= last_food[0]:
        return False, last_goods[1]
    return True, last_food[1]


def _natural_language_signal(text: str, words: Sequence[str]) -> str | None:
    """A rule that marks the query as a description, or None when no rule fires."""
    lowered = text.casefold()
    if "?" in text:
        return "asks a question"
    for ending in _NATURAL_KO_ENDINGS:
        if ending in lowered:
            return f"descriptive phrase '{ending}'"
    english = [word for word in words if word.isascii() and word.isalpha()]
    function_words = [word for word in english if word in _NATURAL_EN_WORDS]
    if function_words and len(words) >= 3:
        return f"English function word '{function_words[0]}'"
    # An adnominal verb form ("먹는", "쓰는", "사는") before another word modifies the noun after it. Only
    # "-는" is used: nouns ending in ㄴ or ㄹ ("유산균", "선물") would make a final-consonant rule misfire.
    for word in words[:-1]:
        if len(word) >= 2 and word.endswith("는") and is_syllable(word[-2]):
            return f"modifier '{word}' describes what is wanted"
    return None


def _char_ngrams(text: str) -> Counter[str]:
    """Character 2-3-grams over each word with boundary marks: robust to Korean particles and spacing."""
    grams: Counter[str] = Counter()
    for word in text.casefold().split():
        marked = f"^{word}$"
        for size in (2, 3):
            grams.update(marked[i : i + size] for i in range(len(marked) - size + 1))
    return grams


def _cosine_counts(left: Counter[str], right: Counter[str]) -> float:
    dot = sum(count * right[gram] for gram, count in left.items() if gram in right)
    norm = math.sqrt(sum(v * v for v in left.values())) * math.sqrt(sum(v * v for v in right.values()))
    return dot / norm if norm else 0.0


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else [0.0] * len(vector)


def _dot(left: Sequence[float], right: Sequence[float]) -> float:
    if len(left) != len(right):
        raise ValueError(f"vectors of {len(left)} and {len(right)} dimensions cannot be compared")
    return sum(x * y for x, y in zip(left, right, strict=True))


def _unit_rows(vectors: Sequence[Sequence[float]]) -> npt.NDArray[np.float64]:
    """Rows scaled to unit length (a zero row stays zero), in float64 like the Python sums they replace."""
    rows = np.asarray(vectors, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError("the embedding function must return one flat vector per text")
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))[:, None]
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


class FewShotIndex:
    """Examples prepared once for nearest-neighbour lookups: embeddings (when `embed` is given) are computed
    here, so build one per process rather than per query. `nearest` embeds the query only when it is called:
    `classify` calls it only for what its rules leave open."""

    def __init__(
        self,
        examples: Sequence[QueryExample],
        embed: EmbedTexts | None = None,
        *,
        min_similarity: float | None = None,
    ) -> None:
        self.examples = tuple(examples)
        default_floor = NGRAM_SIMILARITY_FLOOR if embed is None else EMBEDDING_SIMILARITY_FLOOR
        self.min_similarity = default_floor if min_similarity is None else min_similarity
        self._embed = embed
        self._grams = [_char_ngrams(example.text) for example in self.examples]
        # Unit vectors, so a similarity is one dot product: one numpy matrix (a matrix-vector product per
        # lookup) when numpy is installed, else lists.
        self._vectors: npt.NDArray[np.float64] | list[list[float]] | None = None
        if embed is not None and self.examples:
            vectors = list(embed([example.text for example in self.examples]))
            if len(vectors) != len(self.examples):
                raise ValueError("the embedding function returned a different number of vectors than texts")
            self._vectors = _unit_rows(vectors) if np is not None else [_unit(vector) for vector in vectors]

    @property
    def method(self) -> str:
        return "embedding cosine" if self._vectors is not None else "character n-gram cosine"

    @property
    def embeds(self) -> bool:
        """True when a lookup embeds the query (an embedding index with examples)."""
        return self._vectors is not None and self._embed is not None

    def nearest(self, text: str, k: int = _NEAREST_K) -> list[NearestExample]:
        """The `k` most similar examples, most similar first (ties by example text)."""
        if not self.examples:
            return []
        similarities: list[float]
        if self._vectors is not None and self._embed is not None:
            vector = self._embed([text])[0]
            if isinstance(self._vectors, list):
                unit = _unit(vector)
                similarities = [_dot(unit, example) for example in self._vectors]
            else:
                query = _unit_rows([vector])[0]
                if query.shape[0] != self._vectors.shape[1]:
                    raise ValueError(
                        f"vectors of {query.shape[0]} and {self._vectors.shape[1]} dimensions cannot be compared"
                    )
                similarities = (self._vectors @ query).tolist()
        else:
            grams = _char_ngrams(text)
            similarities = [_cosine_counts(grams, example_grams) for example_grams in self._grams]
        ranked = sorted(
            zip(similarities, self.examples, strict=True), key=lambda pair: (-pair[0], pair[1].text)
        )
        return [
            NearestExample(
                text=example.text, kind=example.kind, food_intent=example.food_intent, similarity=round(s, 4)
            )
            for s, example in ranked[:k]
        ]


def _vote(
    nearest: Sequence[NearestExample], label: Callable[[NearestExample], Any], floor: float
) -> tuple[Any, float]:
    """Similarity-weighted majority over the neighbours at or above `floor`: (label, its share)."""
    weights: dict[Any, float] = {}
    for example in nearest:
        if example.similarity >= floor:
            weights[label(example)] = weights.get(label(example), 0.0) + example.similarity
    if not weights:
        return None, 0.0
    winner = max(weights.items(), key=lambda item: (item[1], str(item[0])))
    return winner[0], winner[1] / sum(weights.values())


def classify(
    query: str,
    examples: FewShotIndex | Sequence[QueryExample] | None = None,
    embed: EmbedTexts | None = None,
    *,
    vocabulary: QueryVocabulary | None = None,
) -> QueryClassification:
    """Classify a (validated) query: rules first (sort phrases, food cues, descriptive phrasing), then the
    nearest few-shot examples vote on whatever the rules left open. The examples are looked up (for an
    embedding index: the query embedded) only when the rules leave the kind or the food intent open;
    `decided_by` says which. Passing a `FewShotIndex` avoids re-embedding the examples on every call; `embed`
    is only used when `examples` is a plain sequence."""
    vocabulary = vocabulary or load_query_vocabulary()
    if examples is None:
        examples = vocabulary.examples
    index = examples if isinstance(examples, FewShotIndex) else FewShotIndex(examples, embed)
    text = normalise_query(query)
    words = text.split()
    reasons: list[str] = []

    sort_intent, remaining, phrase = _sort_intent(_words(text), vocabulary)
    cleaned = text
    if sort_intent is not None:
        reasons.append(f"sort intent {sort_intent} from '{phrase}'")
        kept = _restore_case(words, remaining)
        if kept:
            cleaned = " ".join(kept)
        else:
            reasons.append("the query is only a sort phrase; searching it as written")

    cleaned_words = _words(cleaned)
    food_intent, cue = _food_cue(cleaned_words, vocabulary)
    if cue is not None:
        reasons.append(f"{'food' if food_intent else 'non-food'} intent from '{cue}'")

    kind: QueryKind = "keyword"
    layout_text = is_chosung_query(cleaned) or (
        len(cleaned_words) == 1 and looks_like_mistyped_korean(cleaned) and not cleaned.isupper()
    )
    signal = None if layout_text else _natural_language_signal(cleaned, cleaned_words)
    # The few-shot examples (an embedding of the query, for an embedding index) are looked up only for what
    # the rules leave open: the kind of a query of two or more words no rule marks, and the food intent of a
    # query without a cue word. Layout text and a single word are keyword searches whatever they resemble.
    kind_open = not layout_text and signal is None and len(cleaned_words) > 1
    food_open = cue is None and not layout_text
    nearest = index.nearest(cleaned) if kind_open or food_open else []
    if layout_text:
        # Similarity to examples means nothing for "ㅇㅋㄹㅌ" or "dkssud": classify the resolved variant.
        reasons.append("initial consonants or keyboard-layout text: keyword search")
    elif signal is not None:
        kind = "natural_language"
        reasons.append(f"natural language: {signal}")
    elif kind_open:
        voted_kind, share = _vote(nearest, lambda example: example.kind, index.min_similarity)
        if voted_kind == "natural_language" and share >= _VOTE_SHARE:
            kind = "natural_language"
            reasons.append(f"natural language by {share:.0%} of similar examples ({index.method})")
        else:
            reasons.append("keyword search: no descriptive phrasing")
    else:
        # A single word is a name or a category, never a description, whatever it resembles.
        reasons.append("keyword search: no descriptive phrasing")

    if food_open:
        voted_food, share = _vote(nearest, lambda example: example.food_intent, index.min_similarity)
        if voted_food is not None and share >= _VOTE_SHARE:
            food_intent = voted_food
            reasons.append(
                f"{'food' if voted_food else 'non-food'} intent by {share:.0%} of similar examples"
            )

    return QueryClassification(
        kind=kind,
        sort_intent=sort_intent,
        food_intent=food_intent,
        cleaned_query=cleaned,
        reasons=reasons,
        nearest_examples=nearest,
        decided_by="examples" if kind_open or food_open else "rules",
    )


class RulesQueryClassifier:
    """The `QueryClassifier` of the rules plus the nearest few-shot examples (`classify`): the offline
    classifier, and the fallback of the model-backed one."""

    def __init__(self, few_shot: FewShotIndex, vocabulary: QueryVocabulary | None = None) -> None:
        self.few_shot = few_shot
        self.vocabulary = vocabulary

    def classify(self, query: str) -> QueryClassification:
        return classify(query, self.few_shot, vocabulary=self.vocabulary)


def _restore_case(original: Sequence[str], kept_folded: Sequence[str]) -> list[str]:
    """Map the kept case-folded words back to their original spelling, in order."""
    out: list[str] = []
    position = 0
    for folded in kept_folded:
        while position < len(original) and original[position].casefold() != folded:
            position += 1
        if position < len(original):
            out.append(original[position])
            position += 1
    return out


def sort_order_for(request_sort: SortOrder | None, classification: QueryClassification) -> SortOrder:
    """An explicit `sort=` parameter wins; otherwise the query's sort intent; otherwise relevance."""
    if request_sort is not None:
        return request_sort
    return classification.sort_intent or "relevance"
