"""The Korean demo catalog (`data/korean-mall/products.jsonl`) as ProductCreated payloads.

Bundles name their components (`child_ids`), and the indexer resolves those names when it indexes the
bundle, so components are listed before the bundles that contain them (bundle groups first, so a small
demo shows some). With a limit, a bundle is kept only together with all its components.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cataloop.adapters.offline.client import OfflineModelClient
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.domain.enrichment.consensus import decide_consensus
from cataloop.domain.enrichment.normalisation import normalise_value
from cataloop.services.enrichment import generate
from cataloop_eval.learning import Labelled
from cataloop_eval.scoring import ScoreBoard

CATALOG = Path(__file__).resolve().parents[1] / "data" / "korean-mall" / "products.jsonl"


def _read(path: Path) -> list[ProductListing]:
    listings = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            listings.append(ProductListing.model_validate(json.loads(line)["product"]))
        except (ValueError, KeyError) as error:
            raise ValueError(
                f"{path}:{number}: not a {{'product': ProductListing}} line ({error})"
            ) from error
    return listings


def _children_first(listings: list[ProductListing]) -> list[ProductListing]:
    """Every bundle right after its components, bundles first, then the other listings in file order."""
    by_id = {listing.product_id: listing for listing in listings}
    ordered: list[ProductListing] = []
    placed: set[str] = set()

    def place(listing: ProductListing, trail: tuple[str, ...]) -> None:
        if listing.product_id in placed:
            return
        if listing.product_id in trail:
            raise ValueError(f"bundle cycle: {' -> '.join([*trail, listing.product_id])}")
        for child in listing.child_ids:
            if child in by_id:
                place(by_id[child], (*trail, listing.product_id))
        placed.add(listing.product_id)
        ordered.append(listing)

    # Bundles with their components first, so even a small demo shows bundle names resolved.
    for listing in sorted(listings, key=lambda item: not item.child_ids):
        place(listing, ())
    return ordered


def korean_listings(limit: int | None = None, path: Path = CATALOG) -> list[dict[str, Any]]:
    """Up to `limit` listings (all when None) as ProductListing JSON, components before their bundles; a
    bundle is included only when all its components are."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be zero or more; got {limit}")
    chosen: list[ProductListing] = []
    taken: set[str] = set()
    for listing in _children_first(_read(path)):
        if limit is not None and len(chosen) >= limit:
            break
        if all(child in taken for child in listing.child_ids):
            chosen.append(listing)
            taken.add(listing.product_id)
    return [listing.model_dump(mode="json", exclude_none=True) for listing in chosen]


# ---------------------------------------------------------------------------- gold records for extraction

# The catalog's gold keys that are attributes of the korean-mall schemas (`family` names the product line).
GOLD_ATTRIBUTES = ("product_type", "net_content", "pack_count", "flavor", "is_food")


def _gold_values(product: dict[str, Any], gold: dict[str, Any]) -> dict[str, list[str]]:
    """One product's gold as {attribute: [surface]} in the form the Korean workers output (see korean_gold)."""
    values: dict[str, list[str]] = {}
    if isinstance(product.get("brand"), str) and product["brand"].strip():
        values["brand"] = [product["brand"].strip()]
    for name in GOLD_ATTRIBUTES:
        raw = gold.get(name)
        if raw is None:
            continue
        if isinstance(raw, bool):
            values[name] = ["true" if raw else "false"]
        elif isinstance(raw, int):
            values[name] = [str(raw)]
        elif isinstance(raw, str) and raw.strip():
            values[name] = [raw.strip()]
    # Keep only what the product's schema has (goods have no net content, non-food no flavor; gold agrees).
    names = set(schema_for(list(product.get("category_path") or [])).names)
    return {name: surfaces for name, surfaces in values.items() if name in names}


def _records(path: Path) -> list[tuple[ProductListing, dict[str, list[str]]]]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            listing = ProductListing.model_validate(row["product"])
            gold = row["gold"]
        except (ValueError, KeyError) as error:
            raise ValueError(f"{path}:{number}: not a {{'product', 'gold'}} line ({error})") from error
        records.append((listing, _gold_values(row["product"], gold)))
    return records


def korean_gold(path: Path = CATALOG) -> dict[str, dict[str, list[str]]]:
    """product_id -> {attribute: [gold surface]} under the korean-mall schemas' attribute names.

    Surfaces are what `cataloop_eval.scoring` compares after `normalise_text`, in the workers' form:
    net_content as written ('65ml', '500mg', '80매'), pack_count as a bare number ('20'), is_food as
    'true'/'false', product_type and flavor as written. brand is the listing's brand field (the catalog's
    authored brand; absent on a bundle of several brands). Null gold values and `family` are left out.
    """
    return {listing.product_id: gold for listing, gold in _records(path)}


def korean_reference_rows(path: Path = CATALOG) -> list[dict[str, Any]]:
    """The catalog as OA-Mine rows {input, category (the category leaf), target_scores}, in file order, for
    the simulated supervisor's reference set (which must hold OTHER products than the one it resolves)."""
    return [
        {
            "input": listing.title,
            "category": listing.category_path[-1] if listing.category_path else "",
            "target_scores": {name: {value: 1.0 for value in values} for name, values in gold.items()},
        }
        for listing, gold in _records(path)
    ]


# The Korean rows of the simulated supervisor's reference set, generated from the catalog (checked by a test).
KOREAN_REFERENCE = CATALOG.parent / "reference.jsonl"


def write_korean_reference(path: Path = KOREAN_REFERENCE) -> None:
    """Write `korean_reference_rows()` as OA-Mine JSONL (`python -m cataloop_eval.korean_catalog --reference`)."""
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in korean_reference_rows()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def korean_split(folds: int = 5) -> tuple[list[Labelled], list[Labelled]]:
    """(replayed, scored): every product whose title hashes to fold 0 of `folds` is scored, the rest are
    replayed with learning on (bundles included; the split is by title, like the supervisor's folds)."""
    replayed: list[Labelled] = []
    scored: list[Labelled] = []
    for listing, gold in _records(CATALOG):
        digest = int(hashlib.sha256(listing.title.encode()).hexdigest(), 16)
        (scored if digest % folds == 0 else replayed).append(Labelled(listing, gold))
    return replayed, scored


def korean_eval_listings(path: Path = CATALOG) -> list[tuple[ProductListing, dict[str, list[str]]]]:
    """(listing, gold) pairs in file order; the gold as in `korean_gold`. Workers get only the listing."""
    return _records(path)


def korean_strategy_report(path: Path = CATALOG) -> dict[str, Any]:
    """Both offline Korean worker strategies over the catalog with NO learnings, scored against
    `korean_gold` (micro and per attribute), and how often they disagree per product.

    `disagreement.any_attribute`: products where some schema attribute differs after `normalise_value`
    (one worker with a value and the other without counts). `disagreement.consensus`: products that
    consensus (no evaluator, default settings) sends to the supervisor.
    """
    model = OfflineModelClient()
    boards = {"A": ScoreBoard(), "B": ScoreBoard()}
    differing: dict[str, int] = {}
    any_attribute = consensus = 0
    records = _records(path)
    for listing, gold in records:
        schema = schema_for(listing.category_path)
        runs = {
            "A": generate("generator", listing, [], schema, model).extraction,
            "B": generate("generator_b", listing, [], schema, model).extraction,
        }
        for strategy, extraction in runs.items():
            predicted = {name: value.value for name, value in extraction.attributes.items()}
            boards[strategy].add(predicted, gold)
        differs = False
        for spec in schema.attributes:
            read = [runs[s].attributes.get(spec.name) for s in ("A", "B")]
            norm = [normalise_value(v.value, spec.kind) if v else None for v in read]
            if norm[0] != norm[1]:
                differs = True
                differing[spec.name] = differing.get(spec.name, 0) + 1
        any_attribute += differs
        decision = decide_consensus(listing.product_id, schema, [runs["A"], runs["B"]])
        consensus += decision.decision == "DISAGREE"
    count = len(records) or 1

    def scores(board: ScoreBoard) -> dict[str, Any]:
        micro = board.micro()
        return {
            "micro": {"precision": micro.precision, "recall": micro.recall, "f1": micro.f1},
            "per_attribute": {
                name: {"precision": s.precision, "recall": s.recall, "f1": s.f1, **s.counts.model_dump()}
                for name, s in board.per_attribute().items()
            },
        }

    return {
        "products": len(records),
        "A": scores(boards["A"]),
        "B": scores(boards["B"]),
        "disagreement": {
            "any_attribute": any_attribute / count,
            "consensus": consensus / count,
            "by_attribute": {name: n / count for name, n in sorted(differing.items())},
        },
    }


if __name__ == "__main__":
    import sys

    if "--reference" in sys.argv:
        write_korean_reference()
        print(f"wrote {KOREAN_REFERENCE}")
    else:
        print(json.dumps(korean_strategy_report(), ensure_ascii=False, indent=1))
