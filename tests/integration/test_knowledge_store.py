"""The knowledge base on a (moto) DynamoDB table: conditional writes, concurrent writers, snapshots,
influence queries and the audit actions, through the real adapter and services."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cataloop.adapters.dynamodb_knowledge import DynamoKnowledgeStore
from cataloop.domain.knowledge.learning import (
    AttributeFact,
    LearningDraft,
    LearningProvenance,
    UnitPattern,
    ValueLexicon,
)
from cataloop.domain.knowledge.placement import PlacementDecision, PlacementPlan
from cataloop.domain.knowledge.tree import (
    DeploymentMode,
    KnowledgeChange,
    KnowledgeNode,
    LearningStatus,
    path_key,
)
from cataloop.domain.model_calls import ModelRequest, ModelResponse
from cataloop.errors import Conflict, InvalidInput
from cataloop.services import knowledge_admin as kb_admin
from cataloop.services import knowledge_base as kb

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TABLE = "cataloop-test-knowledge"


def _now() -> datetime:
    return NOW


def _no_backoff(attempt: int) -> None:
    return None


class SerialisedClient:
    """DynamoDB evaluates a conditional write atomically on the server; moto checks and writes in two Python
    steps, so two threads could both pass a condition. Serialising each API call restores the server's
    per-request atomicity while the read-decide-write races between calls stay real."""

    def __init__(self, client: Any):
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def _create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(client, TABLE)
        yield SerialisedClient(client)


@pytest.fixture
def store(dynamodb: Any) -> DynamoKnowledgeStore:
    return DynamoKnowledgeStore(dynamodb, TABLE)


def _count(dynamodb: Any, table: str) -> int:
    return len(dynamodb.scan(TableName=table)["Items"])


def brand(values: list[str], scope: list[str], product: str) -> LearningDraft:
    return LearningDraft(
        text=f"In {scope[-1]}, " + ", ".join(f"'{v}'" for v in values) + " are Brand values.",
        scope_path=scope,
        attributes=["Brand"],
        directive=ValueLexicon(attribute="Brand", values=values),
        provenance=LearningProvenance(product_id=product),
    )


def pack_unit(term: str, scope: list[str], product: str) -> LearningDraft:
    return LearningDraft(
        text=f"A number before '{term}' is the Pack Count.",
        scope_path=scope,
        attributes=["Pack Count"],
        directive=UnitPattern(attribute="Pack Count", unit_terms=[term]),
        provenance=LearningProvenance(product_id=product),
    )


def place(
    store: DynamoKnowledgeStore, draft: LearningDraft, mode: DeploymentMode = DeploymentMode.DEPLOY_AND_LEARN
):
    return kb.place_learning(draft, store, mode, now=_now, backoff=_no_backoff)


# ---------------------------------------------------------------------------------- conditional writes


def test_writes_are_conditional_on_the_version_read(store: DynamoKnowledgeStore) -> None:
    result = place(store, brand(["Lavazza"], ["Coffee"], "p1"))
    (learning,) = result.changed
    stored = store.get_learning(learning.id)
    assert stored == learning

    stale = learning.revise(NOW, "ana", "upvoted", "helped", votes=3)
    store.put_learning(stale)
    assert store.get_learning(learning.id).version == 2  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        store.put_learning(stale)  # written over version 1, which is no longer stored
    with pytest.raises(Conflict):
        store.put_node(KnowledgeNode(path=["Coffee"], version=1))  # already exists
    node = store.get_node(["Coffee"])
    assert node is not None and node.learning_count == 1 and node.version == 2


def test_a_failed_transaction_writes_none_of_its_items(store: DynamoKnowledgeStore, dynamodb: Any) -> None:
    place(store, brand(["Lavazza"], ["Coffee"], "p1"))
    before = _count(dynamodb, TABLE)
    root = store.get_node([])
    assert root is not None
    change = KnowledgeChange(
        nodes=[KnowledgeNode(path=["Tea"], version=1), root.model_copy(update={"version": root.version + 5})]
    )
    with pytest.raises(Conflict):
        store.commit(change)
    assert _count(dynamodb, TABLE) == before and store.get_node(["Tea"]) is None


def test_eight_concurrent_writers_on_one_node_lose_nothing(store: DynamoKnowledgeStore) -> None:
    scope = ["Food", "Coffee"]
    drafts = [brand([f"Brand {i}"], scope, f"p{i}") for i in range(4)]
    drafts += [
        pack_unit(term, scope, f"q{i}") for i, term in enumerate(["Count", "Pods", "Sticks", "Capsules"])
    ]
    barrier = threading.Barrier(len(drafts), timeout=60)
    first_commit: set[int] = set()
    commit = store.commit

    def colliding_commit(change: KnowledgeChange) -> None:
        # Everyone decides on the same (empty) tree before anyone commits: a guaranteed collision.
        me = threading.get_ident()
        if me not in first_commit:
            first_commit.add(me)
            barrier.wait()
        commit(change)

    store.commit = colliding_commit  # type: ignore[method-assign]
    results: list[kb.PlacementResult] = []
    errors: list[BaseException] = []

    def writer(draft: LearningDraft) -> None:
        try:
            results.append(place(store, draft))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(draft,)) for draft in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(result.attempts for result in results) > len(drafts), "the writers never collided"
    live = [item for item in store.list_learnings(scope) if item.live]
    assert len(live) == 2
    lexicon = next(item for item in live if isinstance(item.directive, ValueLexicon))
    pattern = next(item for item in live if isinstance(item.directive, UnitPattern))
    assert sorted(lexicon.directive.values) == [f"Brand {i}" for i in range(4)]  # type: ignore[union-attr]
    assert sorted(pattern.directive.unit_terms) == ["Capsules", "Count", "Pods", "Sticks"]  # type: ignore[union-attr]
    assert lexicon.support_count == 4 and pattern.support_count == 4
    assert sorted(lexicon.provenance.product_ids) == ["p0", "p1", "p2", "p3"]
    assert store.get_node(scope).learning_count == 2  # type: ignore[union-attr]
    assert [node.path for node in store.tree()] == [[], ["Food"], ["Food", "Coffee"]]


# ------------------------------------------------------------------------------------------- snapshots


def _populate(store: DynamoKnowledgeStore) -> None:
    place(store, brand(["Lavazza"], ["Food", "Coffee"], "p1"))
    place(store, brand(["Illy"], ["Food", "Coffee"], "p2"))
    place(store, pack_unit("Count", ["Food", "Coffee", "Pods"], "p3"))
    fact = LearningDraft(
        text="Every product in Yogurt has is_food = 'true'.",
        scope_path=["Food", "Dairy", "Yogurt"],
        attributes=["is_food"],
        directive=AttributeFact(attribute="is_food", value="true"),
    )
    place(store, fact)
    place(
        store,
        fact.model_copy(
            update={
                "text": "Every product in Yogurt has is_food = 'false'.",
                "directive": AttributeFact(attribute="is_food", value="false"),
            }
        ),
    )


def test_export_then_import_into_another_stage_round_trips(
    store: DynamoKnowledgeStore, dynamodb: Any
) -> None:
    _populate(store)
    snapshot = kb_admin.export_snapshot(store, NOW)
    assert len(snapshot.learnings) == 4 and sum(item.live for item in snapshot.learnings) == 3

    _create_table(dynamodb, "prod-knowledge")
    prod = DynamoKnowledgeStore(dynamodb, "prod-knowledge")
    result = kb_admin.import_snapshot(prod, snapshot.model_dump_json())
    assert result.model_dump() == {"nodes": len(snapshot.nodes), "learnings_written": 4, "learnings_kept": 0}

    again = kb_admin.export_snapshot(prod, NOW)
    # Imported learnings land proposed, with the importer in the audit trail; the rest round-trips.
    for imported, exported in zip(again.learnings, snapshot.learnings, strict=True):
        assert imported.model_dump(exclude={"status", "audit"}) == exported.model_dump(
            exclude={"status", "audit"}
        )
        if exported.live:
            assert imported.status.value == "proposed"
            assert (imported.audit[-1].action, imported.audit[-1].actor) == ("imported", "import")
        else:
            assert imported == exported
    shape = [(n.path, sorted(n.children), n.learning_count) for n in snapshot.nodes]
    assert [(n.path, sorted(n.children), n.learning_count) for n in again.nodes] == shape
    # Re-importing the same snapshot keeps what is there (same versions).
    assert kb_admin.import_snapshot(prod, snapshot).learnings_kept == 4  # type: ignore[attr-defined]
    # Nothing imported reaches a prompt until an expert approves it in the new stage.
    assert kb.retrieve_for_prompt(prod, ["Food", "Coffee"], "Lavazza Qualita Oro", now=NOW) == []
    lavazza = next(item for item in again.learnings if item.live and "Lavazza" in item.text)
    kb_admin.approve(prod, lavazza.id, "expert@prod", "checked after import", now=lambda: NOW)
    views = kb.retrieve_for_prompt(prod, ["Food", "Coffee"], "Lavazza Qualita Oro", now=NOW)
    assert views and "Lavazza" in views[0].text
    assert prod.get_learning(snapshot.learnings[0].id) is not None


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda data: data["learnings"][-1].update(text=""),
        lambda data: data["learnings"][-1].update(text="x" * 5000),
        lambda data: data["learnings"][-1].update(scope_path=["Nowhere"]),
        lambda data: data["nodes"].pop(1),
        lambda data: data.update(schema_version=7),
        lambda data: data["learnings"].append(dict(data["learnings"][0])),
    ],
    ids=["empty-text", "oversized-text", "unknown-node", "missing-parent", "schema-version", "duplicate-id"],
)
def test_importing_a_malformed_snapshot_writes_nothing(
    store: DynamoKnowledgeStore, dynamodb: Any, corrupt: Any
) -> None:
    _populate(store)
    data = json.loads(kb_admin.export_snapshot(store, NOW).model_dump_json())
    corrupt(data)
    _create_table(dynamodb, "empty-knowledge")
    target = DynamoKnowledgeStore(dynamodb, "empty-knowledge")

    with pytest.raises(InvalidInput, match="invalid knowledge snapshot"):
        kb_admin.import_snapshot(target, json.dumps(data))
    with pytest.raises(InvalidInput, match="not JSON"):
        kb_admin.import_snapshot(target, "{not json")
    assert _count(dynamodb, "empty-knowledge") == 0


# ---------------------------------------------------------------------------- influence and audit


def test_influence_is_one_query_and_idempotent(store: DynamoKnowledgeStore) -> None:
    result = place(store, brand(["Lavazza"], ["Coffee"], "p1"))
    views = kb.retrieve_for_prompt(store, ["Coffee", "Beans"], "Lavazza Super Crema", now=NOW)
    assert [view.id for view in views] == [result.changed[0].id]

    kb.record_influence(store, views, "prod-7", 2, "exec-1", NOW)
    kb.record_influence(store, views, "prod-7", 2, "exec-1", NOW)  # a retried Persist
    kb.record_influence(store, views, "prod-9", 1, "exec-2", NOW)
    detail = kb_admin.show_learning(store, views[0].id)
    assert [(i.product_id, i.product_version, i.learning_version) for i in detail.influenced] == [
        ("prod-7", 2, 1),
        ("prod-9", 1, 1),
    ]
    assert detail.learning.provenance.product_ids == ["p1"]


def test_learn_then_deploy_replacement_switches_on_approval_with_an_audit_trail(
    store: DynamoKnowledgeStore,
) -> None:
    old = place(store, brand(["Arabica"], ["Coffee"], "p1")).changed[0]
    not_brand = LearningDraft(
        text="In Coffee, 'Arabica' is not a Brand value (it is Variety).",
        scope_path=["Coffee"],
        attributes=["Brand"],
        directive={
            "type": "not_value",
            "attribute": "Brand",
            "value": "Arabica",
            "correct_attribute": "Variety",
        },
    )
    replacement = place(store, not_brand, DeploymentMode.LEARN_THEN_DEPLOY)
    assert replacement.final.action == "replace"
    new = replacement.changed[0]
    assert new.status is LearningStatus.PROPOSED
    ids_in_prompt = [v.id for v in kb.retrieve_for_prompt(store, ["Coffee"], "Arabica beans", now=NOW)]
    assert ids_in_prompt == [old.id]

    approved = kb_admin.approve(store, new.id, "expert@example.com", "Arabica is a bean variety", now=_now)
    assert approved.status is LearningStatus.ACTIVE
    retired_old = store.get_learning(old.id)
    assert retired_old is not None and retired_old.status is LearningStatus.RETIRED
    assert retired_old.superseded_by == new.id and retired_old.valid_to == NOW
    assert [v.id for v in kb.retrieve_for_prompt(store, ["Coffee"], "Arabica beans", now=NOW)] == [new.id]
    assert store.get_node(["Coffee"]).learning_count == 1  # type: ignore[union-attr]
    day = store.audit_log("2026-11-01")
    assert {(entry["learning_id"], entry["action"], entry["actor"]) for entry in day} >= {
        (new.id, "approved", "expert@example.com"),
        (old.id, "retired", "expert@example.com"),
    }
    with pytest.raises(InvalidInput, match="only proposed"):
        kb_admin.approve(store, new.id, "expert", "again", now=_now)


def test_votes_edit_and_retire_through_the_store(store: DynamoKnowledgeStore) -> None:
    learning = place(store, brand(["Lavazza"], ["Coffee"], "p1")).changed[0]
    edited = kb_admin.edit(
        store, learning.id, "In Coffee, 'Lavazza' is the Brand.", "ana", "shorter", now=_now
    )
    assert store.get_learning(learning.id).superseded_by == edited.id  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="abstract"):
        kb_admin.edit(store, edited.id, "Make sure brands are right.", "ana", "bad", now=_now)

    # An expert changes what the learning does: the directive; its text is written from it.
    corrected = kb_admin.edit(
        store,
        edited.id,
        None,
        "ana",
        "also the short name",
        kb_admin.parse_directive(
            '{"type": "value_lexicon", "attribute": "Brand", "values": ["Lavazza", "Lavaza"]}'
        ),
        now=_now,
    )
    assert corrected.directive.values == ["Lavazza", "Lavaza"]  # type: ignore[union-attr]
    assert "Lavaza" in corrected.text and store.get_learning(edited.id).superseded_by == corrected.id  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="directive, its new text, or both"):
        kb_admin.edit(store, corrected.id, None, "ana", "nothing", now=_now)
    with pytest.raises(InvalidInput, match="value_lexicon, not_value, pattern or attribute_fact"):
        kb_admin.parse_directive('{"type": "lexicon", "attribute": "Brand"}')
    edited = corrected

    kb_admin.vote(store, edited.id, -1, "wrong on p5", now=_now)
    gone = kb_admin.vote(store, edited.id, -1, "wrong on p6", now=_now)
    assert gone.status is LearningStatus.RETIRED and gone.votes == 0
    assert store.get_node(["Coffee"]).learning_count == 0  # type: ignore[union-attr]
    assert kb.retrieve_for_prompt(store, ["Coffee"], "Lavazza", now=NOW) == []
    with pytest.raises(InvalidInput, match="no learning"):
        kb_admin.retire(store, "L-missing", "ana", "x", now=_now)
    with pytest.raises(InvalidInput, match="already retired"):
        kb_admin.retire(store, edited.id, "ana", "x", now=_now)


def test_placement_rejects_empty_and_oversized_drafts_before_touching_the_table(
    store: DynamoKnowledgeStore, dynamodb: Any
) -> None:
    base = brand(["Lavazza"], ["Coffee"], "p1").model_dump(mode="json")
    for text, message in [("", "empty or too short"), ("y" * 401, "at most 400")]:
        with pytest.raises(InvalidInput, match=message):
            kb.place_learning({**base, "text": text}, store, DeploymentMode.DEPLOY_AND_LEARN)
    assert _count(dynamodb, TABLE) == 0


# ------------------------------------------------------------------------------ model and replay


class PlanModel:
    """A memory-manager ModelClient returning a fixed plan (what Bedrock's structured output would)."""

    def __init__(self, plan: PlacementPlan):
        self.plan = plan
        self.requests: list[ModelRequest] = []

    def invoke(self, request: ModelRequest, output_model: type[Any]) -> ModelResponse[Any]:
        self.requests.append(request)
        return ModelResponse(model_id="test-memory-manager", output=self.plan)


def test_a_valid_model_plan_is_used_and_an_invalid_one_falls_back_with_its_reason(
    store: DynamoKnowledgeStore,
) -> None:
    place(store, brand(["Lavazza"], ["Coffee"], "p1"))
    existing = store.list_learnings(["Coffee"])[0]
    merge = PlacementPlan(
        decisions=[
            PlacementDecision(action="descend", node_path=[], reason="Coffee exists"),
            PlacementDecision(
                action="merge", node_path=["Coffee"], target_learning_id=existing.id, reason="same brand list"
            ),
        ]
    )
    model = PlanModel(merge)
    result = kb.place_learning(
        brand(["Illy"], ["Coffee"], "p2"), store, DeploymentMode.DEPLOY_AND_LEARN, model, now=_now
    )
    assert result.decided_by == "model" and result.model_id == "test-memory-manager"
    assert model.requests[0].role == "memory_manager" and "<knowledge_data>" in model.requests[0].prompt.user
    assert result.changed[0].directive.values == ["Lavazza", "Illy"]  # type: ignore[union-attr]

    bogus = PlacementPlan(
        decisions=[
            PlacementDecision(action="merge", node_path=["Coffee"], target_learning_id="L-nope", reason="?")
        ]
    )
    fallback = kb.place_learning(
        brand(["Nescafe"], ["Coffee"], "p3"),
        store,
        DeploymentMode.DEPLOY_AND_LEARN,
        PlanModel(bogus),
        now=_now,
    )
    assert fallback.decided_by == "offline_baseline"
    assert fallback.model_plan_rejected and "not a live learning" in fallback.model_plan_rejected
    assert fallback.final.action == "merge"


def test_replay_validation_promotes_only_when_the_rate_falls(store: DynamoKnowledgeStore) -> None:
    draft = brand(["Lavazza"], ["Coffee"], "p1")
    seen: list[list[str]] = []

    def replay(learnings: list[Any]) -> float:
        seen.append([view.text for view in learnings])
        return 0.10

    assert kb_admin.validate_by_replay(draft, replay, baseline_score=0.25)
    assert not kb_admin.validate_by_replay(draft, replay, baseline_score=0.10)
    assert seen[0] == [draft.text]

    proposed = place(store, draft, DeploymentMode.LEARN_THEN_DEPLOY).changed[0]
    kept = kb_admin.promote_by_replay(store, proposed.id, replay, baseline_score=0.05, now=_now)
    assert kept.status is LearningStatus.PROPOSED and kept.audit[-1].action == "replay_rejected"
    promoted = kb_admin.promote_by_replay(store, proposed.id, replay, baseline_score=0.30, now=_now)
    assert promoted.status is LearningStatus.ACTIVE
    assert path_key(promoted.scope_path) == "/coffee"
