"""An offline guardrail: a word list for abuse and patterns for Korean personal data.

This is a deterministic baseline, not a model. It catches the listed abuse words (with simple evasions:
spacing, digits and punctuation inside Hangul words, leetspeak digits in Latin words) and personal data
with a recognisable shape: Korean mobile and landline numbers, e-mail addresses, resident registration
numbers and payment-card numbers. It cannot judge context, insults without a listed word, names or street
addresses; production uses Bedrock ApplyGuardrail (`adapters/bedrock_guardrail.py`) for that.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cataloop.domain.search.guardrail import GuardrailSource, GuardrailVerdict
from cataloop.errors import InvalidInput

PiiAction = Literal["mask", "block"]


class GuardrailPolicy(BaseModel):
    """What to do with personal data, per direction. Abuse is always blocked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pii_on_input: PiiAction = "mask"
    pii_on_output: PiiAction = "mask"

    def pii_action(self, source: GuardrailSource) -> PiiAction:
        return self.pii_on_input if source == "INPUT" else self.pii_on_output


# --- abuse words --------------------------------------------------------------------------------------

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


@dataclass(frozen=True)
class AbuseWordList:
    """Parsed `guardrail_words.txt`: Hangul substrings, Latin whole words and prefixes, and allowed words."""

    hangul: tuple[str, ...]
    latin_words: frozenset[str]
    latin_prefixes: tuple[str, ...]
    allowed: tuple[str, ...]

    @classmethod
    def parse(cls, lines: Iterable[str]) -> AbuseWordList:
        """Parse the word-list format (see the file's header); InvalidInput names a bad line."""
        hangul: list[str] = []
        words: set[str] = set()
        prefixes: list[str] = []
        allowed: list[str] = []
        for number, raw in enumerate(lines, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if " " in line:
                raise InvalidInput(f"guardrail word list line {number} {raw.strip()!r}: one word per line")
            if line.startswith("+"):
                allowed.append(_compact(line[1:]))
            elif line.endswith("*"):
                if not line[:-1].isascii():
                    raise InvalidInput(
                        f"guardrail word list line {number} {line!r}: '*' prefixes are for Latin words only"
                    )
                prefixes.append(line[:-1].casefold())
            elif line.isascii():
                words.add(line.casefold())
            else:
                hangul.append(_compact(line))
        # Longest allowed words first so "시발택시" is removed whole before a shorter allowed word could split it.
        allowed.sort(key=len, reverse=True)
        return cls(tuple(hangul), frozenset(words), tuple(prefixes), tuple(allowed))

    def findings(self, text: str) -> list[str]:
        """The listed words found in `text` (each once, in list order)."""
        found: list[str] = []
        compact = _compact(text)
        for word in self.allowed:
            compact = compact.replace(word, " ")
        found.extend(word for word in self.hangul if word in compact)
        for token in re.findall(r"[a-z0-9@$]+", unicodedata.normalize("NFKC", text).casefold()):
            token = token.translate(_LEET)
            if token in self.latin_words:
                found.append(token)
            else:
                found.extend(prefix + "…" for prefix in self.latin_prefixes if token.startswith(prefix))
        return list(dict.fromkeys(found))


def _compact(text: str) -> str:
    """Hangul syllables and letters only, case-folded: spacing, digits and punctuation inserted to dodge
    a filter ("씨 1 발") disappear."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(char for char in text if unicodedata.category(char).startswith("L"))


@lru_cache(maxsize=1)
def shipped_word_list() -> AbuseWordList:
    """The list shipped in cataloop/config/guardrail_words.txt (read once per process)."""
    text = resources.files("cataloop").joinpath("config/guardrail_words.txt").read_text(encoding="utf-8")
    return AbuseWordList.parse(text.splitlines())


# --- personal data ------------------------------------------------------------------------------------

_SEP = r"[ .\-]?"
# Mobile: 010/011/016/017/018/019; landline: Seoul 02, the 0[3-6][1-5] regions, 070 internet phones.
_PHONE = re.compile(
    rf"(?<![\d])(?:\+82{_SEP}|0)(?:1[016789]|2|[3-6][1-5]|70){_SEP}\d{{3,4}}{_SEP}\d{{4}}(?!\d)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_RRN = re.compile(r"(?<!\d)(\d{6})(-?)([1-8]\d{6})(?!\d)")
_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){13,18}(?!\d)")

_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_GS1_KOREA_PREFIX = "880"


def rrn_check_digit_ok(digits: str) -> bool:
    """The resident registration number check digit: (11 - Σ dᵢ·wᵢ mod 11) mod 10 over the first 12."""
    total = sum(int(d) * w for d, w in zip(digits[:12], _RRN_WEIGHTS, strict=True))
    return (11 - total % 11) % 10 == int(digits[12])


def ean13_ok(digits: str) -> bool:
    """The EAN-13 barcode check digit (weights 1, 3, 1, 3, … over the first 12 digits)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == int(digits[12])


def _rrn_birth_date_ok(birth: str, gender_digit: str) -> bool:
    century = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000}
    try:
        date(century[gender_digit] + int(birth[:2]), int(birth[2:4]), int(birth[4:6]))
    except ValueError:
        return False
    return True


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment-card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


@dataclass(frozen=True)
class PiiFinding:
    start: int
    end: int
    kind: str
    label: str  # what replaces the span in masked text, in Bedrock's "{TYPE}" style


def _rrn_findings(text: str) -> list[PiiFinding]:
    found = []
    for match in _RRN.finditer(text):
        birth, hyphen, rest = match.groups()
        digits = birth + rest
        if not _rrn_birth_date_ok(birth, rest[0]):
            continue
        if not hyphen and digits.startswith(_GS1_KOREA_PREFIX) and ean13_ok(digits):
            # A Korean product barcode (GS1 prefix 880) that also happens to pass the RRN check: shoppers
            # do search barcodes, and a hyphen-less 880… number is far likelier to be one.
            continue
        if rrn_check_digit_ok(digits):
            found.append(PiiFinding(match.start(), match.end(), "resident registration number", "{RRN}"))
        elif hyphen:
            # Numbers issued since October 2020 carry no check digit; the hyphenated birth-date shape is
            # then the only evidence. Unhyphenated 13-digit strings without a valid check digit are left
            # alone: they are far more often barcodes (EAN-13) than identity numbers.
            found.append(
                PiiFinding(
                    match.start(), match.end(), "resident registration number (no check digit)", "{RRN}"
                )
            )
    return found


def _card_findings(text: str) -> list[PiiFinding]:
    found = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        # 14-19 digits: 13-digit cards are long retired, while 13 digits is every EAN-13 barcode.
        if 14 <= len(digits) <= 19 and luhn_ok(digits):
            found.append(PiiFinding(match.start(), match.end(), "payment card number", "{CARD}"))
    return found


def _regex_findings(pattern: re.Pattern[str], kind: str, label: str) -> Callable[[str], list[PiiFinding]]:
    def find(text: str) -> list[PiiFinding]:
        return [PiiFinding(m.start(), m.end(), kind, label) for m in pattern.finditer(text)]

    return find


# Order matters where spans overlap: a longer, more specific finding wins over a later shorter one.
_PII_DETECTORS: tuple[Callable[[str], list[PiiFinding]], ...] = (
    _regex_findings(_EMAIL, "e-mail address", "{EMAIL}"),
    _rrn_findings,
    _card_findings,
    _regex_findings(_PHONE, "phone number", "{PHONE}"),
)


def find_personal_data(text: str) -> list[PiiFinding]:
    """Non-overlapping personal-data spans in `text`, in text order."""
    taken: list[PiiFinding] = []
    for detector in _PII_DETECTORS:
        for finding in detector(text):
            if all(finding.end <= other.start or finding.start >= other.end for other in taken):
                taken.append(finding)
    return sorted(taken, key=lambda finding: finding.start)


def mask_personal_data(text: str, findings: list[PiiFinding]) -> str:
    """`text` with each finding replaced by its label."""
    out: list[str] = []
    cursor = 0
    for finding in findings:
        out.append(text[cursor : finding.start])
        out.append(finding.label)
        cursor = finding.end
    out.append(text[cursor:])
    return "".join(out)


class OfflineGuardrail:
    """The `Guardrail` port without a service: listed abuse words are blocked; personal data is masked or
    blocked as `policy` says. A baseline for local runs and a cheap pre-filter, not a content model."""

    def __init__(self, policy: GuardrailPolicy | None = None, words: AbuseWordList | None = None) -> None:
        self.policy = policy or GuardrailPolicy()
        self.words = words if words is not None else shipped_word_list()

    def check(self, text: str, source: GuardrailSource) -> GuardrailVerdict:
        """Assess `text` as model INPUT or OUTPUT; blank text passes."""
        if source not in ("INPUT", "OUTPUT"):
            raise InvalidInput(f"guardrail source must be INPUT or OUTPUT, not {source!r}")
        if not text.strip():
            return GuardrailVerdict.passed()
        abuse = self.words.findings(text)
        findings = find_personal_data(text)
        pii_reasons = list(dict.fromkeys(f"personal data: {finding.kind}" for finding in findings))
        if abuse:
            # The reason names how many words matched, not the words, so logs do not repeat the abuse.
            reasons = [f"abusive language ({len(abuse)} listed word{'s' if len(abuse) > 1 else ''})"]
            return GuardrailVerdict(allowed=False, action="blocked", reasons=[*reasons, *pii_reasons])
        if not findings:
            return GuardrailVerdict.passed()
        if self.policy.pii_action(source) == "block":
            return GuardrailVerdict(allowed=False, action="blocked", reasons=pii_reasons)
        return GuardrailVerdict(
            allowed=True, action="masked", reasons=pii_reasons, masked_text=mask_personal_data(text, findings)
        )
