"""Validate external input with pydantic and turn failures into messages that say what to fix."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cataloop.errors import InvalidInput

ModelT = TypeVar("ModelT", bound=BaseModel)


def describe_validation_error(error: ValidationError, limit: int = 10) -> str:
    """One line per problem: `field.path: message` (at most `limit`, then a count of the rest)."""
    problems = []
    for item in error.errors()[:limit]:
        location = ".".join(str(part) for part in item["loc"]) or "(root)"
        problems.append(f"{location}: {item['msg']}")
    rest = error.error_count() - limit
    if rest > 0:
        problems.append(f"... and {rest} more")
    return "; ".join(problems)


def parse_as(model: type[ModelT], data: Any, what: str) -> ModelT:
    """Validate `data` as `model`; raise InvalidInput naming `what` and every invalid field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(f"invalid {what}: {describe_validation_error(error)}") from error
