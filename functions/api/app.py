"""HTTP API: health now; search and knowledge-base routes are added here as they land."""

from __future__ import annotations

from typing import Any

import cataloop
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from cataloop.settings import settings

logger = Logger()
tracer = Tracer()
app = APIGatewayHttpResolver(enable_validation=True)


@app.get("/health")
@tracer.capture_method
def health() -> dict[str, str]:
    return {"status": "ok", "version": cataloop.__version__, "stage": settings().stage}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
