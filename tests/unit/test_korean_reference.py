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


def test_the_shipped_oa_mine_test_split_never_reaches_the_supervisor() -> None:
    """test.jsonl ships beside train.jsonl for reporting. The split itself repeats 3 titles from train; the
    cross-fitted supervisor never sees their rows, because a title and its copy share a fold."""
    from cataloop.adapters.offline.reference import Reference, reference_paths
    from cataloop.domain.enrichment.normalisation import normalise_text
    from cataloop_eval.extraction import read_oa_mine
    from cataloop_local.emulator.cloud import PROJECT_ROOT, local_parameters

    reference = Reference.load_many(
        reference_paths(local_parameters(PROJECT_ROOT / ".unused")["OfflineReferenceSet"])
    )
    test = read_oa_mine(PROJECT_ROOT / "data" / "oa-mine" / "test.jsonl")
    assert len(test) == 491
    for record in test:
        visible = {normalise_text(row.input) for row in reference.visible(record.input, record.category)}
        assert normalise_text(record.input) not in visible, record.input
