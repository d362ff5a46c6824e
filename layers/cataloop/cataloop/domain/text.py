"""Text hygiene for everything a seller or a customer writes: one sanitiser, used by listings and feedback.

Stripped from every field: C0/C1 control characters (except newline and tab in multi-line fields), bidi
controls (U+202A-202E, U+2066-2069, U+200E, U+200F, U+061C), zero-width characters (U+200B-200D, U+2060,
U+FEFF, U+180E), Unicode tag characters (U+E0000-E007F, invisible text that some models read), line and
paragraph separators (U+2028/2029, become a space or a newline) and non-characters. None of them carries
meaning a shopper can see; each can hide or reorder text a model reads ("Trojan Source", tag smuggling).

NFKC is applied only to single-line identifying text (names, titles, brands, category names, attribute
names), where full-width and compatibility forms ('Ｎｉｋｅ', 'ﬁ') mean the same as their plain forms; free text
(descriptions, reviews) keeps its characters, since NFKC would change units and symbols ('㎖', '½', '²')
that the extraction reads. Korean (Hangul syllables) is unchanged by NFKC. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata

# Never meaningful in catalog text: controls (\n and \t handled separately), bidi, zero-width, tags, BOM.
_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 (except \t \n \r) and C1 controls
    "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u206a-\u206f\u180e\ufeff"
    "\ufff9-\ufffb\ufffe\uffff"
    "\U000e0000-\U000e007f"  # Unicode tag characters
    "]"
)
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_ANY_SPACE = re.compile(r"\s+")


def has_hidden_characters(text: str) -> bool:
    """True when `text` holds a character `clean_text` strips (control, bidi, zero-width or tag)."""
    return bool(_INVISIBLE.search(text))


def clean_text(text: str, *, multiline: bool = False, nfkc: bool = False) -> str:
    """`text` without control, bidi, zero-width and tag characters, trimmed.

    multiline: keep newlines, tabs and spacing (descriptions, reviews; CR/LF and U+2028/2029 become
    '\\n'); otherwise every whitespace run becomes one space. nfkc: apply NFKC (names and
    titles only, see the module docstring)."""
    cleaned = _LINE_BREAKS.sub("\n", text)
    cleaned = _INVISIBLE.sub("", cleaned)
    if nfkc:
        cleaned = unicodedata.normalize("NFKC", cleaned)
        # NFKC can produce characters the first pass removed only in their compatibility form.
        cleaned = _INVISIBLE.sub("", cleaned)
    if multiline:
        return cleaned.strip()
    return _ANY_SPACE.sub(" ", cleaned).strip()


def clean_name(text: str) -> str:
    """A single-line identifying string (title, brand, category or attribute name): cleaned and NFKC."""
    return clean_text(text, nfkc=True)


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))
