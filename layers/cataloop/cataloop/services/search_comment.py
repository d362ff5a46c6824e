"""The AI comment on search results (`GET /search/comment`): the token a search response carries, and the
comment answered for it, over ports only.

The comment is a separate call so that results are never delayed by a model: the token carries the
(guardrail-checked) query and the result ids, the comment is grounded on those products' metadata only,
and the guardrail checks it again on the way out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from cataloop.domain.model_calls import ModelRequest
from cataloop.domain.search.comment import (
    COMMENT_TOP_N,
    DEFAULT_TOKEN_TTL_SECONDS,
    CommentOutput,
    CommentRequest,
    SearchComment,
    comment_from_model,
    make_comment_token,
    offline_comment,
    read_comment_token,
    render_commenter_prompt,
)
from cataloop.errors import CataloopError, ModelError, RetryableModelError
from cataloop.ports import Guardrail, ModelClient, ProductStore

logger = logging.getLogger(__name__)


ProductDocumentLookup = Callable[[Sequence[str]], list[dict[str, Any]]]
"""Product ids -> their indexed documents (with `id`), in the order asked; unknown ids are left out."""


def documents_from_product_store(store: ProductStore) -> ProductDocumentLookup:
    """A lookup that rebuilds each product's search document from the Products table (the source of truth
    the index is built from), so a comment never depends on a second index read path."""
    from cataloop.domain.search.documents import product_document

    def lookup(product_ids: Sequence[str]) -> list[dict[str, Any]]:
        documents = []
        for product_id in product_ids:
            stored = store.get(product_id)
            if stored is not None:
                document = product_document(stored.listing, stored.enrichment or None, stored.version)
                documents.append(document.source())
        return documents

    return lookup


class SearchComments:
    """Issues the comment token for a page of results and answers `GET /search/comment` with it."""

    def __init__(
        self,
        guardrail: Guardrail,
        token_secret: bytes | str,
        *,
        documents: ProductDocumentLookup | None = None,
        commenter: ModelClient | None = None,
        top_n: int = COMMENT_TOP_N,
        token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.guardrail = guardrail
        self.documents = documents
        self.commenter = commenter
        self.top_n = top_n
        self.token_ttl_seconds = token_ttl_seconds
        self._token_secret = token_secret
        self._clock = clock

    def token(self, query: str, ranked_ids: Sequence[str]) -> str:
        """A signed token for the query and the first `top_n` of the ranked result ids."""
        top_ids = list(ranked_ids[: self.top_n])
        return make_comment_token(query, top_ids, self._token_secret, self._clock(), self.token_ttl_seconds)

    def comment(self, token: str) -> SearchComment:
        """The AI comment for a token from `token`, grounded on those results' metadata only; InvalidInput
        when the token is bad or expired or its products are gone."""
        if self.documents is None:
            raise CataloopError("comments need a product document lookup; wire `documents=`")
        claims = read_comment_token(token, self._token_secret, self._clock())
        documents = self.documents(claims.result_ids)
        request = CommentRequest.from_documents(claims.query, documents, self.top_n)
        comment = self._model_comment(request) or offline_comment(request)
        checked = self._checked(comment)
        if checked is None and comment.source == "model":
            checked = self._checked(offline_comment(request))
        if checked is None:
            return SearchComment(
                text="이 결과에 대한 코멘트를 표시할 수 없습니다."
                if request.language == "ko"
                else "No comment can be shown for these results.",
                language=request.language,
                grounded_on=[],
                source="offline-template",
            )
        return checked

    def _model_comment(self, request: CommentRequest) -> SearchComment | None:
        if self.commenter is None:
            return None
        try:
            response = self.commenter.invoke(
                ModelRequest(
                    role="commenter",
                    prompt=render_commenter_prompt(request),
                    payload=request.model_dump(mode="json"),
                    max_output_tokens=512,
                ),
                CommentOutput,
            )
            return comment_from_model(request, response.output, response.model_id)
        except (ModelError, RetryableModelError) as error:
            # The offline template is always correct, if plain: a failing model degrades, never breaks.
            logger.warning("commenter model failed, using the offline template: %s", error)
            return None

    def _checked(self, comment: SearchComment) -> SearchComment | None:
        verdict = self.guardrail.check(comment.text, "OUTPUT")
        text = verdict.text_to_use(comment.text)
        if text is None:
            return None
        return comment if text == comment.text else comment.model_copy(update={"text": text})
