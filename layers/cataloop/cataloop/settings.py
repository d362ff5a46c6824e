"""Configuration, read once per process from environment variables into a typed object."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field


class Settings(BaseModel):
    """Everything the handlers need to find their resources and models. Defaults suit the local cloud."""

    stage: str = "dev"
    region: str = "us-east-1"
    products_table: str = "cataloop-dev-products"
    knowledge_table: str = "cataloop-dev-knowledge"
    idempotency_table: str = "cataloop-dev-idempotency"
    event_bus_name: str = "cataloop-dev"
    review_queue_url: str = ""
    model_provider: Literal["bedrock", "offline"] = "offline"
    generator_model_id: str = "offline-generator-a"
    generator_b_model_id: str = "offline-generator-b"
    evaluator_model_id: str = "offline-evaluator"
    supervisor_model_id: str = "offline-supervisor"
    audit_sample_rate: float = Field(default=0.05, ge=0, le=1)
    state_dir: str = ".cataloop"
    local: bool = False

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "stage": env.get("STAGE"),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            "products_table": env.get("PRODUCTS_TABLE"),
            "knowledge_table": env.get("KNOWLEDGE_TABLE"),
            "idempotency_table": env.get("IDEMPOTENCY_TABLE"),
            "event_bus_name": env.get("EVENT_BUS_NAME"),
            "review_queue_url": env.get("REVIEW_QUEUE_URL"),
            "model_provider": "offline" if env.get("CATALOOP_LOCAL") == "1" else env.get("MODEL_PROVIDER"),
            "generator_model_id": env.get("GENERATOR_MODEL_ID"),
            "generator_b_model_id": env.get("GENERATOR_B_MODEL_ID"),
            "evaluator_model_id": env.get("EVALUATOR_MODEL_ID"),
            "supervisor_model_id": env.get("SUPERVISOR_MODEL_ID"),
            "audit_sample_rate": env.get("AUDIT_SAMPLE_RATE"),
            "state_dir": env.get("CATALOOP_STATE_DIR"),
            "local": env.get("CATALOOP_LOCAL") == "1",
        }
        return cls(**{key: value for key, value in values.items() if value not in (None, "")})


@lru_cache(maxsize=8)
def _cached(fingerprint: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_environment()


def settings() -> Settings:
    """Settings for the current environment (cached per distinct environment, so the local cloud's
    per-function variables are honoured while a deployed Lambda reads them once)."""
    keys = (
        "STAGE",
        "PRODUCTS_TABLE",
        "KNOWLEDGE_TABLE",
        "IDEMPOTENCY_TABLE",
        "EVENT_BUS_NAME",
        "REVIEW_QUEUE_URL",
        "MODEL_PROVIDER",
        "CATALOOP_LOCAL",
        "CATALOOP_STATE_DIR",
        "AUDIT_SAMPLE_RATE",
    )
    return _cached(tuple((key, os.environ.get(key, "")) for key in keys))
