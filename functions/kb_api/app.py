"""Knowledge-base administration API (IAM-authorised routes): browse, show, approve, retire, edit, export, import;
the operator console's read-only views: one product's report and the north-star metrics; and the human-review
queue: the products waiting for a reviewer, one of them with its candidates, and the reviewer's decision.

The actor recorded in each audit entry is the caller's IAM identity from the request context, so an
expert's change is attributable without trusting anything in the request body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from cataloop import wiring
from cataloop.domain.knowledge.tree import DeploymentMode
from cataloop.errors import CataloopError, Conflict, NotFound
from cataloop.http_errors import describe_request_validation, error_response
from cataloop.observability import logger, tracer
from cataloop.services import knowledge_admin as kb
from cataloop.services import north_star, product_view, review_decisions
from cataloop.settings import settings

app = APIGatewayHttpResolver(enable_validation=True)


class Decision(BaseModel):
    reason: str = Field(min_length=3, max_length=500, description="why (kept in the audit trail)")


class Edit(Decision):
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=400,
        description="the new wording (derived from the directive when left out)",
    )
    directive: dict[str, Any] | None = Field(
        default=None,
        description="what extraction follows: {type: value_lexicon|not_value|pattern|attribute_fact, ...}",
    )


class ReviewDecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decisions: dict[str, str | None] = Field(
        min_length=1,
        max_length=50,
        description="attribute -> the decided value; null (or '') clears the attribute",
    )
    reason: str = Field(
        default="",
        max_length=review_decisions.MAX_REASON_CHARS,
        description="why (kept with the decision in the product's feedback history)",
    )


def _actor() -> str:
    iam = (
        app.current_event.request_context.authorizer.iam
        if app.current_event.request_context.authorizer
        else None
    )
    arn = getattr(iam, "user_arn", None) if iam else None
    return str(arn or "local-developer")


def _store() -> Any:
    return wiring.knowledge_store(settings())


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[str]:
    return error_response(400, describe_request_validation(list(error.errors())))


@app.exception_handler(NotFoundError)
def _not_found(error: NotFoundError) -> Response[str]:
    return error_response(404, str(error) or "Not found")


@app.exception_handler(CataloopError)
def _domain_error(error: CataloopError) -> Response[str]:
    status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 400
    return error_response(status, str(error))


@app.get("/kb/tree")
def tree() -> list[dict[str, Any]]:
    return [node.model_dump(mode="json") for node in kb.knowledge_tree(_store())]


@app.get("/kb/learnings/<learning_id>")
def show(learning_id: str) -> dict[str, Any]:
    return kb.show_learning(_store(), learning_id).model_dump(mode="json")


@app.post("/kb/learnings/<learning_id>/approve")
def approve(learning_id: str, decision: Decision) -> dict[str, Any]:
    return kb.approve(_store(), learning_id, _actor(), decision.reason).model_dump(mode="json")


@app.post("/kb/learnings/<learning_id>/retire")
def retire(learning_id: str, decision: Decision) -> dict[str, Any]:
    return kb.retire(_store(), learning_id, _actor(), decision.reason).model_dump(mode="json")


@app.put("/kb/learnings/<learning_id>")
def edit(learning_id: str, change: Edit) -> dict[str, Any]:
    directive = kb.parse_directive(change.directive) if change.directive is not None else None
    return kb.edit(_store(), learning_id, change.text, _actor(), change.reason, directive).model_dump(
        mode="json"
    )


@app.get("/kb/products/<product_id>")
def product(product_id: str) -> dict[str, Any]:
    report = product_view.show_product(wiring.product_store(settings()), _store(), product_id)
    if report is None:
        raise NotFoundError(f"no product {product_id!r}")
    return report


@app.get("/kb/metrics")
def metrics(
    group: Annotated[
        Literal["batch", "day"], Query(description="a point per batch of products or per UTC day")
    ] = "batch",
    size: Annotated[
        int, Query(ge=1, le=north_star.MAX_BATCH_SIZE, description="products per batch (group=batch)")
    ] = north_star.DEFAULT_BATCH_SIZE,
    top: Annotated[
        int, Query(ge=1, le=north_star.MAX_TOP_CATEGORIES, description="top-level categories to break out")
    ] = north_star.DEFAULT_TOP_CATEGORIES,
) -> dict[str, Any]:
    products = north_star.stored_products(wiring.product_store(settings()).scan())
    return north_star.north_star(products, group, size, top).model_dump(mode="json")


@app.get("/kb/review")
def review_queue() -> list[dict[str, Any]]:
    return [
        item.model_dump(mode="json")
        for item in review_decisions.waiting_for_review(wiring.product_store(settings()))
    ]


@app.get("/kb/review/<product_id>")
def review_item(product_id: str) -> dict[str, Any]:
    detail = review_decisions.review_detail(wiring.product_store(settings()), _store(), product_id)
    return detail.model_dump(mode="json")


@app.post("/kb/review/<product_id>/decide")
def review_decide(product_id: str, body: ReviewDecisionBody) -> dict[str, Any]:
    config = settings()
    return review_decisions.apply_review_decision(
        product_id,
        body.decisions,
        _actor(),
        wiring.product_store(config),
        _store(),
        DeploymentMode(config.deployment_mode),
        memory_model=wiring.memory_manager_model(config),
        reason=body.reason,
        waiting_only=True,
    ).model_dump(mode="json")


@app.get("/kb/export")
def export() -> dict[str, Any]:
    return kb.export_snapshot(_store()).model_dump(mode="json")


@app.post("/kb/import")
def import_snapshot() -> dict[str, Any]:
    body = app.current_event.body
    if not body:
        raise BadRequestError("send the snapshot JSON as the request body")
    return kb.import_snapshot(_store(), body, _actor()).model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
