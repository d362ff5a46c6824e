"""Seller and customer feedback events and the `FeedbackSignal` each becomes.

Workers that disagree show some errors; sellers (disputes, listing updates) and customers (returns, negative
reviews) show the errors every worker agreed on. This module validates the four EventBridge event details and
turns each event into one `FeedbackSignal`, the form the LearnFromFeedback workflow passes between states.
What a signal points at is decided in `triage`; what it corrects and teaches in `corrections`. Pure: no I/O.

Every text field of every detail goes through the shared sanitiser (`cataloop.domain.text`) before it is
validated: control, bidi, zero-width and tag characters are stripped; names and claimed values are NFKC'd and
single-line; free text (evidence, review and return text, changed field values) keeps its newlines.

`reporter` on a customer signal is who stands behind it (`customer:<id>`, else `order:<id>`): independent
customer signals are counted by distinct reporter (see `corrections.CORROBORATING_REPORTERS`); a signal with
neither id counts for nothing towards corroboration, since nothing shows it is independent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from cataloop.domain.catalog.events import EventBridgeEnvelope
from cataloop.domain.catalog.listing import ProductId
from cataloop.domain.enrichment.extraction import MAX_VALUE_CHARS
from cataloop.domain.text import clean_name, clean_text
from cataloop.validation import describe_validation_error

SOURCE_SELLER = "cataloop.seller"
SOURCE_CUSTOMER = "cataloop.customer"

FeedbackKind = Literal["SellerDisputeFiled", "ListingUpdated", "ProductReturned", "NegativeReviewPosted"]
FeedbackChannel = Literal["seller_feedback", "customer_feedback"]
SignalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]

# ------------------------------------------------------------------------------------------ event details

# Free-text fields keep their line breaks; every other string field is a name, id or value (NFKC, one line).
_FREE_TEXT_FIELDS = frozenset({"evidence", "text", "old", "new"})


class _CleanText(BaseModel):
    """Runs the shared sanitiser over every string field before validation."""

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str):
            return value
        if info.field_name in _FREE_TEXT_FIELDS:
            return clean_text(value, multiline=True)
        return clean_name(value)


class SellerDisputeFiledDetail(_CleanText):
    """A seller says one extracted attribute is wrong and what it should be."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dispute_id: SignalId
    product_id: ProductId
    seller_id: str = Field(min_length=1, max_length=128)
    attribute: str = Field(min_length=1, max_length=60, description="attribute name as shown to the seller")
    claimed_value: str = Field(min_length=1, max_length=MAX_VALUE_CHARS)
    evidence: str = Field(default="", max_length=2000, description="why the seller says so (free text)")


class FieldChange(_CleanText):
    """One changed listing field: a listing field (title, brand, ...) or an attribute name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    field: str = Field(min_length=1, max_length=60)
    old: str | None = Field(default=None, max_length=5000)
    new: str | None = Field(default=None, max_length=5000)


class ListingUpdatedDetail(_CleanText):
    """A seller changed fields of a listing (old and new values)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    update_id: SignalId
    product_id: ProductId
    seller_id: str = Field(min_length=1, max_length=128)
    changes: list[FieldChange] = Field(min_length=1, max_length=50)


ReturnReason = Literal[
    "SIZE_TOO_SMALL",
    "SIZE_TOO_LARGE",
    "WRONG_SIZE",
    "WRONG_QUANTITY",
    "WRONG_COLOR",
    "WRONG_FLAVOR",
    "WRONG_MATERIAL",
    "NOT_COMPATIBLE",
    "NOT_AS_DESCRIBED",
    "LATE_DELIVERY",
    "DAMAGED_IN_TRANSIT",
    "DEFECTIVE",
    "CHANGED_MIND",
    "DISLIKED_TASTE",
    "FOUND_BETTER_PRICE",
    "OTHER",
]


class ProductReturnedDetail(_CleanText):
    """A customer returned the product: a reason code and free text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    return_id: SignalId
    product_id: ProductId
    order_id: str | None = Field(default=None, max_length=128)
    customer_id: str | None = Field(default=None, max_length=128)
    reason_code: ReturnReason
    text: str = Field(default="", max_length=2000)


class NegativeReviewPostedDetail(_CleanText):
    """A customer posted a review of 1-3 stars (4-5 star reviews are not sent as negative)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    review_id: SignalId
    product_id: ProductId
    order_id: str | None = Field(default=None, max_length=128)
    customer_id: str | None = Field(default=None, max_length=128)
    rating: int = Field(ge=1, le=3)
    text: str = Field(min_length=1, max_length=5000)


class SellerDisputeFiledEvent(EventBridgeEnvelope):
    detail: SellerDisputeFiledDetail


class ListingUpdatedEvent(EventBridgeEnvelope):
    detail: ListingUpdatedDetail


class ProductReturnedEvent(EventBridgeEnvelope):
    detail: ProductReturnedDetail


class NegativeReviewPostedEvent(EventBridgeEnvelope):
    detail: NegativeReviewPostedDetail


FeedbackEvent = (
    SellerDisputeFiledEvent | ListingUpdatedEvent | ProductReturnedEvent | NegativeReviewPostedEvent
)
EVENT_MODELS: dict[str, type[FeedbackEvent]] = {
    "SellerDisputeFiled": SellerDisputeFiledEvent,
    "ListingUpdated": ListingUpdatedEvent,
    "ProductReturned": ProductReturnedEvent,
    "NegativeReviewPosted": NegativeReviewPostedEvent,
}
EVENT_SOURCES: dict[str, str] = {
    "SellerDisputeFiled": SOURCE_SELLER,
    "ListingUpdated": SOURCE_SELLER,
    "ProductReturned": SOURCE_CUSTOMER,
    "NegativeReviewPosted": SOURCE_CUSTOMER,
}

# ------------------------------------------------------------------------------------------------ signals


class AttributeClaim(BaseModel):
    """What a signal says about one attribute: its name as the sender wrote it and, when known, the value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str = Field(min_length=1, max_length=60)
    claimed_value: str | None = Field(default=None, max_length=MAX_VALUE_CHARS)
    previous_value: str | None = Field(default=None, max_length=5000)


class FeedbackSignal(BaseModel):
    """One feedback event in the form the LearnFromFeedback workflow passes between states."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal_id: str = Field(min_length=1, max_length=160, description="kind:sender id; the idempotency key")
    kind: FeedbackKind
    channel: FeedbackChannel
    event_id: str = Field(min_length=1, max_length=128)
    product_id: ProductId
    claims: list[AttributeClaim] = Field(default_factory=list, max_length=50)
    other_fields: list[str] = Field(default_factory=list, max_length=50)
    reason_code: str | None = None
    rating: int | None = None
    text: str = Field(default="", max_length=5000)
    reporter: str | None = Field(default=None, max_length=140, description="customer:<id> or order:<id>")


def _reporter(customer_id: str | None, order_id: str | None) -> str | None:
    if customer_id:
        return f"customer:{customer_id}"
    return f"order:{order_id}" if order_id else None


def signal_of(event: FeedbackEvent) -> FeedbackSignal:
    """The workflow's view of a validated feedback event."""
    detail = event.detail
    common: dict[str, Any] = {"event_id": event.id, "product_id": detail.product_id}
    if isinstance(detail, SellerDisputeFiledDetail):
        return FeedbackSignal(
            signal_id=f"SellerDisputeFiled:{detail.dispute_id}",
            kind="SellerDisputeFiled",
            channel="seller_feedback",
            claims=[AttributeClaim(attribute=detail.attribute, claimed_value=detail.claimed_value)],
            text=detail.evidence,
            **common,
        )
    if isinstance(detail, ListingUpdatedDetail):
        claims = [
            AttributeClaim(
                attribute=change.field,
                claimed_value=(change.new or "")[:MAX_VALUE_CHARS] or None,
                previous_value=change.old,
            )
            for change in detail.changes
        ]
        return FeedbackSignal(
            signal_id=f"ListingUpdated:{detail.update_id}",
            kind="ListingUpdated",
            channel="seller_feedback",
            claims=claims,
            **common,
        )
    if isinstance(detail, ProductReturnedDetail):
        return FeedbackSignal(
            signal_id=f"ProductReturned:{detail.return_id}",
            kind="ProductReturned",
            channel="customer_feedback",
            reason_code=detail.reason_code,
            text=detail.text,
            reporter=_reporter(detail.customer_id, detail.order_id),
            **common,
        )
    return FeedbackSignal(
        signal_id=f"NegativeReviewPosted:{detail.review_id}",
        kind="NegativeReviewPosted",
        channel="customer_feedback",
        rating=detail.rating,
        text=detail.text,
        reporter=_reporter(detail.customer_id, detail.order_id),
        **common,
    )


def describe_feedback_error(error: ValidationError) -> str:
    """`field: message` for the first problems of an invalid feedback event."""
    return describe_validation_error(error, limit=8)
