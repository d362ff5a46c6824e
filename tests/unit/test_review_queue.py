"""The human-review queue as a reviewer works it: one waiting product with its candidates
(`review_decisions.review_detail`), decisions only on a product that still waits (`waiting_only`), the
reviewer's reason in the feedback history, and `cataloop review show` (in-memory fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from cataloop.adapters.memory import InMemoryKnowledgeStore, InMemoryProductStore
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.domain.enrichment.extraction import AttributeValue
from cataloop.domain.knowledge.tree import DeploymentMode
from cataloop.errors import Conflict, InvalidInput, NotFound
from cataloop.services.review_decisions import apply_review_decision, review_detail, waiting_for_review
from cataloop_local.cli.main import build_parser
from cataloop_local.cli.review import format_detail

LISTING = ProductListing(
    product_id="cof-2", title="Starbucks Coffee, Ground, Mocha, 11 Oz (Pack of 3)", category_path=["Coffee"]
)


def _worker(role: str, values: dict[str, str]) -> dict[str, Any]:
    return {
        "role": role,
        "model_id": f"{role}-model",
        "extraction": {
            "attributes": {name: {"value": value, "confidence": 0.6} for name, value in values.items()}
        },
        "dropped": [],
    }


PROVENANCE: dict[str, Any] = {
    "decision": "DISAGREE",
    "disagreed_attributes": ["Item form", "Flavor"],
    "consensus_reasons": ["Item form: Coffee vs Ground"],
    "workers": [
        _worker("generator", {"Brand": "Starbucks", "Item form": "Coffee", "Flavor": "Mocha"}),
        _worker("generator_b", {"Brand": "Starbucks", "Item form": "Ground"}),
    ],
    "evaluator": {
        "model_id": "evaluator-model",
        "verdicts": [
            {
                "attribute": "Item form",
                "verdict": "ambiguous",
                "reason": "both read",
                "suggested_value": "Ground",
            },
            {"attribute": "Brand", "verdict": "ok", "reason": "in the title"},
        ],
    },
    "supervisor": {
        "model_id": "supervisor-model",
        "unresolved": ["Flavor"],
        "confidence": 0.4,
        "reason": "the flavor may be a blend",
        "needs_review": True,
    },
}


def _stored(
    products: InMemoryProductStore,
    status: ProductStatus = ProductStatus.NEEDS_REVIEW,
    provenance: dict[str, Any] | None = None,
) -> StoredProduct:
    stored, _ = products.create_pending(LISTING, "e-0", "2026-11-26T00:00:00.000+00:00")
    values = {"Brand": "Starbucks", "Item form": "Coffee", "Pack size": "Pack of 3"}
    attributes = {
        name: AttributeValue(value=v, confidence=0.7).model_dump(mode="json") for name, v in values.items()
    }
    return products.put_version(
        stored.model_copy(
            update={
                "status": status,
                "enrichment": {"attributes": attributes},
                "provenance": PROVENANCE if provenance is None else provenance,
            }
        )
    )


def test_review_detail_shows_each_attribute_under_review_with_its_candidates() -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    _stored(products)
    detail = review_detail(products, knowledge, "cof-2")
    assert detail.item.product_id == "cof-2" and detail.decision == "DISAGREE"
    assert detail.supervisor is not None and detail.supervisor["reason"] == "the flavor may be a blend"
    assert [a.name for a in detail.attributes] == ["Flavor", "Item form"]  # unresolved first, then disputed
    flavor, form = detail.attributes
    assert flavor.unresolved and flavor.disputed and flavor.proposal is None
    assert [(c.value, c.sources) for c in flavor.candidates] == [("Mocha", ["generator"])]
    assert [(w.role, w.value) for w in flavor.workers] == [("generator", "Mocha"), ("generator_b", None)]
    assert not form.unresolved and form.disputed
    assert (form.proposal, form.proposal_confidence) == ("Coffee", 0.7)
    assert (form.verdict, form.verdict_reason, form.suggested_value) == ("ambiguous", "both read", "Ground")
    assert [(c.value, c.sources) for c in form.candidates] == [
        ("Coffee", ["generator", "supervisor"]),
        ("Ground", ["generator_b", "evaluator"]),
    ]
    assert {"Brand", "Item form", "Flavor", "Pack size"} <= set(detail.schema_attributes)


def test_review_detail_without_named_attributes_shows_every_attribute_read() -> None:
    products = InMemoryProductStore()
    provenance = {**PROVENANCE, "disagreed_attributes": [], "supervisor": {**PROVENANCE["supervisor"]}}
    provenance["supervisor"]["unresolved"] = []
    _stored(products, provenance=provenance)
    detail = review_detail(products, None, "cof-2")
    assert [a.name for a in detail.attributes] == ["Brand", "Flavor", "Item form", "Pack size"]


def test_review_detail_of_an_unknown_or_decided_product_is_refused() -> None:
    products = InMemoryProductStore()
    with pytest.raises(NotFound, match="nope is not in the catalog"):
        review_detail(products, None, "nope")
    _stored(products, ProductStatus.ENRICHED)
    with pytest.raises(Conflict, match="no longer waits for review: it is ENRICHED"):
        review_detail(products, None, "cof-2")


def test_a_queue_decision_keeps_the_reason_and_a_second_one_finds_nothing_waiting() -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    before = _stored(products)
    result = apply_review_decision(
        "cof-2",
        {"Flavor": "Mocha", "Item form": "Ground"},
        "arn:aws:iam::1:user/ana",
        products,
        knowledge,
        DeploymentMode.DEPLOY_AND_LEARN,
        reason="the label says ground",
        waiting_only=True,
    )
    assert (result.version, result.status) == (before.version + 1, "ENRICHED")
    product = products.get("cof-2")
    assert product is not None and product.provenance is not None
    entry = product.provenance["feedback"][-1]
    assert entry["reason"] == "the label says ground" and entry["reviewer"] == "arn:aws:iam::1:user/ana"
    assert waiting_for_review(products) == []
    with pytest.raises(Conflict, match="no longer waits"):
        apply_review_decision(
            "cof-2",
            {"Flavor": "Mocha"},
            "bo",
            products,
            knowledge,
            DeploymentMode.DEPLOY_AND_LEARN,
            waiting_only=True,
        )
    # Without `waiting_only` (the CLI, a feedback claim sent to review) a decided product may be decided again.
    again = apply_review_decision(
        "cof-2", {"Flavor": "Vanilla"}, "bo", products, knowledge, DeploymentMode.DEPLOY_AND_LEARN
    )
    assert again.changed == {"Flavor": {"old": "Mocha", "new": "Vanilla"}}


def test_an_unknown_product_is_not_found_and_a_long_reason_is_invalid() -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    _stored(products)
    with pytest.raises(NotFound):
        apply_review_decision(
            "nope", {"Brand": "X"}, "ana", products, knowledge, DeploymentMode.DEPLOY_AND_LEARN
        )
    with pytest.raises(InvalidInput, match="reason"):
        apply_review_decision(
            "cof-2",
            {"Brand": "X"},
            "ana",
            products,
            knowledge,
            DeploymentMode.DEPLOY_AND_LEARN,
            reason="x" * 501,
        )


def test_review_show_prints_the_candidates_and_escapes_model_text() -> None:
    products = InMemoryProductStore()
    provenance = {**PROVENANCE, "supervisor": {**PROVENANCE["supervisor"], "reason": "\x1b[31mRED"}}
    _stored(products, provenance=provenance)
    text = "\n".join(format_detail(review_detail(products, None, "cof-2")))
    assert "Flavor  [unresolved, disputed]" in text
    assert "candidates: Coffee (generator, supervisor); Ground (generator_b, evaluator)" in text
    assert "evaluator: ambiguous (suggests Ground) - both read" in text
    assert "\x1b" not in text and "\\x1b[31mRED" in text
    assert "cataloop review decide cof-2" in text


def test_the_review_show_command_parses() -> None:
    parser = build_parser()
    show = parser.parse_args(["review", "show", "cof-2", "--json", "o.json"])
    assert (show.review_command, show.product_id, show.json) == ("show", "cof-2", "o.json")
    decide = parser.parse_args(["review", "decide", "cof-2", "Brand=X", "--reason", "seen on the box"])
    assert decide.reason == "seen on the box"
