"""The AI comment on search results: its grounded input, the offline template, the model prompt, and the
signed token that lets `GET /search/comment` fetch it after the results are already on screen.

A comment may use only the top results' metadata (names, brands, prices, ratings, counts, categories),
never descriptions: that keeps it grounded, short to prompt, and out of reach of seller-written
instructions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cataloop.domain.enrichment.prompting import data_block, sanitise_text
from cataloop.domain.model_calls import PromptText
from cataloop.domain.prompts import load_template
from cataloop.domain.search.hangul import is_syllable
from cataloop.errors import InvalidInput, ModelError

CommentLanguage = Literal["ko", "en"]

COMMENT_TOP_N = 5
MAX_COMMENT_RESULTS = 10
MAX_COMMENT_CHARS = 600
COMMENTER_TEMPLATE_VERSION = "v1"
TOKEN_VERSION = 1
DEFAULT_TOKEN_TTL_SECONDS = 600
MAX_TOKEN_CHARS = 4096
MIN_SECRET_BYTES = 16
# Tokens issued by a Lambda whose clock runs slightly ahead are still accepted by one slightly behind.
CLOCK_SKEW_SECONDS = 60
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def comment_language(query: str) -> CommentLanguage:
    """Korean when the query contains Hangul (syllables or jamo), otherwise English."""
    return "ko" if any(is_syllable(char) or "\u3131" <= char <= "\u318e" for char in query) else "en"


class CommentResult(BaseModel):
    """The metadata of one result that a comment may use."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1)
    brand: str | None = None
    price: float | None = Field(default=None, ge=0)
    currency: str = "KRW"
    rating: float | None = Field(default=None, ge=0, le=5)
    review_count: int = Field(default=0, ge=0)
    purchase_count: int = Field(default=0, ge=0)
    is_food: bool | None = None
    category_path: list[str] = Field(default_factory=list)

    @field_validator("name", "brand")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        # Seller text: tags and control characters never reach a prompt or the shopper's screen.
        if value is None:
            return None
        cleaned = sanitise_text(value)[:200]
        if not cleaned:
            raise ValueError("is empty once markup is removed")
        return cleaned

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> CommentResult:
        """Take the comment fields from an indexed product document; other fields are ignored."""
        return cls.model_validate(doc)


class CommentRequest(BaseModel):
    """What a comment is grounded on: the query and the top results, best first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(min_length=1, max_length=200)
    results: list[CommentResult] = Field(min_length=1, max_length=MAX_COMMENT_RESULTS)

    @property
    def language(self) -> CommentLanguage:
        return comment_language(self.query)

    @classmethod
    def from_documents(
        cls, query: str, docs: Sequence[Mapping[str, Any]], top_n: int = COMMENT_TOP_N
    ) -> CommentRequest:
        """Build a request from ranked documents, keeping the first `top_n`; InvalidInput when none."""
        if not docs:
            raise InvalidInput("a comment needs at least one search result; there is nothing to comment on")
        results = []
        for position, doc in enumerate(docs[:top_n], 1):
            try:
                results.append(CommentResult.from_document(doc))
            except ValidationError as error:
                raise InvalidInput(
                    f"comment request: result {position} (id {doc.get('id')!r}): {_problems(error)}"
                ) from error
        try:
            return cls(query=query, results=results)
        except ValidationError as error:
            raise InvalidInput(f"comment request: {_problems(error)}") from error


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()
    )


class SearchComment(BaseModel):
    """A comment as the API returns it, with the ids it is grounded on and what produced it."""

    model_config = ConfigDict(frozen=True)

    text: str
    language: CommentLanguage
    grounded_on: list[str]
    source: Literal["offline-template", "model"]
    model_id: str | None = None


class CommentOutput(BaseModel):
    """The structured output the commenter model must return (the Converse tool schema)."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=MAX_COMMENT_CHARS)
    product_ids: list[str] = Field(default_factory=list, max_length=MAX_COMMENT_RESULTS)


# --- offline template ---------------------------------------------------------------------------------


def _price_text(result: CommentResult, language: CommentLanguage) -> str:
    assert result.price is not None
    if result.currency == "KRW":
        return f"{result.price:,.0f}원" if language == "ko" else f"KRW {result.price:,.0f}"
    return f"{result.currency} {result.price:,.2f}"


def _rating_text(result: CommentResult, language: CommentLanguage) -> str:
    if language == "ko":
        return f"평점 {result.rating:.1f}, 리뷰 {result.review_count:,}개"
    return f"rated {result.rating:.1f} from {result.review_count:,} reviews"


def offline_comment(request: CommentRequest) -> SearchComment:
    """A deterministic comment from a template: the cheapest, the best-rated and the most-bought of the
    top results, plus their brands. Every fact comes from `request`; nothing is generated."""
    language = request.language
    results = request.results
    priced = [result for result in results if result.price is not None]
    rated = [result for result in results if result.rating is not None and result.review_count > 0]
    cheapest = min(priced, key=lambda result: result.price or 0.0) if priced else None
    best_rated = max(rated, key=lambda result: (result.rating or 0.0, result.review_count)) if rated else None
    most_bought = max(results, key=lambda result: result.purchase_count)
    brands = list(dict.fromkeys(result.brand for result in results if result.brand))
    cited: list[str] = []
    sentences: list[str] = []
    if len(results) == 1:  # one product (e.g. an exact name's page): described, not compared with itself
        return _single_product_comment(results[0], language)

    if language == "ko":
        sentences.append(f"상위 {len(results)}개 결과를 비교했습니다.")
        if cheapest is not None and cheapest == best_rated:
            sentences.append(
                f"가장 저렴하면서 평점도 가장 높은 상품은 {cheapest.name}"
                f"({_price_text(cheapest, language)}, {_rating_text(cheapest, language)})입니다."
            )
            cited.append(cheapest.id)
        elif cheapest is not None:
            sentences.append(f"가장 저렴한 상품은 {cheapest.name}({_price_text(cheapest, language)})입니다.")
            cited.append(cheapest.id)
        if best_rated is not None and best_rated != cheapest:
            sentences.append(
                f"평점이 가장 높은 상품은 {best_rated.name}({_rating_text(best_rated, language)})입니다."
            )
            cited.append(best_rated.id)
        if most_bought.purchase_count > 0:
            sentences.append(
                f"가장 많이 구매된 상품은 {most_bought.name}(구매 {most_bought.purchase_count:,}건)입니다."
            )
            cited.append(most_bought.id)
        if brands:
            sentences.append(f"브랜드: {', '.join(brands[:4])}.")
    else:
        sentences.append(f"Comparing the top {len(results)} results.")
        if cheapest is not None and cheapest == best_rated:
            sentences.append(
                f"{cheapest.name} is both the lowest priced ({_price_text(cheapest, language)}) and the "
                f"best rated ({_rating_text(cheapest, language)})."
            )
            cited.append(cheapest.id)
        elif cheapest is not None:
            sentences.append(f"The lowest price is {cheapest.name} ({_price_text(cheapest, language)}).")
            cited.append(cheapest.id)
        if best_rated is not None and best_rated != cheapest:
            sentences.append(f"The best rated is {best_rated.name} ({_rating_text(best_rated, language)}).")
            cited.append(best_rated.id)
        if most_bought.purchase_count > 0:
            sentences.append(
                f"The most bought is {most_bought.name} ({most_bought.purchase_count:,} purchases)."
            )
            cited.append(most_bought.id)
        if brands:
            sentences.append(f"Brands: {', '.join(brands[:4])}.")

    return SearchComment(
        text=" ".join(sentences),
        language=language,
        grounded_on=list(dict.fromkeys(cited)) or [results[0].id],
        source="offline-template",
    )


def _single_product_comment(result: CommentResult, language: CommentLanguage) -> SearchComment:
    facts = []
    if result.price is not None:
        facts.append(_price_text(result, language))
    if result.rating is not None and result.review_count > 0:
        facts.append(_rating_text(result, language))
    if result.purchase_count > 0:
        facts.append(
            f"구매 {result.purchase_count:,}건"
            if language == "ko"
            else f"{result.purchase_count:,} purchases"
        )
    details = f"({', '.join(facts)})" if facts else ""
    if language == "ko":
        text = f"결과는 1개입니다: {result.name}{details}."
    else:
        text = f"One result: {result.name}{' ' + details if details else ''}."
    return SearchComment(text=text, language=language, grounded_on=[result.id], source="offline-template")


# --- model prompt -------------------------------------------------------------------------------------


def render_commenter_prompt(request: CommentRequest, max_sentences: int = 3) -> PromptText:
    """The commenter prompt: rules in the system part, query and results as an escaped data block."""
    slots = {
        "language_name": "Korean" if request.language == "ko" else "English",
        "max_sentences": str(max_sentences),
        "query": data_block(request.query),
        "results": data_block([result.model_dump(mode="json") for result in request.results]),
    }
    return load_template("commenter", COMMENTER_TEMPLATE_VERSION).render(slots)


def comment_from_model(request: CommentRequest, output: CommentOutput, model_id: str) -> SearchComment:
    """Accept a model's comment only if every product it cites is one of the request's results; raise
    ModelError otherwise (the caller falls back to `offline_comment`)."""
    known = {result.id for result in request.results}
    unknown = [product_id for product_id in output.product_ids if product_id not in known]
    if unknown:
        raise ModelError(f"the comment cites products that were not in its results: {unknown}")
    return SearchComment(
        text=" ".join(output.comment.split()),
        language=request.language,
        grounded_on=list(dict.fromkeys(output.product_ids)),
        source="model",
        model_id=model_id,
    )


# --- comment token ------------------------------------------------------------------------------------


class CommentTokenClaims(BaseModel):
    """What a comment token carries: the (guardrail-checked) query and the result ids, best first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(min_length=1, max_length=200)
    result_ids: list[str] = Field(min_length=1, max_length=MAX_COMMENT_RESULTS)
    issued_at: int
    expires_at: int


# The token payload's JSON encoder, built once (a token is made on every search).
_TOKEN_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _key(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the comment token secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def _epoch(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("pass an aware datetime (e.g. datetime.now(UTC)) as `now`")
    return int(now.astimezone(UTC).timestamp())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, key: bytes) -> str:
    return _b64(hmac.digest(key, payload.encode("ascii"), hashlib.sha256))


def make_comment_token(
    query: str,
    result_ids: Sequence[str],
    secret: bytes | str,
    now: datetime,
    ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
) -> str:
    """A URL-safe token `payload.signature` (HMAC-SHA256) valid for `ttl_seconds`. The payload is signed,
    not encrypted: put in it only what the shopper already sees (their query, result ids)."""
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued = _epoch(now)
    claims = CommentTokenClaims(
        query=query, result_ids=list(result_ids)[:MAX_COMMENT_RESULTS], issued_at=issued,
        expires_at=issued + ttl_seconds,
    )  # fmt: skip
    body = {"v": TOKEN_VERSION, **claims.model_dump()}
    payload = _b64(_TOKEN_JSON.encode(body).encode("utf-8"))
    return f"{payload}.{_signature(payload, _key(secret))}"


def read_comment_token(token: str, secret: bytes | str, now: datetime) -> CommentTokenClaims:
    """Verify and decode a token from `make_comment_token`; InvalidInput when it is malformed, signed with
    another key, altered, or expired."""
    key = _key(secret)
    if len(token) > MAX_TOKEN_CHARS or not _TOKEN_SHAPE.fullmatch(token):
        raise InvalidInput("comment token is malformed; use the token returned by GET /search")
    payload, signature = token.split(".")
    if not hmac.compare_digest(signature, _signature(payload, key)):
        raise InvalidInput("comment token signature does not match; use the token returned by GET /search")
    try:
        body = json.loads(_unb64(payload).decode("utf-8"))
        if not isinstance(body, dict) or body.pop("v", None) != TOKEN_VERSION:
            raise ValueError("unknown token version")
        claims = CommentTokenClaims.model_validate(body)
    except (ValueError, binascii.Error, ValidationError) as error:
        raise InvalidInput("comment token is malformed; use the token returned by GET /search") from error
    current = _epoch(now)
    if current >= claims.expires_at:
        raise InvalidInput(
            f"comment token expired {current - claims.expires_at + 1} s ago; run the search again for a new one"
        )
    if claims.issued_at > current + CLOCK_SKEW_SECONDS:
        raise InvalidInput("comment token is issued in the future; use the token returned by GET /search")
    return claims
