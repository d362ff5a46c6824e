"""Feedback that teaches: customer claims read from text, seller claims the listing contradicts, the shared
correction write, and human-review decisions as teachers (in-memory fakes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cataloop.adapters.memory import InMemoryKnowledgeStore, InMemoryProductStore
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.domain.enrichment.extraction import AttributeValue, SupervisorResolution
from cataloop.domain.feedback.corrections import (
    correction_learnings,
    judge_claim,
    reviewed_judgement,
)
from cataloop.domain.feedback.signals import FeedbackSignal
from cataloop.domain.feedback.triage import Suspect, claimed_value_in_text, fits_kind, named_claims, triage
from cataloop.domain.knowledge.changes import new_status
from cataloop.domain.knowledge.learning import LearningDraft
from cataloop.domain.knowledge.tree import DeploymentMode, LearningStatus
from cataloop.domain.model_calls import ModelRequest, ModelResponse
from cataloop.errors import Conflict, InvalidInput
from cataloop.services import feedback as feedback_service
from cataloop.services import feedback_apply
from cataloop.services.knowledge_base import place_learning
from cataloop.services.review_decisions import apply_review_decision, waiting_for_review

VITAMIN = schema_for(["Vitamin"])
COFFEE = schema_for(["Coffee"])
CEREAL = schema_for(["Breakfast Cereal"])
PACK = VITAMIN.get("Pack size")
NET = VITAMIN.get("Net content")
BRAND = VITAMIN.get("Brand")
NOW = datetime(2026, 11, 26, tzinfo=UTC)
VITAMIN_LISTING = ProductListing(
    product_id="vit-1",
    title="Nature Made Vitamin D3 2000 IU, 100 Softgels, Pack of 2",
    category_path=["Vitamin"],
)


def _customer(text: str, kind: str = "NegativeReviewPosted", **fields: Any) -> FeedbackSignal:
    base: dict[str, Any] = {
        "signal_id": f"{kind}:X-1",
        "kind": kind,
        "channel": "customer_feedback",
        "event_id": "e-1",
        "product_id": "vit-1",
        "text": text,
        "rating": 2 if kind == "NegativeReviewPosted" else None,
    }
    return FeedbackSignal(**{**base, **fields})


# ------------------------------------------------------------------------------------------ claims in text


def test_a_quoted_value_stated_for_a_named_attribute_is_the_claim() -> None:
    assert named_claims('Not as described: the Caffeine content is "2x Caffeine", not "Decaf".', COFFEE) == {
        "Caffeine content": "2x Caffeine"
    }
    assert named_claims("Returned it. The pack_count should be “Pack of 3”.", VITAMIN) == {
        "Pack size": "Pack of 3"
    }
    # A mention inside a longer attribute's name belongs to the longer one.
    assert named_claims('Sub brand is "Honey Nut"', CEREAL) == {"Sub brand": "Honey Nut"}
    # No quotes, no claim: a customer's loose words are not a value.
    assert named_claims("the brand is wrong, I think it is Nature", VITAMIN) == {}
    assert (
        BRAND is not None and claimed_value_in_text("Brand should be 'Nature Made'", BRAND) == "Nature Made"
    )


def test_a_quantity_goes_to_the_attribute_whose_kind_it_fits() -> None:
    assert PACK is not None and NET is not None
    assert fits_kind("pack of 2", PACK) and not fits_kind("pack of 2", NET)
    assert fits_kind("24 oz", NET) and not fits_kind("24 oz", PACK)
    assert fits_kind("1 bag", PACK) and fits_kind("1 bag", NET)
    wrong_quantity = _customer(
        "the box only had a pack of 3", "ProductReturned", reason_code="WRONG_QUANTITY"
    )
    decision = triage(wrong_quantity, VITAMIN, {"Pack size": "Pack of 2", "Net content": "100 Softgels"})
    # 'pack of 3' names packages: it is no net content claim, so the net content is not a suspect.
    assert [(s.attribute, s.claimed) for s in decision.suspects] == [("Pack size", "pack of 3")]


def test_a_customer_may_point_at_a_missing_attribute_only_with_a_value() -> None:
    named = _customer('The page does not say: Caffeine content is "2x Caffeine".')
    decision = triage(named, COFFEE, {"Brand": "Death Wish Coffee"})
    assert decision.relevant
    assert [(s.attribute, s.extracted, s.claimed) for s in decision.suspects] == [
        ("Caffeine content", None, "2x Caffeine")
    ]
    vague = _customer("runs small", "ProductReturned", reason_code="SIZE_TOO_SMALL")
    assert not triage(vague, schema_for(["Shoes"]), {"Brand": "Nike"}).relevant


def test_a_quoted_value_is_data_not_a_cue_for_other_attributes() -> None:
    # 'Color Wow' quoted as the brand does not make the color a suspect.
    signal = _customer('The Brand is "Color Wow", not "Wow".')
    decision = triage(signal, schema_for(["Sunscreen"]), {"Brand": "Wow", "Color": "White"})
    assert [s.attribute for s in decision.suspects] == ["Brand"]


# ------------------------------------------------------------------------------------------- judgements


def test_a_seller_claim_the_listing_contradicts_is_rejected_without_a_review() -> None:
    assert PACK is not None
    suspect = Suspect(attribute="Pack size", extracted="Pack of 2", claimed="3", reason="dispute")
    judgement = judge_claim(suspect, PACK, VITAMIN_LISTING, "seller_feedback", None, 0.4)
    assert judgement.verdict == "reject" and judgement.contradicted and judgement.value is None
    assert "ListingUpdated" in judgement.reason and "Pack of 2" in judgement.reason
    # Even a confident supervisor agreeing with the seller does not overrule the seller's own listing.
    agreed = judge_claim(suspect, PACK, VITAMIN_LISTING, "seller_feedback", "3", 0.95)
    assert agreed.verdict == "reject"
    assert correction_learnings(judgement, VITAMIN, ["Vitamin"], "seller_feedback", "vit-1", "") == []


def test_a_seller_claim_on_a_text_attribute_is_not_rejected_for_words_the_workers_took() -> None:
    # '오리지널' is in the title, but that does not make it the product type: a person checks the claim.
    spec = schema_for([]).get("product_type")
    assert spec is not None
    listing = ProductListing(
        product_id="km-1", title="야쿠르트 오리지널 65ml x 10개", category_path=["발효유"]
    )
    suspect = Suspect(attribute="product_type", extracted="오리지널", claimed="유산균 음료", reason="dispute")
    judgement = judge_claim(suspect, spec, listing, "seller_feedback", None, 0.4)
    assert judgement.verdict == "unsure" and not judgement.contradicted


def test_a_customer_claim_the_listing_contradicts_still_goes_to_a_person() -> None:
    assert BRAND is not None
    suspect = Suspect(attribute="Brand", extracted="Nature Made", claimed="Kirkland", reason="review")
    judgement = judge_claim(
        suspect, BRAND, VITAMIN_LISTING, "customer_feedback", "Nature Made", 0.95, reporter="customer:1"
    )
    assert judgement.verdict == "unsure" and judgement.contradicted and "contradicts" in judgement.reason


def test_a_reviewers_decision_is_a_corroborated_correction_that_follows_the_mode() -> None:
    assert PACK is not None and BRAND is not None
    judgement = reviewed_judgement(BRAND, VITAMIN_LISTING, "Nature", "Nature Made", "ana")
    assert judgement.verdict == "correct" and judgement.corroborated and judgement.value is not None
    assert judgement.value.evidence is not None and judgement.value.evidence.text == "Nature Made"
    (draft,) = correction_learnings(judgement, VITAMIN, ["Vitamin"], "human_review", "vit-1", "HumanReview:x")
    assert draft.source_channel == "human_review" and draft.corroborated
    assert draft.provenance.model_id == "human_review"
    assert new_status(DeploymentMode.DEPLOY_AND_LEARN, draft) is LearningStatus.ACTIVE
    assert new_status(DeploymentMode.LEARN_THEN_DEPLOY, draft) is LearningStatus.PROPOSED
    cleared = reviewed_judgement(PACK, VITAMIN_LISTING, "100 Softgels", None, "ana")
    assert cleared.verdict == "correct" and cleared.value is None
    assert correction_learnings(cleared, VITAMIN, ["Vitamin"], "human_review", "vit-1", "") == []


# -------------------------------------------------------------------------------- through the use cases


class _Supervisor:
    """Reads nothing new: the listing and the customers settle the claims."""

    def invoke(self, request: ModelRequest, output_model: type[Any]) -> ModelResponse[Any]:
        output = SupervisorResolution(attributes={}, confidence=0.4, reason="no reading")
        return ModelResponse(model_id="stub", output=output)


def _stored(
    products: InMemoryProductStore,
    listing: ProductListing,
    values: dict[str, str],
    status: ProductStatus = ProductStatus.ENRICHED,
    provenance: dict[str, Any] | None = None,
) -> StoredProduct:
    stored, _ = products.create_pending(listing, "e-0", "2026-11-26T00:00:00.000+00:00")
    attributes = {
        name: AttributeValue(value=v, confidence=0.8).model_dump(mode="json") for name, v in values.items()
    }
    return products.put_version(
        stored.model_copy(
            update={
                "status": status,
                "enrichment": {"attributes": attributes},
                "provenance": provenance or {},
            }
        )
    )


ENVELOPE = {"version": "0", "account": "123456789012", "time": "2026-11-26T10:00:00Z", "region": "us-east-1"}


def _apply(products: InMemoryProductStore, knowledge: InMemoryKnowledgeStore, raw: dict[str, Any]) -> Any:
    signal = feedback_service.read_feedback_event({**ENVELOPE, "resources": [], **raw})
    triaged = feedback_service.triage_feedback(signal, products)
    if not triaged.triage.relevant:
        return None
    resolution = feedback_service.resolve_feedback(triaged, _Supervisor(), 0.6)
    state = feedback_service.ApplyInput(**triaged.model_dump(), resolution=resolution, execution_id="x")
    return feedback_apply.apply_feedback(state, products, knowledge, DeploymentMode.DEPLOY_AND_LEARN)


COFFEE_LISTING = ProductListing(
    product_id="cof-1",
    title="Death Wish Coffee Ground Coffee, Dark Roast, 16 oz (Pack of 2)",
    category_path=["Coffee"],
)


def _review(number: int, customer: str) -> dict[str, Any]:
    return {
        "id": f"e-{number}",
        "source": "cataloop.customer",
        "detail-type": "NegativeReviewPosted",
        "detail": {
            "review_id": f"RV-{number}",
            "product_id": "cof-1",
            "customer_id": customer,
            "rating": 2,
            "text": 'Far too strong for me. The Caffeine content should be "2x Caffeine"; the page does not say.',
        },
    }


def test_three_customers_naming_a_missing_value_fill_it_in_and_teach_it() -> None:
    """The fix: a true claim about a value nothing was extracted for used to be ignored at triage."""
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    _stored(products, COFFEE_LISTING, {"Brand": "Death Wish Coffee", "Pack size": "Pack of 2"})

    first = _apply(products, knowledge, _review(1, "ana"))
    assert first.corrected == [] and first.needs_review and "1 of 3" in first.review_reason
    assert (
        _apply(products, knowledge, _review(2, "ana")).corrected == []
    )  # the same customer twice is one voice
    assert _apply(products, knowledge, _review(3, "bo")).corrected == []
    third = _apply(products, knowledge, _review(4, "cy"))

    assert third.corrected == ["Caffeine content"] and not third.needs_review
    product = products.get("cof-1")
    assert (
        product is not None and product.enrichment["attributes"]["Caffeine content"]["value"] == "2x Caffeine"
    )
    (learning_id,) = third.placed[0].learning_ids
    learning = knowledge.get_learning(learning_id)
    assert learning is not None and learning.source_channel == "customer_feedback"
    assert learning.status is LearningStatus.ACTIVE  # corroborated by independent customers


def test_a_rejected_seller_dispute_is_reported_and_changes_nothing() -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    before = _stored(products, COFFEE_LISTING, {"Pack size": "Pack of 2"})
    dispute = {
        "id": "e-9",
        "source": "cataloop.seller",
        "detail-type": "SellerDisputeFiled",
        "detail": {
            "dispute_id": "D-9",
            "product_id": "cof-1",
            "seller_id": "s-1",
            "attribute": "Pack size",
            "claimed_value": "3",
            "evidence": "we ship three",
        },
    }
    outcome = _apply(products, knowledge, dispute)
    assert outcome.rejected == ["Pack size"] and outcome.corrected == [] and not outcome.needs_review
    assert products.get("cof-1") == before


class _RacingProducts(InMemoryProductStore):
    """Another writer gets in first, once: the first conditional write loses."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def put_version(self, product: StoredProduct) -> StoredProduct:
        if not self.raced and product.version >= 2:
            self.raced = True
            current = self.get(product.product_id)
            assert current is not None
            super().put_version(current.model_copy(update={"updated_at": "2026-11-26T00:00:01.000+00:00"}))
        return super().put_version(product)


def test_a_correction_that_loses_a_write_race_reads_again_and_writes_once() -> None:
    products = _RacingProducts()
    stored = _stored(products, VITAMIN_LISTING, {"Pack size": "100 Softgels"})
    products.raced = False
    judgement = reviewed_judgement(PACK, VITAMIN_LISTING, "100 Softgels", "2", "ana")  # type: ignore[arg-type]
    written, changed = feedback_apply.write_corrections(
        products, "vit-1", [judgement], {"signal_id": "HumanReview:t"}, NOW
    )
    assert products.raced and written.version == stored.version + 2
    assert changed == {"Pack size": {"old": "100 Softgels", "new": "Pack of 2"}}
    again, unchanged = feedback_apply.write_corrections(
        products, "vit-1", [judgement], {"signal_id": "HumanReview:t"}, NOW
    )
    assert again.version == written.version and unchanged == {}


def test_a_conflict_that_never_ends_is_reported() -> None:
    class _AlwaysLosing(InMemoryProductStore):
        def put_version(self, product: StoredProduct) -> StoredProduct:
            if product.enrichment and "Brand" in product.enrichment.get("attributes", {}):
                raise Conflict("lost")
            return super().put_version(product)

    products = _AlwaysLosing()
    _stored(products, VITAMIN_LISTING, {"Pack size": "Pack of 2"})
    judgement = reviewed_judgement(BRAND, VITAMIN_LISTING, None, "Nature Made", "ana")  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="kept changing"):
        feedback_apply.write_corrections(products, "vit-1", [judgement], {"signal_id": "S:1"}, NOW)


# ------------------------------------------------------------------------------------- review decisions

REVIEWED = ProductListing(
    product_id="cof-2", title="Starbucks Coffee, Ground, Mocha, 11 Oz (Pack of 3)", category_path=["Coffee"]
)


def _needs_review(products: InMemoryProductStore, used: list[str] | None = None) -> StoredProduct:
    return _stored(
        products,
        REVIEWED,
        {"Brand": "Starbucks", "Item form": "Coffee", "Pack size": "Pack of 3"},
        ProductStatus.NEEDS_REVIEW,
        {
            "supervisor": {"unresolved": ["Flavor"], "confidence": 0.4, "reason": "unsure"},
            "disagreed_attributes": ["Item form", "Flavor"],
            "learnings_used": used or [],
        },
    )


def test_waiting_for_review_lists_needs_review_products_with_their_unresolved_attributes() -> None:
    products = InMemoryProductStore()
    _needs_review(products)
    _stored(products, VITAMIN_LISTING, {"Pack size": "Pack of 2"})
    (item,) = waiting_for_review(products)
    assert item.product_id == "cof-2" and item.unresolved == ["Flavor"]
    assert item.values == {"Flavor": None, "Item form": "Coffee"} and "confidence 0.4" in item.reason


def test_a_review_decision_writes_the_next_version_and_teaches_each_changed_attribute() -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    culprit = place_learning(
        LearningDraft(
            text="In Coffee, 'Coffee' is a Item form value.",
            kind="example",
            scope_path=["Coffee"],
            attributes=["Item form"],
            directive={"type": "value_lexicon", "attribute": "Item form", "values": ["Coffee"]},
        ),
        knowledge,
        DeploymentMode.DEPLOY_AND_LEARN,
    ).changed[0]
    before = _needs_review(products, [culprit.id])

    result = apply_review_decision(
        "cof-2",
        {"item form": "Ground", "flavor": "Mocha", "Pack size": "Pack of 3", "Brand": "Starbucks Coffee"},
        "ana",
        products,
        knowledge,
        DeploymentMode.DEPLOY_AND_LEARN,
        now=lambda: NOW,
    )

    assert (result.version, result.status) == (before.version + 1, "ENRICHED")
    assert result.changed == {
        "Item form": {"old": "Coffee", "new": "Ground"},
        "Flavor": {"old": None, "new": "Mocha"},
        "Brand": {"old": "Starbucks", "new": "Starbucks Coffee"},
    }
    assert result.unchanged == ["Pack size"]
    product = products.get("cof-2")
    assert product is not None and product.status is ProductStatus.ENRICHED
    entry = product.provenance["feedback"][-1]
    assert entry["reviewer"] == "ana" and entry["channel"] == "human_review"
    assert entry["previous_status"] == "NEEDS_REVIEW" and entry["corrected"] == result.changed
    # Evidence from the listing, as a feedback correction quotes it.
    assert product.enrichment["attributes"]["Flavor"]["evidence"]["text"] == "Mocha"
    learnings = [knowledge.get_learning(i) for placed in result.placed for i in placed.learning_ids]
    taught = {(item.source_channel, item.status, item.directive.attribute) for item in learnings if item}
    assert taught == {
        ("human_review", LearningStatus.ACTIVE, "Item form"),
        ("human_review", LearningStatus.ACTIVE, "Flavor"),
        ("human_review", LearningStatus.ACTIVE, "Brand"),
    }
    assert result.learnings_created == 3
    # The learning that produced 'Coffee' as the Item form pays for it, as with a feedback correction.
    assert result.downvoted == [culprit.id] and result.retired == [culprit.id]

    again = apply_review_decision(
        "cof-2", {"Item form": "Ground"}, "ana", products, knowledge, DeploymentMode.DEPLOY_AND_LEARN
    )
    assert again.changed == {} and again.version == result.version and again.placed == []


def test_a_review_decision_in_learn_then_deploy_proposes_and_a_cleared_value_teaches_nothing() -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    _needs_review(products)
    result = apply_review_decision(
        "cof-2",
        {"Item form": "Ground", "Brand": None},
        "bo",
        products,
        knowledge,
        DeploymentMode.LEARN_THEN_DEPLOY,
    )
    assert result.changed["Brand"] == {"old": "Starbucks", "new": None} and result.untaught == ["Brand"]
    product = products.get("cof-2")
    assert product is not None and "Brand" not in product.enrichment["attributes"]
    (placed,) = result.placed
    learning = knowledge.get_learning(placed.learning_ids[0])
    assert learning is not None and learning.status is LearningStatus.PROPOSED


def test_a_review_decision_the_same_learning_already_holds_counts_as_support() -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    _needs_review(products)
    first = apply_review_decision(
        "cof-2", {"Item form": "Ground"}, "ana", products, knowledge, DeploymentMode.DEPLOY_AND_LEARN
    )
    other = ProductListing(product_id="cof-3", title="Folgers Ground Coffee, 12 Oz", category_path=["Coffee"])
    _stored(products, other, {"Item form": "Coffee"}, ProductStatus.NEEDS_REVIEW)
    second = apply_review_decision(
        "cof-3", {"Item form": "Ground"}, "bo", products, knowledge, DeploymentMode.DEPLOY_AND_LEARN
    )
    (learning_id,) = first.placed[0].learning_ids
    assert second.placed[0].learning_ids == [learning_id] and second.learnings_created == 0
    learning = knowledge.get_learning(learning_id)
    assert learning is not None and learning.support_count == 2


@pytest.mark.parametrize(
    "product_id, decisions, message",
    [
        ("cof-2", {"Warranty": "2 years"}, "'Warranty' is not an attribute of product cof-2"),
        ("cof-2", {"Item form": "x" * 600}, "decisions.Item form"),
        ("cof-2", {}, "decisions"),
        ("nope-1", {"Brand": "X"}, "product nope-1 is not in the catalog"),
        ("cof-2", {"Brand": "X", "brand": "Y"}, "decided twice"),
    ],
)
def test_a_bad_review_decision_is_refused_with_what_to_fix(
    product_id: str, decisions: dict[str, str | None], message: str
) -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    before = _needs_review(products)
    with pytest.raises(InvalidInput, match=message) as error:
        apply_review_decision(
            product_id, decisions, "ana", products, knowledge, DeploymentMode.DEPLOY_AND_LEARN
        )
    if "Warranty" in message:
        assert "Brand, Net content, Item form" in str(error.value)  # the schema's attributes
    assert products.get("cof-2") == before


def test_a_product_still_being_enriched_cannot_be_decided() -> None:
    products, knowledge = InMemoryProductStore(), InMemoryKnowledgeStore()
    products.create_pending(REVIEWED, "e-0", "2026-11-26T00:00:00.000+00:00")
    with pytest.raises(InvalidInput, match="PENDING"):
        apply_review_decision(
            "cof-2", {"Brand": "Starbucks"}, "ana", products, knowledge, DeploymentMode.DEPLOY_AND_LEARN
        )
