"""Feedback signals: event validation, triage, claim judgement, correction learnings, culprits, aggregation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.domain.enrichment.extraction import EvidenceSpan
from cataloop.domain.feedback.corrections import (
    BYSTANDER_PENALTY,
    CULPRIT_PENALTY,
    ClaimJudgement,
    aggregate_drafts,
    correction_learnings,
    culprits,
    judge_claim,
    locate_value,
)
from cataloop.domain.feedback.signals import AttributeClaim, FeedbackSignal
from cataloop.domain.feedback.triage import (
    Suspect,
    claimed_value_in_text,
    extracted_values,
    resolve_attribute,
    triage,
)
from cataloop.domain.knowledge.learning import LearningDraft
from cataloop.domain.knowledge.tree import Learning, LearningStatus
from cataloop.errors import InvalidInput
from cataloop.services.feedback import read_feedback_event

EVENTS = Path(__file__).resolve().parents[2] / "events"
VITAMIN = schema_for(["Vitamin"])
SHOES = schema_for(["Shoes"])
VITAMIN_LISTING = ProductListing(
    product_id="vit-1",
    title="Nature Made Vitamin D3 2000 IU, 100 Softgels, Pack of 2",
    category_path=["Vitamin"],
)
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _signal(kind: str = "SellerDisputeFiled", **fields: Any) -> FeedbackSignal:
    channel = "seller_feedback" if kind in ("SellerDisputeFiled", "ListingUpdated") else "customer_feedback"
    base: dict[str, Any] = {
        "signal_id": f"{kind}:X-1",
        "kind": kind,
        "channel": channel,
        "event_id": "e-1",
        "product_id": "vit-1",
    }
    return FeedbackSignal(**{**base, **fields})


def _learning(learning_id: str, directive: dict[str, Any], text: str, attributes: list[str]) -> Learning:
    return Learning(
        id=learning_id,
        version=1,
        text=text,
        scope_path=["Vitamin"],
        attributes=attributes,
        directive=directive,
        status=LearningStatus.ACTIVE,
        valid_from=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


# ------------------------------------------------------------------------------------------------ events


@pytest.mark.parametrize(
    "name, kind, channel",
    [
        ("seller_dispute_filed.json", "SellerDisputeFiled", "seller_feedback"),
        ("listing_updated.json", "ListingUpdated", "seller_feedback"),
        ("product_returned.json", "ProductReturned", "customer_feedback"),
        ("negative_review_posted.json", "NegativeReviewPosted", "customer_feedback"),
    ],
)
def test_every_sample_event_reads_as_its_signal(name: str, kind: str, channel: str) -> None:
    raw = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    signal = read_feedback_event(raw)
    assert (signal.kind, signal.channel, signal.event_id) == (kind, channel, raw["id"])
    assert signal.signal_id.startswith(f"{kind}:") and signal.product_id == raw["detail"]["product_id"]


def test_the_malformed_sample_names_every_field_to_fix() -> None:
    raw = json.loads((EVENTS / "product_returned_malformed.json").read_text(encoding="utf-8"))
    with pytest.raises(InvalidInput) as error:
        read_feedback_event(raw)
    message = str(error.value)
    assert "invalid ProductReturned event" in message
    assert "detail.return_id" in message and "detail.reason_code" in message


def test_unknown_detail_type_and_wrong_source_are_refused_with_what_is_expected() -> None:
    raw = json.loads((EVENTS / "seller_dispute_filed.json").read_text(encoding="utf-8"))
    with pytest.raises(InvalidInput, match="expected one of"):
        read_feedback_event({**raw, "detail-type": "SellerComplained"})
    with pytest.raises(InvalidInput, match=r"must come from source 'cataloop\.seller'"):
        read_feedback_event({**raw, "source": "cataloop.customer"})
    with pytest.raises(InvalidInput, match="JSON object"):
        read_feedback_event(["not", "an", "event"])


def test_a_positive_review_is_not_a_negative_review_event() -> None:
    raw = json.loads((EVENTS / "negative_review_posted.json").read_text(encoding="utf-8"))
    raw["detail"]["rating"] = 5
    with pytest.raises(InvalidInput, match=r"detail\.rating"):
        read_feedback_event(raw)


# ------------------------------------------------------------------------------------------------ triage


def test_resolve_attribute_accepts_names_and_concepts() -> None:
    assert resolve_attribute("pack_count", VITAMIN).name == "Pack size"  # type: ignore[union-attr]
    assert resolve_attribute("PACK SIZE", VITAMIN).name == "Pack size"  # type: ignore[union-attr]
    assert resolve_attribute("net-content", VITAMIN).name == "Net content"  # type: ignore[union-attr]
    assert resolve_attribute("warranty", VITAMIN) is None


@given(st.sampled_from(VITAMIN.names + SHOES.names), st.sampled_from(["lower", "upper", "title", "snake"]))
def test_every_schema_name_resolves_to_itself_in_any_spelling(name: str, spelling: str) -> None:
    schema = VITAMIN if name in VITAMIN.names else SHOES
    variant = name.replace(" ", "_") if spelling == "snake" else getattr(name, spelling)()
    spec = resolve_attribute(variant, schema)
    assert spec is not None and spec.name == name


def test_a_late_delivery_return_is_not_about_the_extraction() -> None:
    decision = triage(
        _signal("ProductReturned", reason_code="LATE_DELIVERY", text="came a week late, size 10"),
        SHOES,
        {"Size": "10 US"},
    )
    assert not decision.relevant and "logistics" in decision.reason and decision.suspects == []


def test_a_size_runs_small_return_points_at_the_extracted_size_only_when_there_is_one() -> None:
    signal = _signal("ProductReturned", reason_code="SIZE_TOO_SMALL", text="runs small")
    decision = triage(signal, SHOES, {"Size": "10 US", "Brand": "Nike"})
    assert decision.relevant
    assert [(s.attribute, s.extracted, s.claimed) for s in decision.suspects] == [("Size", "10 US", None)]
    assert not triage(signal, SHOES, {"Brand": "Nike"}).relevant


def test_a_dispute_points_at_the_attribute_unless_it_already_holds_the_claim() -> None:
    dispute = _signal(claims=[AttributeClaim(attribute="pack_count", claimed_value="2")])
    wrong = triage(dispute, VITAMIN, {"Pack size": "100 Softgels"})
    assert wrong.relevant and wrong.suspects[0].model_dump() == {
        "attribute": "Pack size",
        "extracted": "100 Softgels",
        "claimed": "2",
        "reason": wrong.suspects[0].reason,
    }
    # 'Pack of 2' and '2' are the same count after normalisation.
    right = triage(dispute, VITAMIN, {"Pack size": "Pack of 2"})
    assert not right.relevant and "already extracted" in right.reason


def test_a_dispute_about_an_unknown_attribute_says_which_attributes_exist() -> None:
    decision = triage(
        _signal(claims=[AttributeClaim(attribute="warranty", claimed_value="2 years")]), VITAMIN, {}
    )
    assert not decision.relevant and "'warranty' is not an attribute" in decision.reason
    assert "Pack size" in decision.reason


def test_listing_updates_count_only_fields_that_are_attributes() -> None:
    changes = [
        AttributeClaim(attribute="price", claimed_value="17.99", previous_value="19.99"),
        AttributeClaim(attribute="brand", claimed_value="Nature Made", previous_value="Nature"),
    ]
    decision = triage(_signal("ListingUpdated", claims=changes), VITAMIN, {"Brand": "Nature"})
    assert decision.relevant and [s.attribute for s in decision.suspects] == ["Brand"]
    price_only = triage(_signal("ListingUpdated", claims=changes[:1]), VITAMIN, {"Brand": "Nature"})
    assert not price_only.relevant


def test_reviews_about_taste_are_opinions_and_reviews_about_counts_are_claims() -> None:
    taste = _signal("NegativeReviewPosted", rating=1, text="Tastes awful, very bitter")
    assert not triage(taste, VITAMIN, {"Pack size": "2"}).relevant
    count = _signal("NegativeReviewPosted", rating=2, text="Says pack of 2 but the box had 1 bottle")
    decision = triage(count, VITAMIN, {"Pack size": "Pack of 2"})
    assert decision.relevant and decision.suspects[0].claimed == "1 bottle"


def test_duplicates_and_unenriched_products_are_not_relevant() -> None:
    dispute = _signal(claims=[AttributeClaim(attribute="Pack size", claimed_value="2")])
    assert "duplicate" in triage(dispute, VITAMIN, {"Pack size": "9"}, [dispute.signal_id]).reason
    assert "no extraction yet" in triage(dispute, VITAMIN, None).reason


def test_claimed_values_in_text_are_read_only_for_quantities() -> None:
    pack = VITAMIN.get("Pack size")
    assert pack is not None and SHOES.get("Size") is not None
    assert claimed_value_in_text("only got a pack of 3 instead", pack) == "pack of 3"
    assert claimed_value_in_text("nice bottle", pack) is None
    assert claimed_value_in_text("only got size 9", SHOES.get("Size")) is None  # type: ignore[arg-type]


def test_extracted_values_reads_the_stored_enrichment() -> None:
    assert extracted_values(None) is None
    stored = {"attributes": {"Brand": {"value": "Nature Made", "confidence": 0.8}}, "is_food": None}
    assert extracted_values(stored) == {"Brand": "Nature Made"}


# ---------------------------------------------------------------------------------------------- judgement


def test_locate_value_finds_the_phrase_that_states_a_count() -> None:
    pack = VITAMIN.get("Pack size")
    assert pack is not None
    found = locate_value(VITAMIN_LISTING, "2", pack)
    assert found is not None
    surface, span = found
    assert surface == "Pack of 2" and VITAMIN_LISTING.title[span.start : span.end] == surface
    assert locate_value(VITAMIN_LISTING, "7", pack) is None


@given(st.sampled_from(["Nature Made", "D3", "2000 IU", "100 Softgels", "Pack of 2", "Vitamin"]))
def test_a_located_span_always_quotes_the_listing(value: str) -> None:
    spec = VITAMIN.get("Net content")
    assert spec is not None
    found = locate_value(VITAMIN_LISTING, value, spec)
    assert found is not None
    surface, span = found
    assert getattr(VITAMIN_LISTING, span.field)[span.start : span.end] == surface == span.text


def _pack_suspect(claimed: str | None) -> Suspect:
    return Suspect(attribute="Pack size", extracted="100 Softgels", claimed=claimed, reason="dispute")


def test_a_claim_the_listing_states_is_a_correction_with_evidence() -> None:
    pack = VITAMIN.get("Pack size")
    assert pack is not None
    judgement = judge_claim(_pack_suspect("2"), pack, VITAMIN_LISTING, "seller_feedback", None, 0.4)
    assert judgement.verdict == "correct" and judgement.value is not None
    assert judgement.value.value == "Pack of 2" and judgement.value.normalised == "2 count"
    assert judgement.value.evidence is not None and judgement.confidence == 0.85
    customer = judge_claim(_pack_suspect("2"), pack, VITAMIN_LISTING, "customer_feedback", None, 0.4)
    assert customer.confidence < judgement.confidence


def test_a_confident_supervisor_who_keeps_the_extraction_sends_the_claim_to_a_person() -> None:
    pack = VITAMIN.get("Pack size")
    assert pack is not None
    judgement = judge_claim(
        _pack_suspect("2"), pack, VITAMIN_LISTING, "seller_feedback", "100 Softgels", 0.95
    )
    assert judgement.verdict == "unsure" and "supervisor reads" in judgement.reason


def test_claims_without_a_value_or_without_support_are_unsure() -> None:
    pack = VITAMIN.get("Pack size")
    assert pack is not None
    no_value = judge_claim(_pack_suspect(None), pack, VITAMIN_LISTING, "customer_feedback", None, 0.4)
    unsupported = judge_claim(_pack_suspect("12"), pack, VITAMIN_LISTING, "seller_feedback", None, 0.4)
    assert no_value.verdict == unsupported.verdict == "unsure"
    assert "ListingUpdated" in unsupported.reason
    # The supervisor's confident re-read settles a claim that named no value.
    reread = judge_claim(_pack_suspect(None), pack, VITAMIN_LISTING, "customer_feedback", "Pack of 2", 0.9)
    assert reread.verdict == "correct" and reread.value is not None and reread.value.value == "Pack of 2"


# ---------------------------------------------------------------------------------------------- learnings


def _correction(attribute: str, wrong: str, right: str) -> ClaimJudgement:
    from cataloop.domain.enrichment.extraction import AttributeValue

    return ClaimJudgement(
        attribute=attribute,
        verdict="correct",
        reason="test",
        wrong_value=wrong,
        value=AttributeValue(value=right, confidence=0.85),
        confidence=0.85,
    )


def test_a_unit_word_misread_as_pack_size_teaches_the_sibling_quantity() -> None:
    drafts = correction_learnings(
        _correction("Pack size", "100 Softgels", "Pack of 2"),
        VITAMIN,
        ["Vitamin"],
        "seller_feedback",
        "vit-1",
        "e",
    )
    assert len(drafts) == 1
    directive = drafts[0].directive.model_dump()
    assert directive == {
        "type": "pattern",
        "attribute": "Net content",
        "unit_terms": ["Softgels"],
        "keep_unit": True,
    }
    assert drafts[0].source_channel == "seller_feedback" and drafts[0].scope_path == ["Vitamin"]
    assert drafts[0].provenance.product_id == "vit-1"


def test_text_corrections_teach_the_value_and_other_counts_teach_what_it_is_not() -> None:
    brand = correction_learnings(
        _correction("Brand", "Nature", "Nature Made"), VITAMIN, ["Vitamin"], "seller_feedback", "vit-1", ""
    )
    assert brand[0].directive.model_dump()["values"] == ["Nature Made"]
    count = correction_learnings(
        _correction("Pack size", "6", "Pack of 2"), VITAMIN, ["Vitamin"], "seller_feedback", "vit-1", ""
    )
    assert (
        count[0].directive.model_dump()["type"] == "not_value"
        and count[0].directive.model_dump()["value"] == "6"
    )
    # From a customer, "'6' is not a Pack size" needs the listing itself to show the right value.
    shown = _correction("Pack size", "6", "Pack of 2")
    assert shown.value is not None
    shown = shown.model_copy(
        update={
            "value": shown.value.model_copy(
                update={"evidence": EvidenceSpan(field="title", start=46, end=55, text="Pack of 2")}
            )
        }
    )
    assert correction_learnings(shown, VITAMIN, ["Vitamin"], "customer_feedback", "vit-1", "")
    unshown = _correction("Pack size", "6", "Pack of 2")
    assert correction_learnings(unshown, VITAMIN, ["Vitamin"], "customer_feedback", "vit-1", "") == []
    unsure = _correction("Brand", "Nature", "Nature Made").model_copy(update={"verdict": "unsure"})
    assert correction_learnings(unsure, VITAMIN, ["Vitamin"], "seller_feedback", "vit-1", "") == []


def test_a_yes_no_correction_teaches_no_learning() -> None:
    from cataloop.domain.enrichment.attributes import schema_for

    korean = schema_for(["발효유", "유산균 음료"])
    assert korean.get("is_food") is not None and korean.get("is_food").kind == "boolean"  # type: ignore[union-attr]
    for channel in ("seller_feedback", "human_review"):
        drafts = correction_learnings(
            _correction("is_food", "false", "true"), korean, ["발효유", "유산균 음료"], channel, "km-1", ""
        )
        assert drafts == []


def test_the_learning_that_produced_the_wrong_value_pays_more_than_a_bystander() -> None:
    producer = _learning(
        "L-producer",
        {"type": "pattern", "attribute": "Pack size", "unit_terms": ["Softgels"]},
        "In Vitamin, a number followed by 'Softgels' is the Pack size.",
        ["Pack size"],
    )
    bystander = _learning(
        "L-bystander",
        {"type": "not_value", "attribute": "Pack size", "value": "2000 IU"},
        "In Vitamin, '2000 IU' is not a Pack size value.",
        ["Pack size"],
    )
    unrelated = _learning(
        "L-brand",
        {"type": "value_lexicon", "attribute": "Brand", "values": ["Nature Made"]},
        "In Vitamin, 'Nature Made' is a Brand value.",
        ["Brand"],
    )
    judgement = _correction("Pack size", "100 Softgels", "Pack of 2")
    found = {c.learning_id: c.penalty for c in culprits(judgement, [producer, bystander, unrelated])}
    assert found == {"L-producer": CULPRIT_PENALTY, "L-bystander": BYSTANDER_PENALTY}
    assert culprits(judgement.model_copy(update={"verdict": "unsure"}), [producer]) == []


def _draft(scope: list[str], values: list[str]) -> LearningDraft:
    return LearningDraft(
        text=f"In {scope[-1]}, '{values[0]}' is a Size value.",
        kind="example",
        scope_path=scope,
        attributes=["Size"],
        directive={"type": "value_lexicon", "attribute": "Size", "values": values},
        source_channel="customer_feedback",
    )


def test_many_signals_teaching_the_same_thing_in_one_category_become_one_learning() -> None:
    pairs = [(f"ProductReturned:R-{i}", _draft(["Shoes"], ["10.5 Wide"])) for i in range(40)]
    pairs.append(("ProductReturned:R-0", _draft(["Shoes"], ["10.5 Wide"])))  # a duplicate counts once
    pairs.append(("ProductReturned:R-x", _draft(["Shoes", "Running"], ["10.5 Wide"])))
    pairs.append(("ProductReturned:R-y", _draft(["Shoes"], ["11 Narrow"])))
    aggregated = aggregate_drafts(pairs)
    assert [(a.draft.scope_path, a.support_count) for a in aggregated] == [
        (["Shoes"], 40),
        (["Shoes", "Running"], 1),
        (["Shoes"], 1),
    ]
    assert aggregated[0].signal_ids[:2] == ["ProductReturned:R-0", "ProductReturned:R-1"]
