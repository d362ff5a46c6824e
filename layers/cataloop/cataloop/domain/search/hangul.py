"""Hangul text forms used by search: jamo, chosung (initial consonants) and the 2-set (dubeolsik) keyboard.

Everything here works on Unicode Hangul syllables (U+AC00..U+D7A3) and Hangul *compatibility* jamo
(U+3131..U+3163), which is what keyboards and users type ("ㅇㅋㄹㅌ"). Characters outside those ranges are
passed through unchanged by every function.
"""

from __future__ import annotations

_SYLLABLE_BASE = 0xAC00
_SYLLABLE_LAST = 0xD7A3
_VOWEL_COUNT = 21
_FINAL_COUNT = 28  # 27 finals + "no final"

INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
VOWELS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
FINALS = "ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"  # index 0 of a syllable means "none"

_INITIAL_INDEX = {jamo: i for i, jamo in enumerate(INITIALS)}
_VOWEL_INDEX = {jamo: i for i, jamo in enumerate(VOWELS)}
_FINAL_INDEX = {jamo: i + 1 for i, jamo in enumerate(FINALS)}

# Compound jamo are typed as two keys on a 2-set keyboard; double consonants (ㄲ ㄸ ㅃ ㅆ ㅉ) are one
# shifted key, so they are not listed here.
_COMPOUND_VOWELS = {
    "ㅘ": "ㅗㅏ",
    "ㅙ": "ㅗㅐ",
    "ㅚ": "ㅗㅣ",
    "ㅝ": "ㅜㅓ",
    "ㅞ": "ㅜㅔ",
    "ㅟ": "ㅜㅣ",
    "ㅢ": "ㅡㅣ",
}
_COMPOUND_FINALS = {
    "ㄳ": "ㄱㅅ",
    "ㄵ": "ㄴㅈ",
    "ㄶ": "ㄴㅎ",
    "ㄺ": "ㄹㄱ",
    "ㄻ": "ㄹㅁ",
    "ㄼ": "ㄹㅂ",
    "ㄽ": "ㄹㅅ",
    "ㄾ": "ㄹㅌ",
    "ㄿ": "ㄹㅍ",
    "ㅀ": "ㄹㅎ",
    "ㅄ": "ㅂㅅ",
}
_SPLIT_JAMO = {**_COMPOUND_VOWELS, **_COMPOUND_FINALS}
_JOIN_VOWELS = {pair: compound for compound, pair in _COMPOUND_VOWELS.items()}
_JOIN_FINALS = {pair: compound for compound, pair in _COMPOUND_FINALS.items()}

# Standard KS X 5002 2-set layout. Shift only changes ㅂㅈㄷㄱㅅㅐㅔ; other capitals type the same jamo as
# their lowercase key (what every IME does with Shift or Caps Lock on).
_KEY_TO_JAMO = {
    "q": "ㅂ", "w": "ㅈ", "e": "ㄷ", "r": "ㄱ", "t": "ㅅ", "y": "ㅛ", "u": "ㅕ", "i": "ㅑ", "o": "ㅐ", "p": "ㅔ",
    "a": "ㅁ", "s": "ㄴ", "d": "ㅇ", "f": "ㄹ", "g": "ㅎ", "h": "ㅗ", "j": "ㅓ", "k": "ㅏ", "l": "ㅣ",
    "z": "ㅋ", "x": "ㅌ", "c": "ㅊ", "v": "ㅍ", "b": "ㅠ", "n": "ㅜ", "m": "ㅡ",
    "Q": "ㅃ", "W": "ㅉ", "E": "ㄸ", "R": "ㄲ", "T": "ㅆ", "O": "ㅒ", "P": "ㅖ",
}  # fmt: skip
for _key in "abcdefghijklmnopqrstuvwxyz":
    _KEY_TO_JAMO.setdefault(_key.upper(), _KEY_TO_JAMO[_key])
_JAMO_TO_KEY = {jamo: key for key, jamo in _KEY_TO_JAMO.items() if key.islower() or key in "QWERTOP"}

_CHOSUNG_SET = frozenset(INITIALS)


def is_syllable(char: str) -> bool:
    """True for a precomposed Hangul syllable (가..힣)."""
    return len(char) == 1 and _SYLLABLE_BASE <= ord(char) <= _SYLLABLE_LAST


def _split_syllable(char: str) -> tuple[str, str, str]:
    offset = ord(char) - _SYLLABLE_BASE
    initial, rest = divmod(offset, _VOWEL_COUNT * _FINAL_COUNT)
    vowel, final = divmod(rest, _FINAL_COUNT)
    return INITIALS[initial], VOWELS[vowel], FINALS[final - 1] if final else ""


def _join_syllable(initial: str, vowel: str, final: str = "") -> str:
    code = (_INITIAL_INDEX[initial] * _VOWEL_COUNT + _VOWEL_INDEX[vowel]) * _FINAL_COUNT
    return chr(_SYLLABLE_BASE + code + (_FINAL_INDEX[final] if final else 0))


def decompose(text: str) -> str:
    """Syllables (and compound jamo) to compatibility jamo in typing order: "과" -> "ㄱㅗㅏ", "닭" -> "ㄷㅏㄹㄱ"."""
    out: list[str] = []
    for char in text:
        if is_syllable(char):
            for jamo in _split_syllable(char):
                out.append(_SPLIT_JAMO.get(jamo, jamo))
        else:
            out.append(_SPLIT_JAMO.get(char, char))
    return "".join(out)


class _SyllableAutomaton:
    """The 2-set IME state machine: assembles a syllable, migrating a final consonant to the next syllable
    when a vowel follows ("ㅇㅏㄴㄴㅕㅇ" -> "안녕", "ㄷㅏㄹㄱㅏ" -> "달가")."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.initial = ""
        self.vowel = ""
        self.final = ""

    def flush(self) -> None:
        if self.initial and self.vowel:
            self.out.append(_join_syllable(self.initial, self.vowel, self.final))
        else:
            # A lone consonant or vowel stays a lone compatibility jamo.
            self.out.append(self.initial + self.vowel)
        self.initial = self.vowel = self.final = ""

    def consonant(self, jamo: str) -> None:
        if self.initial and self.vowel:
            if not self.final:
                if jamo in _FINAL_INDEX:
                    self.final = jamo
                    return
            elif (self.final + jamo) in _JOIN_FINALS:
                self.final = _JOIN_FINALS[self.final + jamo]
                return
        self.flush()
        self.initial = jamo

    def vowel_key(self, jamo: str) -> None:
        if self.final:
            carried = self.final
            if carried in _COMPOUND_FINALS:
                self.final, carried = _COMPOUND_FINALS[carried][0], _COMPOUND_FINALS[carried][1]
            else:
                self.final = ""
            self.flush()
            self.initial, self.vowel = carried, jamo
        elif self.vowel and (self.vowel + jamo) in _JOIN_VOWELS:
            self.vowel = _JOIN_VOWELS[self.vowel + jamo]
        else:
            if self.vowel:
                self.flush()
            self.vowel = jamo

    def other(self, char: str) -> None:
        self.flush()
        self.out.append(char)

    def result(self) -> str:
        self.flush()
        return "".join(self.out)


def compose(jamo: str) -> str:
    """Assemble compatibility jamo into syllables like a 2-set IME; anything else passes through and ends
    the syllable being built. Inverse of `decompose` on syllable strings."""
    automaton = _SyllableAutomaton()
    # Compound jamo given whole (ㅘ, ㄺ) are re-typed as their two keys so the automaton sees keystrokes.
    for char in decompose(jamo):
        if char in _VOWEL_INDEX:
            automaton.vowel_key(char)
        elif char in _INITIAL_INDEX:
            automaton.consonant(char)
        else:
            automaton.other(char)
    return automaton.result()


def to_chosung(text: str) -> str:
    """Each syllable to its initial consonant ("야쿠르트 에이스" -> "ㅇㅋㄹㅌ ㅇㅇㅅ"); other characters are kept.
    Whitespace runs become one space and the ends are stripped, so word boundaries survive for the caller."""
    chars = [_split_syllable(char)[0] if is_syllable(char) else char for char in text]
    return " ".join("".join(chars).split())


def is_chosung_query(text: str) -> bool:
    """True when `text` has at least one initial consonant and nothing but initial consonants and spaces."""
    stripped = "".join(text.split())
    return bool(stripped) and all(char in _CHOSUNG_SET for char in stripped)


def hangul_to_qwerty(text: str) -> str:
    """Hangul as typed on a QWERTY keyboard in 2-set layout ("안녕" -> "dkssud", "빨" -> "Qkf")."""
    return "".join(_JAMO_TO_KEY.get(char, char) for char in decompose(text))


def _convert_latin_runs(text: str) -> tuple[str, bool]:
    """Convert each run of layout letters; report whether every run composed into whole syllables."""
    out: list[str] = []
    run: list[str] = []
    well_formed = True

    def close_run() -> None:
        nonlocal well_formed
        if run:
            composed = compose("".join(run))
            well_formed = well_formed and all(is_syllable(char) for char in composed)
            out.append(composed)
            run.clear()

    for char in text:
        jamo = _KEY_TO_JAMO.get(char)
        if jamo is None:
            close_run()
            out.append(char)
        else:
            run.append(jamo)
    close_run()
    return "".join(out), well_formed


def qwerty_to_hangul(text: str) -> str:
    """Latin letters read as 2-set keystrokes ("dirnfmxm" -> "야쿠르트"); everything else, including existing
    Hangul, is untouched and separates the runs that get composed."""
    return _convert_latin_runs(text)[0]


def looks_like_mistyped_korean(text: str) -> bool:
    """True when `text` has Latin letters and every letter run converts to whole syllables (no lone jamo),
    e.g. "dkssud"; a hint only: the caller should check the converted word against its vocabulary."""
    if not any(char in _KEY_TO_JAMO for char in text):
        return False
    return _convert_latin_runs(text)[1]
