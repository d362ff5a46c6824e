"""The HTTP edge's error bodies: one `{"message": ...}` shape for every API, saying what to fix."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response


def error_response(status: int, message: str) -> Response[str]:
    return Response(
        status_code=status, content_type="application/json", body=json.dumps({"message": message})
    )


def describe_request_validation(errors: list[dict[str, Any]], limit: int = 10) -> str:
    """Powertools' request-validation errors as one readable line (`field: problem; ...`)."""
    problems = []
    for item in errors[:limit]:
        location = [str(part) for part in item.get("loc", ()) if part not in ("query", "body")]
        problems.append(f"{'.'.join(location) or 'request'}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)
