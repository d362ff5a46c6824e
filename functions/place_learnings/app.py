"""MemoryManager: place the supervisor's learnings in the knowledge tree (add, merge, replace, branch)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.observability import logger, metrics, tracer
from cataloop.services.knowledge_base import place_learning
from cataloop.services.knowledge_search import near_duplicate_finder
from cataloop.services.workflow import PlaceLearningsInput
from cataloop.settings import settings
from cataloop.validation import parse_as


@logger.inject_lambda_context(correlation_id_path="product_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse_as(PlaceLearningsInput, event, "PlaceLearnings state input")
    config = settings()
    store = wiring.knowledge_store(config)
    model = wiring.memory_manager_model(config)
    # Near-duplicates from the learnings index (built on the first draft; a lookup failure is logged and the
    # placement goes ahead without it).
    similar = near_duplicate_finder(lambda: wiring.knowledge_search(config))
    placed = []
    for draft in state.drafts:
        # A retried state is harmless: a draft from a product already in a learning's provenance is a noop.
        result = place_learning(
            draft,
            store,
            config.deployment_mode,
            model,
            execution_id=state.execution_id or None,
            similar=similar,
        )
        final = result.decisions[-1]
        logger.info(
            "learning placed",
            extra={
                "action": final.action,
                "node": final.node_path,
                "reason": final.reason,
                "decided_by": result.decided_by,
            },
        )
        metrics.add_metric(name=f"Placement_{final.action}", unit=MetricUnit.Count, value=1)
        placed.append(
            {
                "action": final.action,
                "node_path": final.node_path,
                "learning_ids": [learning.id for learning in result.changed],
            }
        )
    return {"product_id": state.product_id, "placed": placed}
