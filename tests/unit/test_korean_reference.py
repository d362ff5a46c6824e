"""The Korean rows of the supervisor's reference set are generated from the catalog and must stay in sync."""

from __future__ import annotations

import json

from cataloop_eval.korean_catalog import KOREAN_REFERENCE, korean_reference_rows, korean_split


def test_the_committed_reference_file_is_generated_from_the_catalog() -> None:
    committed = [json.loads(line) for line in KOREAN_REFERENCE.read_text(encoding="utf-8").splitlines()]
    assert committed == korean_reference_rows(), (
        "data/korean-mall/reference.jsonl is stale: python -m cataloop_eval.korean_catalog --reference"
    )


def test_the_korean_split_is_disjoint_and_covers_the_catalog() -> None:
    replayed, scored = korean_split()
    replayed_ids = {item.listing.product_id for item in replayed}
    scored_ids = {item.listing.product_id for item in scored}
    assert not replayed_ids & scored_ids
    assert len(replayed_ids | scored_ids) == len(korean_reference_rows())
    assert 0.1 < len(scored) / (len(scored) + len(replayed)) < 0.3
