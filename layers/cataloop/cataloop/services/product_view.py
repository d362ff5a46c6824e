"""What happened to one product, as data: `cataloop product show` prints it, `GET /kb/products/{id}` returns it.

The report is read from the Products table (the current version of the product: status, attributes with
their value, confidence and evidence, the consensus decision, each worker's extraction, the evaluator's
verdicts, the supervisor's resolution, tokens and modelled cost, the feedback applied) and from the
Knowledge table (the learnings injected and used, with their CURRENT text, status and counters).

The Products table keeps the current version of a product only (`ProductStore` has no history read): the
report's `history` is None rather than a reconstruction; the feedback the product carries
(`provenance.feedback`) is its recorded change history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cataloop.domain.catalog.stored import StoredProduct
from cataloop.ports import KnowledgeStore, ProductStore

HISTORY_NOT_STORED = "not stored (the Products table keeps the current version only)"


def _learning_rows(provenance: Mapping[str, Any], knowledge: KnowledgeStore | None) -> list[dict[str, Any]]:
    """One row per learning injected or used: id, the version injected, whether it was used, and the
    learning as the knowledge store holds it now (version, status, text), or None when it is gone."""
    injected = {
        str(item.get("id")): item.get("version")
        for item in provenance.get("learnings_injected") or []
        if isinstance(item, Mapping) and item.get("id")
    }
    used = [str(i) for i in provenance.get("learnings_used") or [] if i]
    rows = []
    for learning_id in dict.fromkeys([*injected, *used]):
        current = knowledge.get_learning(learning_id) if knowledge is not None else None
        rows.append(
            {
                "id": learning_id,
                "injected_version": injected.get(learning_id),
                "injected": learning_id in injected,
                "used": learning_id in used,
                "current": None
                if current is None
                else {
                    "version": current.version,
                    "status": getattr(current.status, "value", str(current.status)),
                    "text": current.text,
                    "helpful": current.helpful,
                    "harmful": current.harmful,
                },
            }
        )
    return rows


def product_report(stored: StoredProduct, knowledge: KnowledgeStore | None) -> dict[str, Any]:
    """One product's current version and what decided it, as JSON-ready data (`knowledge` None: the
    learning rows carry no current text)."""
    enrichment = stored.enrichment or {}
    provenance = stored.provenance or {}
    return {
        "product_id": stored.product_id,
        "version": stored.version,
        "status": getattr(stored.status, "value", str(stored.status)),
        "title": stored.listing.title,
        "category_path": list(stored.listing.category_path),
        "created_at": stored.created_at,
        "updated_at": stored.updated_at,
        "source_event_id": stored.source_event_id,
        "attributes": dict(enrichment.get("attributes") or {}),
        "search_title": enrichment.get("search_title"),
        "decision": provenance.get("decision"),
        "disagreed_attributes": list(provenance.get("disagreed_attributes") or []),
        "consensus_reasons": list(provenance.get("consensus_reasons") or []),
        "workers": list(provenance.get("workers") or []),
        "evaluator": provenance.get("evaluator"),
        "supervisor": provenance.get("supervisor"),
        "learnings": _learning_rows(provenance, knowledge),
        "models": list(provenance.get("models") or []),
        "prompts": list(provenance.get("prompts") or []),
        "tokens": provenance.get("tokens"),
        "modelled_cost": provenance.get("modelled_cost"),
        "execution_id": provenance.get("execution_id"),
        "feedback": list(provenance.get("feedback") or []),
        "history": None,
    }


def show_product(products: ProductStore, knowledge: KnowledgeStore, product_id: str) -> dict[str, Any] | None:
    """The report of `product_id`, or None when no such product is stored."""
    stored = products.get(product_id)
    return None if stored is None else product_report(stored, knowledge)
