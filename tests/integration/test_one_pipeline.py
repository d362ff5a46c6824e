"""One pipeline: the in-memory composition of the use cases (`services.pipeline`, what `cataloop eval
learning` runs) and the real rule, ASL and handlers on the local cloud make the same decisions and store the
same extractions, learning included, on a fixed sample of OA-Mine products."""

from __future__ import annotations

from pathlib import Path

from cataloop.adapters.memory import InMemoryKnowledgeStore
from cataloop.domain.enrichment.consensus import ConsensusSettings
from cataloop.services.pipeline import EnrichmentPipeline, tree_retriever
from cataloop.settings import Settings
from cataloop_eval.extraction import read_oa_mine
from cataloop_eval.replay import interleave_by_category, replay
from cataloop_local.emulator.cloud import LocalCloud, local_parameters
from tests.conftest import ROOT, TEMPLATE

TRAIN = ROOT / "data" / "oa-mine" / "train.jsonl"
SAMPLE = 24


def test_the_fakes_and_the_local_cloud_decide_and_extract_the_same(tmp_path: Path) -> None:
    records = interleave_by_category(read_oa_mine(TRAIN))[:SAMPLE]
    cloud = LocalCloud(TEMPLATE, state_dir=tmp_path / "state").start()
    try:
        results, _ = replay(cloud, records)
    finally:
        cloud.stop(save=False)
    assert all(result.succeeded for result in results)

    from cataloop.adapters.offline.client import OfflineModelClient

    reference = local_parameters(tmp_path / "unused")["OfflineReferenceSet"]
    store = InMemoryKnowledgeStore()
    defaults = Settings.model_fields
    pipeline = EnrichmentPipeline(
        model=OfflineModelClient(reference_path=reference),
        retrieve=tree_retriever(store, defaults["learning_token_budget"].default),
        knowledge=store,
        consensus=ConsensusSettings(audit_fraction=defaults["audit_sample_rate"].default),
        review_confidence_threshold=defaults["review_confidence_threshold"].default,
    )
    learned = 0
    for record, result in zip(records, results, strict=True):
        run = pipeline.run(record.listing())
        learned += len(run.learnings)
        assert run.decision == result.decision, record.input
        assert {n: v.value for n, v in run.final.items()} == result.predicted, record.input
        assert run.needs_review == result.human_review, record.input
        assert len(run.learnings) == result.learnings_injected, record.input
    assert learned > 0, "the sample should reach products whose prompts carry learnings"
