"""HTTP API: health, shopper search and the AI comment on search results (knowledge-base routes follow).

The OpenAPI document is generated from these routes (`openapi_document()`, exported to docs/openapi.json by
scripts/export_openapi.py). Errors a caller can fix answer 400 with `{"message": ...}`.
"""

import json
import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

import cataloop
from cataloop import wiring
from cataloop.domain.search.comment import MAX_TOKEN_CHARS, SearchComment
from cataloop.domain.search.query import MAX_PAGE, MAX_PAGE_SIZE, MAX_QUERY_CHARS, SortOrder
from cataloop.errors import CataloopError, InvalidInput, RetryableModelError
from cataloop.http_errors import describe_request_validation, error_response
from cataloop.observability import METRICS_NAMESPACE, SERVICE_NAME, logger, metrics, tracer
from cataloop.services.search import GuardrailRefused
from cataloop.services.search_models import SearchResponse
from cataloop.settings import settings

app = APIGatewayHttpResolver(enable_validation=True)


class ErrorMessage(BaseModel):
    """Every 4xx/5xx body: what went wrong and what to change."""

    message: str


def _responses(model: type[BaseModel], description: str) -> dict[int, Any]:
    return {200: {"description": description, "content": {"application/json": {"model": model}}}, **_ERRORS}


_ERRORS: dict[int, Any] = {
    400: {
        "description": "A parameter is missing or invalid, or the guardrail refused the query; "
        "`message` says what to change.",
        "content": {"application/json": {"model": ErrorMessage}},
    },
    503: {
        "description": "A dependency (guardrail, model) is throttled or unavailable; retry with backoff.",
        "content": {"application/json": {"model": ErrorMessage}},
    },
}


_error = error_response


@app.exception_handler(RequestValidationError)
def _invalid_parameters(error: RequestValidationError) -> Response[str]:
    return _error(400, describe_request_validation(list(error.errors())))


@app.exception_handler(InvalidInput)
def _invalid_input(error: InvalidInput) -> Response[str]:
    return _error(400, str(error))


@app.exception_handler(RetryableModelError)
def _unavailable(error: RetryableModelError) -> Response[str]:
    logger.warning("dependency unavailable", extra={"error": str(error)})
    return _error(503, "the search service is busy; retry in a few seconds")


@app.exception_handler(CataloopError)
def _service_error(error: CataloopError) -> Response[str]:
    logger.exception("search failed")
    return _error(500, "the search failed on our side; it has been logged")


@app.get("/health", summary="Liveness and version")
@tracer.capture_method
def health() -> dict[str, str]:
    return {"status": "ok", "version": cataloop.__version__, "stage": settings().stage}


@app.get(
    "/search",
    summary="Search products",
    description="Keyword or hybrid (lexical + k-NN) product search with the plan that produced the results "
    "and a token for GET /search/comment.",
    responses=_responses(SearchResponse, "One page of ranked results, the plan and a comment token."),
    tags=["search"],
)
@tracer.capture_method
def search(
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description="What the shopper typed: a product name, initial consonants (ㅇㅋㄹㅌ), text typed "
            "in the wrong keyboard layout, or a description (아침에 마시기 좋은 음료).",
        ),
    ],
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Results per page.")] = 20,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number.")] = 1,
    sort: Annotated[
        SortOrder | None,
        Query(description="Explicit order; left out, the query's own sort intent (저렴한 ...) decides."),
    ] = None,
) -> SearchResponse:
    params: dict[str, Any] = {"q": q, "size": size, "page": page}
    if sort is not None:
        params["sort"] = sort
    request_id = app.current_event.request_context.request_id
    started = time.perf_counter()
    try:
        response = wiring.search_service(settings()).search(params, request_id=request_id)
    except GuardrailRefused:
        metrics.add_metric(name="GuardrailActions", unit=MetricUnit.Count, value=1)
        raise
    _search_metrics(response, (time.perf_counter() - started) * 1000)
    return response


def _search_metrics(response: SearchResponse, latency_ms: float) -> None:
    """SearchLatencyMs per path (exact / keyword / hybrid), ZeroResultSearches, GuardrailActions (masked
    here, blocked in `search`) and ClassifierFallbacks, as Powertools EMF under dimension service."""
    plan = response.plan
    path = "exact" if plan.exact_match else plan.mode
    # Its own EMF document: the `path` dimension must not reach the other metrics of this invocation.
    with single_metric(
        name="SearchLatencyMs",
        unit=MetricUnit.Milliseconds,
        value=latency_ms,
        namespace=METRICS_NAMESPACE,
        default_dimensions={"service": SERVICE_NAME},
    ) as metric:
        metric.add_dimension(name="path", value=path)
    metrics.add_metric(name="Searches", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ZeroResultSearches", unit=MetricUnit.Count, value=int(response.total == 0))
    if plan.guardrail.action != "none":
        metrics.add_metric(name="GuardrailActions", unit=MetricUnit.Count, value=1)
    if plan.classification is not None and plan.classification.fell_back:
        metrics.add_metric(name="ClassifierFallbacks", unit=MetricUnit.Count, value=1)


@app.get(
    "/search/comment",
    summary="AI comment on search results",
    description="A short comment grounded only on the top results' metadata of the search that issued "
    "`token`; fetched separately so results are never delayed.",
    responses=_responses(SearchComment, "The comment and the product ids it is grounded on."),
    tags=["search"],
)
@tracer.capture_method
def search_comment(
    token: Annotated[
        str,
        Query(
            min_length=3,
            max_length=MAX_TOKEN_CHARS,
            description="`comment_token` from a GET /search response (valid for 10 minutes).",
        ),
    ],
) -> SearchComment:
    return wiring.search_service(settings()).comment(token)


def openapi_document() -> str:
    """The API's OpenAPI 3.1 document, as committed in docs/openapi.json (stable key order, UTF-8)."""
    document = json.loads(
        app.get_openapi_json_schema(
            title="Cataloop API",
            version=cataloop.__version__,
            description="Shopper search over the enriched catalog. Errors a caller can fix answer 400 with "
            '`{"message": ...}`.',
        )
    )
    # Validation errors are answered 400 (see _invalid_parameters), never Powertools' default 422.
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in json.dumps(document["paths"]):
            schemas.pop(unused, None)
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return app.resolve(event, context)
    finally:
        # Only a search adds metrics; flushing them here (not with log_metrics) keeps /health and
        # /search/comment from warning about an empty metric set on every call.
        if metrics.metric_set:
            metrics.flush_metrics()
