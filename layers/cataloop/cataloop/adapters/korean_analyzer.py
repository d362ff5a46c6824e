"""Korean analysis that behaves like OpenSearch's `nori` analyzer, run locally on python-mecab-ko.

nori is built from mecab-ko-dic, which python-mecab-ko ships, so the embedded engine and the OpenSearch index
tokenize the same way. One `KoreanAnalysisConfig` drives both: `KoreanAnalyzer` analyzes text in-process and
`nori_index_settings` renders the OpenSearch `analysis` settings from the same object, so they cannot drift.

Pipeline (same order as the OpenSearch analyzers):
  nori_tokenizer (user dictionary, decompound mode, punctuation discarded)
  -> nori_part_of_speech (stop tags) -> nori_readingform (Hanja to Hangul) -> lowercase
  -> synonym_graph (search analyzer only)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cataloop.errors import InvalidInput

if TYPE_CHECKING:
    from mecab import MeCab

DecompoundMode = Literal["discard", "mixed", "none"]

# nori's default `stoptags` for the nori_part_of_speech filter.
NORI_DEFAULT_STOP_TAGS: tuple[str, ...] = (
    "E", "IC", "J", "MAG", "MAJ", "MM", "SP", "SSC", "SSO", "SC", "SE",
    "XPN", "XSA", "XSN", "XSV", "UNA", "NA", "VSV",
)  # fmt: skip

# Lucene's POS.Tag values; nori rejects any other stop tag, so we do too.
NORI_TAGS = frozenset({
    "E", "IC", "J", "MAG", "MAJ", "MM", "NA", "NNB", "NNBC", "NNG", "NNP", "NP", "NR", "SC", "SE", "SF",
    "SH", "SL", "SN", "SP", "SSC", "SSO", "SY", "UNA", "UNKNOWN", "VA", "VCN", "VCP", "VSV", "VV", "VX",
    "XPN", "XR", "XSA", "XSN", "XSV",
})  # fmt: skip
# Brand and product names (user dictionary words, NNP), ordinary nouns, Latin words and numbers are what
# shoppers search for: a stop tag that removed them would silently empty the index.
PROTECTED_TAGS = frozenset({"NNG", "NNP", "SL", "SN"})

INDEX_ANALYZER = "korean_index"
SEARCH_ANALYZER = "korean_search"
_TOKENIZER = "korean_nori_tokenizer"
_POS_FILTER = "korean_pos_stop"
_SYNONYM_FILTER = "korean_search_synonyms"

# The token a shingle filter puts where a stopped word left its position empty (Lucene's default).
SHINGLE_FILLER = "_"

# mecab word costs are 16-bit; a strongly negative cost makes a user word win over any dictionary split,
# which is what nori does with its user dictionary.
_USER_WORD_COST = -20000


@dataclass(frozen=True)
class UserDictionaryEntry:
    """One nori user dictionary rule: a word kept whole, optionally with the segments it decompounds into."""

    word: str
    segments: tuple[str, ...] = ()

    @classmethod
    def parse(cls, rule: str) -> UserDictionaryEntry:
        """Parse nori's rule syntax, "word" or "word seg1 seg2 ..."; raise InvalidInput on a bad rule."""
        parts = rule.split()
        if not parts:
            raise InvalidInput("user dictionary: empty entry; remove it or write a word")
        word, segments = parts[0], tuple(parts[1:])
        if any(bad in rule for bad in ',"'):
            raise InvalidInput(f"user dictionary entry {rule!r}: remove commas and double quotes")
        if segments and "".join(segments) != word:
            raise InvalidInput(
                f"user dictionary entry {rule!r}: the segments must spell the word exactly "
                f"({''.join(segments)!r} != {word!r})"
            )
        if len(segments) == 1:
            segments = ()
        return cls(word=word, segments=segments)

    def as_rule(self) -> str:
        return " ".join((self.word, *self.segments))


class KoreanAnalysisConfig(BaseModel):
    """The one configuration both the local analyzer and the OpenSearch settings are generated from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decompound_mode: DecompoundMode = "discard"
    stop_tags: tuple[str, ...] = NORI_DEFAULT_STOP_TAGS
    user_dictionary: tuple[str, ...] = Field(
        default=(), description='nori user_dictionary_rules: "word" or "word seg1 seg2"; # starts a comment'
    )
    discard_punctuation: bool = True

    @field_validator("stop_tags")
    @classmethod
    def _known_unprotected_tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(tags) - NORI_TAGS)
        if unknown:
            raise ValueError(f"unknown part-of-speech tags {unknown}; use nori tags: {sorted(NORI_TAGS)}")
        protected = sorted(set(tags) & PROTECTED_TAGS)
        if protected:
            raise ValueError(
                f"stop tags {protected} would drop brand names, nouns, Latin words or numbers; remove them"
            )
        return tags

    @field_validator("user_dictionary")
    @classmethod
    def _normalised_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        kept = [rule.strip() for rule in rules if rule.strip() and not rule.strip().startswith("#")]
        entries = [UserDictionaryEntry.parse(rule) for rule in kept]
        return tuple(dict.fromkeys(entry.as_rule() for entry in entries))

    @classmethod
    def build(cls, **values: Any) -> KoreanAnalysisConfig:
        """Validate a configuration, raising InvalidInput (with what to fix) instead of ValidationError."""
        try:
            return cls(**values)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise InvalidInput(f"Korean analysis configuration: {problems}") from error

    def user_dictionary_entries(self) -> list[UserDictionaryEntry]:
        return [UserDictionaryEntry.parse(rule) for rule in self.user_dictionary]


@dataclass(frozen=True)
class AnalyzedToken:
    """A token as nori emits it: `position_length` > 1 only for a compound kept whole in "mixed" mode."""

    term: str
    tag: str
    position: int
    position_length: int = 1


@dataclass(frozen=True)
class SynonymRule:
    """A Solr synonym rule: `inputs => outputs`, or an equivalence (`outputs` empty) where all map to all."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...] = ()

    @property
    def is_equivalence(self) -> bool:
        return not self.outputs


class SynonymRules:
    """Parsed Solr-format synonym lines ("a, b, c" equivalences and "a, b => c" mappings)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines: tuple[str, ...] = tuple(line.strip() for line in lines if line.strip())
        self.rules: tuple[SynonymRule, ...] = tuple(
            rule for number, line in enumerate(self.lines, 1) if (rule := _parse_synonym_line(line, number))
        )


def joined_terms(tokens: Sequence[AnalyzedToken]) -> list[str]:
    """Index-time terms of a compound field from a token stream: the `korean_index` terms and each pair of
    neighbours written together ("주방 세제" -> 주방, 세제, 주방세제), as a shingle filter (size 2, no
    separator, unigrams kept) emits them; a position left empty by a stopped word is the filler "_" ("주방용
    세제" -> 주방_, _세제), as in Lucene. A compound kept whole beside its parts (decompound "mixed") is left
    out: its parts are joined."""
    terms = {token.position: token.term for token in tokens if token.position_length == 1}
    if not terms:
        return []
    pairs = []
    for position in range(min(terms), max(terms)):
        left, right = terms.get(position, SHINGLE_FILLER), terms.get(position + 1, SHINGLE_FILLER)
        if left != SHINGLE_FILLER or right != SHINGLE_FILLER:
            pairs.append(left + right)
    return [*terms.values(), *pairs]


def _parse_synonym_line(line: str, number: int) -> SynonymRule | None:
    if line.startswith("#"):
        return None

    def terms(side: str) -> tuple[str, ...]:
        found = tuple(term.strip() for term in side.split(",") if term.strip())
        if not found:
            raise InvalidInput(f"synonym line {number} {line!r}: a side of the rule has no terms")
        return found

    if "=>" in line:
        left, _, right = line.partition("=>")
        if "=>" in right:
            raise InvalidInput(f"synonym line {number} {line!r}: use at most one '=>' per line")
        return SynonymRule(inputs=terms(left), outputs=terms(right))
    return SynonymRule(inputs=terms(line))


def _is_punctuation(char: str) -> bool:
    # Same Unicode classes as Lucene's KoreanTokenizer.isPunctuation (separators, controls, P*, S*).
    return unicodedata.category(char)[0] in "PSZ" or unicodedata.category(char) in ("Cc", "Cf")


def _has_hanja(text: str) -> bool:
    return any("CJK" in unicodedata.name(char, "") for char in text)


def _nori_tag(mecab_tag: str) -> str:
    """mecab-ko-dic tag (first of a "VV+EP" chain) to nori's tag: all endings are E, all particles J."""
    first = mecab_tag.split("+", 1)[0]
    if first.startswith("E"):
        return "E"
    if first.startswith("J"):
        return "J"
    return first


def _user_dictionary_csv(entries: Sequence[UserDictionaryEntry]) -> str:
    rows = []
    for entry in entries:
        last = entry.word[-1]
        # mecab-ko-dic's "has a final consonant" column; it steers which particles may follow.
        # A word ending in Latin letters or digits is treated as ending in a vowel (mecab needs T or F).
        has_final = "T" if "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 else "F"
        if entry.segments:
            expression = "+".join(f"{segment}/NNP/*" for segment in entry.segments)
            kind = "Compound"
        else:
            expression, kind = "*", "*"
        # Tagged NNP (a proper noun): brand and product names must survive every stop-tag list.
        rows.append(
            f"{entry.word},,,{_USER_WORD_COST},NNP,*,{has_final},{entry.word},{kind},*,*,{expression}"
        )
    return "\n".join(rows) + "\n"


_compiled_user_dictionaries: dict[str, Path] = {}
_compile_lock = threading.Lock()


def _compiled_user_dictionary(entries: Sequence[UserDictionaryEntry]) -> Path:
    """Compile the user dictionary once per content and mecab version: cached in-process, and in this user's
    private directory under the temp dir (`_private_cache`), so a later process, or a warm Lambda
    container's next cold module, reuses it instead of running mecab's compiler (about 0.08 s)."""
    csv = _user_dictionary_csv(entries)
    digest = hashlib.sha256(f"{_mecab_version()}\0{csv}".encode()).hexdigest()[:32]
    with _compile_lock:
        cached = _compiled_user_dictionaries.get(digest)
        if cached is not None and cached.exists():
            return cached
        directory = _private_cache() or Path(tempfile.mkdtemp(prefix="cataloop-userdic-"))
        compiled = directory / f"{digest}.dic"
        if not compiled.is_file():
            workdir = Path(tempfile.mkdtemp(prefix="cataloop-userdic-", dir=directory))
            source, fresh = workdir / "user.csv", workdir / "user.dic"
            source.write_text(csv, encoding="utf-8")
            # A child process, because mecab's compiler calls exit() on a bad row, which would end this one.
            command = [
                sys.executable, "-m", "mecab", "dict-index",
                "--userdic", str(fresh),
                "--dictionary-charset", "utf-8",
                "--charset", "utf-8",
                str(source),
            ]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0 or not fresh.exists():
                detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                raise InvalidInput(
                    f"user dictionary could not be compiled by mecab: {detail[0]}; check the entries"
                )
            os.replace(fresh, compiled)  # whole or absent, for a process reading it at the same time
            shutil.rmtree(workdir, ignore_errors=True)
        _compiled_user_dictionaries[digest] = compiled
        return compiled


def _mecab_version() -> str:
    try:
        return importlib.metadata.version("python-mecab-ko")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _private_cache() -> Path | None:
    """`<temp dir>/cataloop-userdic-<uid>`, made 0700; None when it exists but is not this user's alone (a
    dictionary someone else could write is not loaded: each process then compiles its own)."""
    directory = Path(tempfile.gettempdir()) / f"cataloop-userdic-{os.getuid()}"
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        status = directory.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
        return None
    return directory


class KoreanAnalyzer:
    """nori-like analysis on mecab-ko-dic. The mecab tagger is built on first use, once per instance."""

    def __init__(self, config: KoreanAnalysisConfig | None = None) -> None:
        self.config = config or KoreanAnalysisConfig()
        self._stop_tags = frozenset(self.config.stop_tags)
        self._tagger: MeCab | None = None
        self._tagger_lock = threading.Lock()
        self._compiled_synonyms: dict[tuple[str, ...], dict[tuple[str, ...], list[tuple[str, ...]]]] = {}

    def _mecab(self) -> MeCab:
        if self._tagger is None:
            with self._tagger_lock:
                if self._tagger is None:
                    from mecab import MeCab

                    entries = self.config.user_dictionary_entries()
                    user_dictionary = _compiled_user_dictionary(entries) if entries else None
                    self._tagger = MeCab(user_dictionary_path=user_dictionary)
        return self._tagger

    def tokens(self, text: str) -> list[AnalyzedToken]:
        """The full token stream with positions (stopped tokens leave position gaps, as in Lucene)."""
        mode = self.config.decompound_mode
        out: list[AnalyzedToken] = []
        position = -1
        for morpheme in self._mecab().parse(text):
            surface = morpheme.surface
            if not surface or (self.config.discard_punctuation and _is_punctuation(surface[0])):
                continue
            feature = morpheme.feature
            if mode == "none" or feature.type is None or not feature.expression:
                position += 1
                self._emit(out, surface, feature.pos, feature.reading, position, 1)
                continue
            # "surface/TAG/semantic" parts; the last two fields never contain "/".
            parts = [piece.rsplit("/", 2)[:2] for piece in feature.expression.split("+")]
            first = position + 1
            if mode == "mixed":
                self._emit(out, surface, feature.pos, feature.reading, first, len(parts))
            for part_surface, part_tag in parts:
                position += 1
                self._emit(out, part_surface, part_tag, None, position, 1)
        return out

    def _emit(
        self,
        out: list[AnalyzedToken],
        surface: str,
        tag: str,
        reading: str | None,
        position: int,
        length: int,
    ) -> None:
        nori_tag = _nori_tag(tag)
        if nori_tag in self._stop_tags:
            return
        term = reading if reading and _has_hanja(surface) else surface
        out.append(AnalyzedToken(term=term.lower(), tag=nori_tag, position=position, position_length=length))

    def analyze(self, text: str) -> list[str]:
        """Index-time terms, in order (what the `korean_index` analyzer emits)."""
        return [token.term for token in self.tokens(text)]

    def joined(self, text: str) -> list[str]:
        """Index-time terms of a compound field (see `joined_terms`)."""
        return joined_terms(self.tokens(text))

    def joined_query(self, text: str) -> list[str]:
        """Search-time terms of a compound field: only the pairs of a query of several words ("주방 세제" ->
        주방세제, which finds a product's single word "주방세제"), the word itself for a one-word query
        ("주방세제", which finds "주방 세제"'s pair): the shingle filter with `output_unigrams: false` and
        `output_unigrams_if_no_shingles: true`."""
        tokens = self.tokens(text)  # one parse for both the terms and the word count
        terms = joined_terms(tokens)
        words = sum(1 for token in tokens if token.position_length == 1)
        return terms[words:] if words > 1 else terms

    def _path(self, text: str) -> list[AnalyzedToken]:
        return [token for token in self.tokens(text) if token.position_length == 1]

    def _synonym_map(self, synonyms: SynonymRules) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
        cached = self._compiled_synonyms.get(synonyms.lines)
        if cached is not None:
            return cached
        mapping: dict[tuple[str, ...], list[tuple[str, ...]]] = {}

        def analyzed(terms: tuple[str, ...]) -> list[tuple[str, ...]]:
            # lenient: a term that analyzes to nothing (e.g. only particles) is skipped, like OpenSearch.
            found = (tuple(token.term for token in self._path(term)) for term in terms)
            return [tokens for tokens in found if tokens]

        for rule in synonyms.rules:
            inputs = analyzed(rule.inputs)
            outputs = inputs if rule.is_equivalence else analyzed(rule.outputs)
            if not outputs:
                continue
            for source in inputs:
                targets = mapping.setdefault(source, [])
                targets.extend(target for target in outputs if target not in targets)
        if len(self._compiled_synonyms) >= 8:  # callers hold one or two rule sets; never grow without bound
            self._compiled_synonyms.clear()
        self._compiled_synonyms[synonyms.lines] = mapping
        return mapping

    def analyze_query(
        self, text: str, synonyms: SynonymRules | Sequence[str] | None = None
    ) -> list[list[str]]:
        """Search-time terms as an AND of OR-groups: each inner list holds alternatives for one stretch of
        the query; an alternative containing spaces is a phrase of analyzed terms ("프로 바이오 틱스").

        Synonyms apply like `synonym_graph` at search time: longest match first; an equivalence keeps the
        query's own words as the first alternative, an `a => b` mapping replaces them."""
        rules = synonyms if isinstance(synonyms, SynonymRules) else SynonymRules(synonyms or ())
        mapping = self._synonym_map(rules)
        longest = max((len(source) for source in mapping), default=0)
        tokens = self.tokens(text)
        path = [token for token in tokens if token.position_length == 1]
        compounds = {token.position: token for token in tokens if token.position_length > 1}
        terms = [token.term for token in path]

        groups: list[list[str]] = []
        index = 0
        while index < len(path):
            for width in range(min(longest, len(path) - index), 0, -1):
                matched = tuple(terms[index : index + width])
                replacements = mapping.get(matched)
                if replacements:
                    if matched in replacements:  # equivalence: the query's own words come first
                        replacements = [matched, *(target for target in replacements if target != matched)]
                    groups.append([" ".join(target) for target in replacements])
                    index += width
                    break
            else:
                compound = compounds.get(path[index].position)
                if compound is not None:
                    end = compound.position + compound.position_length
                    width = sum(1 for token in path[index:] if token.position < end)
                    parts = " ".join(terms[index : index + width])
                    groups.append([parts] if parts == compound.term else [parts, compound.term])
                    index += width
                else:
                    groups.append([terms[index]])
                    index += 1
        return groups

    def index_settings(self, synonyms: Sequence[str] = ()) -> dict[str, Any]:
        """The OpenSearch analysis settings for this analyzer's configuration (see `nori_index_settings`)."""
        return nori_index_settings(list(self.config.user_dictionary), list(synonyms), config=self.config)


def nori_index_settings(
    user_dictionary: list[str], synonyms: list[str], *, config: KoreanAnalysisConfig | None = None
) -> dict[str, Any]:
    """`{"analysis": {...}}` for an OpenSearch index: `korean_index` (no synonyms) and `korean_search`
    (with `synonym_graph`). `config` supplies everything else; its user dictionary is merged in."""
    base = config or KoreanAnalysisConfig()
    merged = KoreanAnalysisConfig.build(
        **{**base.model_dump(), "user_dictionary": (*base.user_dictionary, *user_dictionary)}
    )
    SynonymRules(synonyms)  # fail here, with a line number, rather than at index creation
    chain = [_POS_FILTER, "nori_readingform", "lowercase"]
    tokenizer: dict[str, Any] = {
        "type": "nori_tokenizer",
        "decompound_mode": merged.decompound_mode,
        "discard_punctuation": merged.discard_punctuation,
    }
    if merged.user_dictionary:
        tokenizer["user_dictionary_rules"] = list(merged.user_dictionary)
    return {
        "analysis": {
            "tokenizer": {
                _TOKENIZER: tokenizer,
            },
            "filter": {
                _POS_FILTER: {"type": "nori_part_of_speech", "stoptags": list(merged.stop_tags)},
                _SYNONYM_FILTER: {
                    "type": "synonym_graph",
                    "synonyms": [line.strip() for line in synonyms if line.strip()],
                    "lenient": True,
                },
            },
            "analyzer": {
                INDEX_ANALYZER: {"type": "custom", "tokenizer": _TOKENIZER, "filter": chain},
                SEARCH_ANALYZER: {
                    "type": "custom",
                    "tokenizer": _TOKENIZER,
                    "filter": [*chain, _SYNONYM_FILTER],
                },
            },
        }
    }
