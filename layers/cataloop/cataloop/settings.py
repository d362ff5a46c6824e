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
    review_confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    deployment_mode: Literal["deploy_and_learn", "learn_then_deploy"] = "deploy_and_learn"
    memory_manager_model_id: str = ""
    learning_token_budget: int = Field(default=400, ge=0, le=20000)
    state_dir: str = ".cataloop"
    local: bool = False
    reference_set_path: str = ""
    search_backend: Literal["local", "opensearch"] = "local"
    opensearch_host: str = ""
    opensearch_service: Literal["es", "aoss"] = "es"
    products_alias: str = "products"
    embedding_provider: Literal["bedrock", "local"] = "local"
    embedding_model_id: str = "amazon.titan-embed-text-v2:0"
    embedding_dimension: int = Field(default=384, ge=8, le=4096)
    dictionary_dir: str = ""

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
            "reference_set_path": env.get("CATALOOP_REFERENCE_SET"),
            "search_backend": "local" if env.get("CATALOOP_LOCAL") == "1" else env.get("SEARCH_BACKEND"),
            "opensearch_host": env.get("OPENSEARCH_HOST"),
            "opensearch_service": env.get("OPENSEARCH_SERVICE"),
            "products_alias": env.get("PRODUCTS_ALIAS"),
            "embedding_provider": "local"
            if env.get("CATALOOP_LOCAL") == "1"
            else env.get("EMBEDDING_PROVIDER"),
            "embedding_model_id": env.get("EMBEDDING_MODEL_ID"),
            "embedding_dimension": 384
            if env.get("CATALOOP_LOCAL") == "1"
            else env.get("EMBEDDING_DIMENSION"),
            "dictionary_dir": env.get("CATALOOP_DICTIONARY_DIR"),
            "deployment_mode": env.get("DEPLOYMENT_MODE"),
            "memory_manager_model_id": env.get("MEMORY_MANAGER_MODEL_ID"),
            "learning_token_budget": env.get("LEARNING_TOKEN_BUDGET"),
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
