"""Check the graded query set against the catalog and print how many queries each kind has.

Run `python data/korean-mall/check_queries.py` (exit 1 on any problem, such as a graded id that is not in
products.jsonl) or `--show q012` to print one query's graded products with their titles for review.
Standard library only, so it runs before the project is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).parent
KINDS = (
    "exact",
    "chosung",
    "keyboard",
    "synonym",
    "typo",
    "natural",
    "sort",
    "food",
    "goods",
    "bundle",
    "brand",
    "nomatch",
    "value",
    "bulk",
    "spacing",
    "chosung_compound",
    "bundle_component",
    "set",
)
NO_RESULT_KINDS = {"nomatch"}  # the only kind whose `relevant` must be {}: the mall sells nothing that fits
SORTS = (None, "price_asc", "rating_desc", "popularity_desc", "newest", "value", "bulk")
FIELDS = {"qid", "query", "kind", "relevant", "sort", "food_intent", "note"}
GRADES = {1, 2, 3}


def load_jsonl(path: Path) -> list[dict]:
    """Parse a JSON Lines file; a line that is not a JSON object raises ValueError naming the line."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"{path.name}:{number}: expected a JSON object")
        records.append(record)
    return records


def query_problems(queries: list[dict], product_ids: set[str]) -> list[str]:
    """Every problem in the query set, each phrased as what to fix; empty when the set is consistent."""
    problems: list[str] = []
    seen: set[str] = set()
    for position, query in enumerate(queries, start=1):
        qid = query.get("qid", f"line {position}")
        where = f"{qid}"
        missing, extra = FIELDS - query.keys(), query.keys() - FIELDS
        if missing or extra:
            problems.append(
                f"{where}: fields must be exactly {sorted(FIELDS)} (missing {sorted(missing)}, extra {sorted(extra)})"
            )
        if not isinstance(qid, str) or not re.fullmatch(r"q\d{3,}", qid):
            problems.append(f"{where}: qid must look like q001")
        elif qid in seen:
            problems.append(f"{where}: qid is used twice; give each query its own qid")
        seen.add(str(qid))
        if not isinstance(query.get("query"), str) or not query["query"].strip():
            problems.append(f"{where}: query must be non-empty text")
        if query.get("kind") not in KINDS:
            problems.append(f"{where}: kind {query.get('kind')!r} is not one of {', '.join(KINDS)}")
        if query.get("sort") not in SORTS:
            problems.append(f"{where}: sort {query.get('sort')!r} must be null or one of {SORTS[1:]}")
        if query.get("food_intent") not in (True, False, None):
            problems.append(f"{where}: food_intent must be true, false or null")
        if not isinstance(query.get("note"), str) or not query["note"].strip():
            problems.append(f"{where}: note must say why the grades are what they are")
        relevant = query.get("relevant")
        if query.get("kind") in NO_RESULT_KINDS:
            if relevant != {}:
                problems.append(
                    f"{where}: a {query.get('kind')} query must have relevant {{}} (nothing fits)"
                )
            continue
        if not isinstance(relevant, dict) or not relevant:
            problems.append(f"{where}: relevant must map at least one product id to a grade")
            continue
        for product_id, grade in relevant.items():
            if product_id not in product_ids:
                problems.append(f"{where}: {product_id} is not in products.jsonl (dangling id)")
            if isinstance(grade, bool) or grade not in GRADES:
                problems.append(f"{where}: grade for {product_id} must be 1, 2 or 3, not {grade!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=Path, default=HERE / "products.jsonl")
    parser.add_argument("--queries", type=Path, default=HERE / "queries.jsonl")
    parser.add_argument("--show", metavar="QID", help="print one query's graded products with titles")
    args = parser.parse_args(argv)
    try:
        products = {record["product"]["product_id"]: record for record in load_jsonl(args.products)}
        queries = load_jsonl(args.queries)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cannot read the data: {exc}", file=sys.stderr)
        return 1

    if args.show:
        chosen = [query for query in queries if query.get("qid") == args.show]
        if not chosen:
            print(f"no query {args.show} in {args.queries.name}", file=sys.stderr)
            return 1
        query = chosen[0]
        print(
            f"{query['qid']} [{query['kind']}] {query['query']!r} sort={query['sort']} food={query['food_intent']}"
        )
        print(f"  {query['note']}")
        for product_id, grade in query["relevant"].items():
            title = products.get(product_id, {}).get("product", {}).get("title", "<missing>")
            print(f"  {grade}  {product_id}  {title}")
        return 0

    problems = query_problems(queries, set(products))
    kinds = Counter(query.get("kind") for query in queries)
    for kind in KINDS:
        print(f"{kind:<17} {kinds.get(kind, 0):>3}")
    graded = sum(len(query.get("relevant") or {}) for query in queries)
    print(f"{'total':<17} {len(queries):>3} queries, {graded} graded pairs over {len(products)} products")
    for problem in problems:
        print(f"ERROR {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
