"""The Korean demo catalog (`data/korean-mall/products.jsonl`) as ProductCreated payloads.

Bundles name their components (`child_ids`), and the indexer resolves those names when it indexes the
bundle, so components are listed before the bundles that contain them (bundle groups first, so a small
demo shows some). With a limit, a bundle is kept only together with all its components.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cataloop.domain.catalog.listing import ProductListing

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
