"""Normalisation of attribute values so that two workers' surface strings can be compared.

Rules (kept here, in one place, because consensus, scoring and the offline baseline all depend on them):

- Text: Unicode NFKC, case-folded, whitespace collapsed, trimmed. Idempotent.
- Numbers: "1,234.5" -> 1234.5. A comma followed by exactly three digits is a thousands separator; any other
  comma between digits is a decimal comma ("1,5 L" -> 1.5).
- Quantities are converted to one base unit per dimension: volume -> L, mass -> g, count -> count.
  "oz" alone is the mass ounce (28.349523125 g); "fl oz" / "fluid ounce" is the US fluid ounce
  (0.0295735295625 L). 150 ml therefore normalises to "0.15 L".
- Pack counts: "N count", "N ct", "N pcs", the Korean counters "N개", "N개입", "N입", "N매", "N정", "N포",
  "N캡슐", "N롤", "N봉", "N병", "N장", "N알", "N켤레" and a multiplier "x N" / "× N" give the number of
  *units*; "Pack of N", "N-pack", "N pack", "N pk", "N팩" give the number of *packages*. The normalised
  pack count is the total number of units = units x packages, each defaulting to 1, so
  "20 Count (Pack of 2)" -> 40, "20개입" -> 20 and "Pack of 6" -> 6.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict

Dimension = Literal["volume", "mass", "count"]

_SPACE = re.compile(r"\s+")

# Surface unit (lower-case, dots removed, inner spaces collapsed) -> (dimension, base unit, factor to base).
_UNITS: dict[str, tuple[Dimension, str, Decimal]] = {}


def _register(names: tuple[str, ...], dimension: Dimension, base: str, factor: str) -> None:
    for name in names:
        _UNITS[name] = (dimension, base, Decimal(factor))


# Korean counters beyond 개/개입/입/매/정: sachets, capsules, rolls, bags, bottles, sheets, pills, pairs.
_KOREAN_COUNTERS = ("포", "캡슐", "롤", "봉", "병", "장", "알", "켤레")

_register(
    ("ml", "milliliter", "milliliters", "millilitre", "millilitres", "밀리리터"), "volume", "L", "0.001"
)
_register(("cl", "centiliter", "centiliters"), "volume", "L", "0.01")
_register(("l", "liter", "liters", "litre", "litres", "리터"), "volume", "L", "1")
_register(
    ("fl oz", "floz", "fluid ounce", "fluid ounces", "fluid oz", "fl ounce", "fl ounces"),
    "volume",
    "L",
    "0.0295735295625",
)
_register(("gallon", "gallons", "gal"), "volume", "L", "3.785411784")
_register(("mg", "milligram", "milligrams"), "mass", "g", "0.001")
_register(("mcg", "µg", "microgram", "micrograms"), "mass", "g", "0.000001")
_register(("g", "gr", "gram", "grams", "gramm", "그램"), "mass", "g", "1")
_register(("kg", "kilogram", "kilograms", "킬로그램"), "mass", "g", "1000")
_register(("oz", "ounce", "ounces"), "mass", "g", "28.349523125")
_register(("lb", "lbs", "pound", "pounds"), "mass", "g", "453.59237")
_register(
    ("count", "counts", "ct", "cts", "pc", "pcs", "piece", "pieces", "개", "개입", "입", "매", "정"),
    "count",
    "count",
    "1",
)
_register(_KOREAN_COUNTERS, "count", "count", "1")

_UNIT_ALTERNATION = "|".join(
    sorted((re.escape(u).replace(r"\ ", r"\.?\s*") for u in _UNITS), key=len, reverse=True)
)
_NUMBER = r"\d+(?:[.,]\d+)*"
_QUANTITY = re.compile(
    rf"(?P<number>{_NUMBER})\s*-?\s*(?P<unit>{_UNIT_ALTERNATION})\.?(?![A-Za-z가-힣])", re.IGNORECASE
)

_UNITS_PER_PACK = re.compile(
    rf"(?P<n>{_NUMBER})\s*-?\s*(?:count|counts|ct|cts|pcs|pc|pieces|개입|개|입|매)\.?(?![A-Za-z])"
    rf"|(?P<k>{_NUMBER})\s*(?:{'|'.join(('정', *_KOREAN_COUNTERS))})(?![A-Za-z가-힣])"
    rf"|[x×]\s*(?P<m>{_NUMBER})(?![\d.])",
    re.IGNORECASE,
)
_PACKAGES = re.compile(
    rf"pack\s+of\s+(?P<a>{_NUMBER})|(?P<b>{_NUMBER})\s*-?\s*(?:packs?|pk|팩|박스|box(?:es)?)(?![A-Za-z])",
    re.IGNORECASE,
)


class Quantity(BaseModel):
    """An amount in the base unit of its dimension (L, g or count)."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    unit: Literal["L", "g", "count"]
    dimension: Dimension

    def canonical(self) -> str:
        """Stable string for equality: '0.15 L', '340 g', '20 count'."""
        return f"{format_decimal(self.amount)} {self.unit}"


class PackCount(BaseModel):
    """Units per package and number of packages, as read from the text (None when not stated)."""

    model_config = ConfigDict(frozen=True)

    units: int | None = None
    packages: int | None = None

    @property
    def total(self) -> int:
        return (self.units or 1) * (self.packages or 1)


def normalise_text(value: str) -> str:
    """NFKC, case-fold, collapse whitespace. Idempotent: normalise_text(normalise_text(x)) == normalise_text(x)."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    # casefold can produce characters NFKC would rewrite again (e.g. 'ǰ'); a second pass makes it a fixpoint.
    folded = unicodedata.normalize("NFKC", folded).casefold()
    return _SPACE.sub(" ", folded).strip()


def parse_number(text: str) -> Decimal:
    """Parse '1,234.5', '1,5' or '20' into a Decimal; raises ValueError with the offending text otherwise."""
    cleaned = text.strip()
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", cleaned):
        cleaned = cleaned.replace(",", "")
    elif re.fullmatch(r"\d+,\d+", cleaned):
        cleaned = cleaned.replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}; expected digits such as '20', '1,234' or '1.5'") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return number


def format_decimal(value: Decimal) -> str:
    """Plain decimal notation without trailing zeros ('0.15', '20'), never exponent form."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _unit_key(surface: str) -> str:
    return _SPACE.sub(" ", surface.lower().replace(".", " ")).strip()


def unit_info(surface: str) -> tuple[Dimension, str, Decimal] | None:
    """(dimension, base unit, factor) for a surface unit such as 'Fl. Oz' or 'ml'; None if unknown."""
    key = _unit_key(surface)
    return _UNITS.get(key) or _UNITS.get(key.replace(" ", ""))


def parse_quantity(text: str) -> Quantity | None:
    """The first 'number unit' in `text` converted to its base unit, or None when there is none."""
    for match in _QUANTITY.finditer(text):
        info = unit_info(match.group("unit"))
        if info is None:
            continue
        dimension, base, factor = info
        try:
            number = parse_number(match.group("number"))
        except ValueError:
            continue
        try:
            amount = (number * factor).quantize(Decimal("0.000001")).normalize()
        except InvalidOperation:
            continue
        return Quantity(amount=amount, unit=base, dimension=dimension)
    return None


def convert(quantity: Quantity, unit: str) -> Decimal:
    """Express `quantity` in another unit of the same dimension (e.g. L -> ml); ValueError across dimensions."""
    info = unit_info(unit)
    if info is None:
        raise ValueError(f"unknown unit {unit!r}; use one of ml, L, g, kg, mg, oz, fl oz, lb, count")
    dimension, _base, factor = info
    if dimension != quantity.dimension:
        raise ValueError(f"cannot convert {quantity.dimension} to {dimension} ({unit!r})")
    return quantity.amount / factor


def parse_pack_count(text: str) -> PackCount | None:
    """Units and packages stated in `text` (see the module docstring for the rule); None if neither is."""
    units: int | None = None
    packages: int | None = None
    for match in _UNITS_PER_PACK.finditer(text):
        raw = match.group("n") or match.group("k") or match.group("m")
        try:
            number = parse_number(raw)
        except ValueError:
            continue
        if number == number.to_integral_value() and number > 0:
            units = int(number)
            break
    for match in _PACKAGES.finditer(text):
        raw = match.group("a") or match.group("b")
        try:
            number = parse_number(raw)
        except ValueError:
            continue
        if number == number.to_integral_value() and number > 0:
            packages = int(number)
            break
    if units is None and packages is None:
        if re.search(r"\btwin\s*pack\b", text, re.IGNORECASE):
            return PackCount(packages=2)
        return None
    return PackCount(units=units, packages=packages)


def normalise_value(value: str, kind: str) -> str:
    """Canonical form of an attribute value for comparison, by attribute kind.

    quantity -> '0.15 L' (falls back to text), count -> '40 count', boolean -> 'true'/'false', text -> casefolded.
    """
    if kind == "quantity":
        quantity = parse_quantity(value)
        if quantity is not None:
            return quantity.canonical()
        pack = parse_pack_count(value)
        if pack is not None:
            return f"{pack.total} count"
    elif kind == "count":
        pack = parse_pack_count(value)
        if pack is not None:
            return f"{pack.total} count"
        bare = value.strip()
        if re.fullmatch(r"\d+", bare):
            return f"{int(bare)} count"
    elif kind == "boolean":
        text = normalise_text(value)
        if text in {"true", "yes", "y", "1", "예", "네"}:
            return "true"
        if text in {"false", "no", "n", "0", "아니오"}:
            return "false"
    return normalise_text(value)


_TOKEN = re.compile(r"[\w가-힣]+(?:'[\w]+)?", re.UNICODE)


def tokens(value: str) -> list[str]:
    """Normalised word tokens (letters, digits, Hangul), used by token-overlap agreement and similarity."""
    return _TOKEN.findall(normalise_text(value))


def token_overlap(a: str, b: str) -> float:
    """Jaccard overlap of the two values' token sets; 1.0 when both are empty."""
    left, right = set(tokens(a)), set(tokens(b))
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)
