"""Build `derived.jsonl`: graded English search queries derived from the OA-Mine train gold attributes.

Each query is a product's gold Brand plus one of its gold "type" values (roast, flavour, shoe type, SPF …,
by category). Grades are derived from gold values of train.jsonl only, never from a human judge:
3 = same category, same brand, same type value (case-insensitive);
2 = same category and brand, type value overlapping (one contains the other: "Medium Roast" / "Medium Roast
    Coffee");
1 = same category and brand, another or no type value.
Deterministic: the same train.jsonl always gives byte-identical output.

Run: `.venv/bin/python data/oa-mine-queries/build_queries.py [--check]`
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cataloop_eval.extraction import OaMineRecord, read_oa_mine

HERE = Path(__file__).resolve().parent
TRAIN = HERE.parent / "oa-mine" / "train.jsonl"
OUTPUT = HERE / "derived.jsonl"
QUERIES_PER_CATEGORY = 10

# The attribute that says what kind of product it is, in order of preference, per OA-Mine category.
TYPE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Breakfast Cereal": ("Flavor", "Specialty"),
    "Coffee": ("Roast type", "Flavor", "Item form"),
    "Conditioner": ("Scent", "Benefit", "Item form"),
    "Laundry Detergent": ("Scent", "Item form"),
    "Safety Mask": ("Mask type", "Color"),
    "Shoes": ("Shoe type", "Model name"),
    "Sunscreen": ("Protection level", "Item form"),
    "Tea": ("Tea variety", "Flavor"),
    "Toothbrush": ("Operation mode", "Specialty"),
    "Vitamin": ("Supplement type", "Item form"),
}


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _first(record: OaMineRecord, attribute: str) -> str | None:
    values = record.gold.get(attribute) or []
    return values[0] if values else None


def _type_value(record: OaMineRecord) -> tuple[str, str] | None:
    for attribute in TYPE_ATTRIBUTES.get(record.category, ()):
        value = _first(record, attribute)
        if value:
            return attribute, value
    return None


def _grade(record: OaMineRecord, category: str, brand: str, attribute: str, value: str) -> int:
    if record.category != category or not any(_fold(b) == brand for b in record.gold.get("Brand", [])):
        return 0
    values = [_fold(v) for v in record.gold.get(attribute, [])]
    if value in values:
        return 3
    if any(value in other or other in value for other in values):
        return 2
    return 1


def build_queries(records: Sequence[OaMineRecord]) -> list[dict[str, object]]:
    """Up to QUERIES_PER_CATEGORY queries per category, one per brand, those with the most grade-3
    products first (ties by brand and value), each with its graded product ids."""
    candidates: dict[tuple[str, str, str, str], tuple[str, str]] = {}
    for record in records:
        brand, typed = _first(record, "Brand"), _type_value(record)
        if brand is None or typed is None:
            continue
        attribute, value = typed
        if _fold(value) in _fold(brand) or _fold(brand) in _fold(value):
            continue  # "Folgers" + "Folgers Classic" would be a brand-only query
        key = (record.category, _fold(brand), attribute, _fold(value))
        candidates.setdefault(key, (brand, value))
    scored = []
    for (category, brand, attribute, value), (shown_brand, shown_value) in candidates.items():
        relevant: dict[str, int] = {}
        for record in records:
            grade = _grade(record, category, brand, attribute, value)
            if grade:
                product_id = record.listing().product_id
                relevant[product_id] = max(grade, relevant.get(product_id, 0))
        exact = sum(1 for grade in relevant.values() if grade == 3)
        scored.append((category, -exact, brand, value, attribute, shown_brand, shown_value, relevant))
    scored.sort(key=lambda row: (row[0], row[1], row[2], row[3], row[4]))
    queries: list[dict[str, object]] = []
    taken: dict[str, set[str]] = {}
    for category, _, brand, _, attribute, shown_brand, shown_value, relevant in scored:
        brands = taken.setdefault(category, set())
        if len(brands) >= QUERIES_PER_CATEGORY or brand in brands:
            continue
        brands.add(brand)
        queries.append(
            {
                "qid": f"oa{len(queries) + 1:03d}",
                "query": f"{shown_brand} {shown_value}",
                "kind": "brand_type",
                "category": category,
                "derived_from": {"Brand": shown_brand, attribute: shown_value},
                "relevant": dict(sorted(relevant.items(), key=lambda item: (-item[1], item[0]))),
            }
        )
    return queries


def render(queries: Sequence[dict[str, object]]) -> str:
    return "".join(json.dumps(query, ensure_ascii=False) + "\n" for query in queries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if derived.jsonl is out of date")
    args = parser.parse_args(argv)
    text = render(build_queries(read_oa_mine(TRAIN)))
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date; run {Path(__file__).name} without --check", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} queries to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
