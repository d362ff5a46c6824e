"""The `KnowledgeStore` contract (cataloop.ports), asserted the same way on the in-memory fake and on the
DynamoDB adapter (moto, the table as template.yaml defines it). Changes are planned with the domain's own
placement logic (`decide_placement` + `plan_change`, as the memory manager does) or through the knowledge
base service. The end of the module tests what only the DynamoDB adapter does: its key scheme decoders
and unreadable items."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from cataloop.adapters import dynamodb_knowledge_items as knowledge_items
from cataloop.adapters.dynamodb_codec import from_item, to_item
from cataloop.adapters.dynamodb_knowledge import DynamoKnowledgeStore
from cataloop.adapters.dynamodb_knowledge_items import is_learning_key, learning_from_image, learning_id_of
from cataloop.adapters.memory import InMemoryKnowledgeStore
from cataloop.domain.knowledge.changes import change_for, plan_change
from cataloop.domain.knowledge.learning import (
    AttributeFact,
    LearningDraft,
    LearningProvenance,
    NotValue,
    UnitPattern,
    ValueLexicon,
)
from cataloop.domain.knowledge.outcomes import LearningOutcome
from cataloop.domain.knowledge.placement import decide_placement
from cataloop.domain.knowledge.retrieval import PromptCandidate, rank_for_prompt
from cataloop.domain.knowledge.tree import (
    DeploymentMode,
    KnowledgeChange,
    KnowledgeNode,
    KnowledgeSnapshot,
    Learning,
    LearningStatus,
)
from cataloop.errors import CataloopError, Conflict, InvalidInput
from cataloop.services import knowledge_admin as kb_admin
from cataloop.services import knowledge_base as kb
from cataloop.services.learning_outcomes import record_outcomes
from tests.contract.conftest import (
    PAGE_SIZE,
    KnowledgeStoreFactory,
    create_table_from_template,
    unique_table,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def brand(values: list[str], scope: list[str], product: str) -> LearningDraft:
    return LearningDraft(
        text=f"In {scope[-1] if scope else 'all'}, "
        + ", ".join(f"'{v}'" for v in values)
        + " are Brand values.",
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


def not_brand(value: str, scope: list[str]) -> LearningDraft:
    return LearningDraft(
        text=f"'{value}' is not a Brand value.",
        scope_path=scope,
        attributes=["Brand"],
        directive=NotValue(attribute="Brand", value=value),
    )


def fact(value: str, scope: list[str]) -> LearningDraft:
    return LearningDraft(
        text=f"Every product in {scope[-1]} has is_food = '{value}'.",
        scope_path=scope,
        attributes=["is_food"],
        directive=AttributeFact(attribute="is_food", value=value),
    )


def ids(prefix: str = "L") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):03d}"


def plan(
    store: Any,
    draft: LearningDraft,
    new_id: Callable[[], str],
    mode: DeploymentMode = DeploymentMode.DEPLOY_AND_LEARN,
    now: datetime = NOW,
) -> tuple[KnowledgeChange, list[Learning]]:
    """Read what the decision depends on (the scope path) and plan the change, as the memory manager does."""
    tree: dict[str, KnowledgeNode] = {}
    learnings: dict[str, list[Learning]] = {}
    for depth in range(len(draft.scope_path) + 1):
        node, items = store.node_partition(draft.scope_path[:depth])
        if node is None:
            break
        tree[node.key] = node
        learnings[node.key] = items
    decisions = decide_placement(draft, tree, learnings)
    return plan_change(draft, decisions, tree, learnings, mode=mode, now=now, new_id=new_id)


def place(store: Any, draft: LearningDraft, new_id: Callable[[], str], **options: Any) -> list[Learning]:
    change, changed = plan(store, draft, new_id, **options)
    store.commit(change)
    return changed


def populate(store: Any) -> None:
    """Two merged brand lexicons, a unit pattern deeper down, a fact replaced by its contradiction (so one
    retired learning), influence records: every kind of item the store keeps."""
    new_id = ids()
    place(store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), new_id)
    place(store, brand(["Illy"], ["Food", "Coffee"], "p2"), new_id)
    place(store, pack_unit("Count", ["Food", "Coffee", "Pods"], "p3"), new_id)
    place(store, fact("true", ["Food", "Dairy", "Yogurt"]), new_id)
    place(store, fact("false", ["Food", "Dairy", "Yogurt"]), new_id, now=LATER)
    views = [learning.view() for learning in store.learnings_along(["Food", "Coffee", "Pods"])]
    store.record_influence(views, "prod-7", 2, "exec-1", NOW)


def upvoted(learning: Learning) -> Learning:
    """The next version of `learning` with one more vote (what an audit action writes)."""
    return learning.revise(LATER, "ana", "upvoted", "helped on p9", votes=learning.votes + 1)


def state(store: Any) -> KnowledgeSnapshot:
    return store.export_snapshot(NOW)


def _paths(store: Any) -> list[list[str]]:
    return [node.path for node in store.tree()]


# ----------------------------------------------------------------------------------------------- reads


def test_an_empty_store_has_nothing(knowledge_store: Any) -> None:
    assert knowledge_store.get_node([]) is None
    assert knowledge_store.node_partition(["Food"]) == (None, [])
    assert knowledge_store.learnings_along(["Food", "Coffee"]) == []
    assert knowledge_store.get_learning("L-001") is None
    assert knowledge_store.tree() == []
    assert knowledge_store.influenced_products("L-001") == []
    assert list(knowledge_store.scan_learnings()) == []
    assert state(knowledge_store) == KnowledgeSnapshot(exported_at=NOW)


def test_a_committed_change_reads_back_everywhere(knowledge_store: Any) -> None:
    (learning,) = place(knowledge_store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), ids())
    assert learning.version == 1 and learning.status is LearningStatus.ACTIVE

    assert _paths(knowledge_store) == [[], ["Food"], ["Food", "Coffee"]]
    node, learnings = knowledge_store.node_partition(["Food", "Coffee"])
    assert node is not None and node.learning_count == 1 and learnings == [learning]
    assert knowledge_store.get_node(["FOOD", "coffee"]) == node  # paths are case-insensitive keys
    assert knowledge_store.get_node(["Food"]).children == ["Coffee"]
    assert knowledge_store.get_learning(learning.id) == learning


def test_learnings_along_reads_the_root_and_every_prefix_root_first(knowledge_store: Any) -> None:
    new_id = ids()
    (coffee,) = place(knowledge_store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), new_id)
    (root,) = place(knowledge_store, fact("true", ["Food"]), new_id)
    (tea,) = place(knowledge_store, brand(["Twinings"], ["Food", "Tea"], "p2"), new_id)
    (pods,) = place(knowledge_store, pack_unit("Pods", ["Food", "Coffee", "Pods"], "p3"), new_id)

    along = knowledge_store.learnings_along(["Food", "Coffee", "Pods", "Decaf"])
    assert [item.id for item in along] == [root.id, coffee.id, pods.id]
    assert tea.id not in [item.id for item in knowledge_store.learnings_along(["Food", "Coffee"])]


def _junk(store: Any, active: Learning, count: int) -> None:
    """`count` learnings next to `active` that retrieval may not use (retired and proposed alternately), each
    written and then upvoted twice: 3 * count learning writes, so 3 * count audit entries."""
    for number in range(count):
        retired = number % 2 == 0
        first = active.model_copy(
            update={
                "id": f"{active.id}-junk-{number:03d}",
                "status": LearningStatus.RETIRED if retired else LearningStatus.PROPOSED,
                "valid_to": LATER if retired else None,
            }
        )
        previous: Learning | None = None
        for learning in (first, upvoted(first), upvoted(upvoted(first))):
            node = store.get_node(active.scope_path)
            store.commit(change_for([(learning, previous)], {node.key: node}))
            previous = learning


def test_active_learnings_along_reads_only_the_learnings_retrieval_may_use(knowledge_store: Any) -> None:
    new_id = ids()
    (active,) = place(knowledge_store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), new_id)
    path = ["Food", "Coffee", "Pods"]

    def reads(call: Callable[[], Any]) -> tuple[Any, int]:
        before = knowledge_store.items_read
        result = call()
        return result, knowledge_store.items_read - before

    assert reads(lambda: knowledge_store.active_learnings_along(path)) == ([active], 1)
    _junk(knowledge_store, active, 50)  # 50 retired or proposed learnings, 150 audit entries
    assert len(knowledge_store.node_partition(["Food", "Coffee"])[1]) == 51
    assert (
        len(knowledge_store.audit_log(NOW.date().isoformat()) + knowledge_store.audit_log("2026-11-02")) > 100
    )

    # the same single item read however many other learnings and audit entries the node has collected ...
    assert reads(lambda: knowledge_store.active_learnings_along(path)) == ([active], 1)
    # ... where whole partitions grow with them (root, Food and Food/Coffee nodes + 51 learnings)
    along, partition_reads = reads(lambda: knowledge_store.learnings_along(path))
    assert len(along) == 51 and partition_reads == 54

    # a learning that stops being active leaves what retrieval reads in the same write
    node = knowledge_store.get_node(["Food", "Coffee"])
    retired = active.revise(LATER, "ana", "retired", "wrong", status=LearningStatus.RETIRED, valid_to=LATER)
    knowledge_store.commit(change_for([(retired, active)], {node.key: node}))
    assert reads(lambda: knowledge_store.active_learnings_along(path)) == ([], 0)
    assert kb.retrieve_for_prompt(knowledge_store, path, "Lavazza pods") == []


def test_active_learnings_along_is_retrieval_input_root_first(knowledge_store: Any) -> None:
    new_id = ids()
    (coffee,) = place(knowledge_store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), new_id)
    (root,) = place(knowledge_store, fact("true", ["Food"]), new_id)
    place(knowledge_store, brand(["Twinings"], ["Food", "Tea"], "p2"), new_id)
    place(knowledge_store, fact("false", ["Food"]), new_id, now=LATER)  # replaces `root`
    (replacement,) = [item for item in knowledge_store.learnings_along(["Food"]) if item.live]
    path = ["Food", "Coffee", "Pods"]
    assert knowledge_store.active_learnings_along(path) == [replacement, coffee]
    expected = [item for item in knowledge_store.learnings_along(path) if item.live]
    assert knowledge_store.active_learnings_along(path) == expected
    assert root.id not in [item.id for item in knowledge_store.active_learnings_along(path)]


def _candidates_of(store: Any, path: list[str]) -> list[PromptCandidate]:
    return [PromptCandidate.of(item) for item in store.active_learnings_along(path)]


def test_prompt_candidates_read_one_item_per_level_however_many_learnings_a_node_holds(
    knowledge_store: Any,
) -> None:
    new_id = ids()
    (root,) = place(knowledge_store, fact("true", ["Food"]), new_id)
    (active,) = place(knowledge_store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), new_id)
    path = ["Food", "Coffee", "Pods"]  # no node at Food/Coffee/Pods: an index Query that reads nothing

    def reads(call: Callable[[], Any]) -> tuple[Any, int]:
        before = knowledge_store.items_read
        result = call()
        return result, knowledge_store.items_read - before

    assert reads(lambda: knowledge_store.prompt_candidates_along(path)) == (
        _candidates_of(knowledge_store, path),
        3,
    )
    _junk(knowledge_store, active, 20)  # retired and proposed learnings: not candidates
    for number in range(30):  # 30 more active learnings at Food/Coffee
        place(knowledge_store, not_brand(f"Decaf{number:02d}", ["Food", "Coffee"]), new_id)
    expected = _candidates_of(knowledge_store, path)
    assert len(expected) == 32 and expected[0].id == root.id
    # the same three items (the root, Food and Food/Coffee prompt sets) whatever the nodes hold
    assert reads(lambda: knowledge_store.prompt_candidates_along(path)) == (expected, 3)
    assert reads(lambda: knowledge_store.active_learnings_along(path))[1] == 32

    # retrieval ranks candidates exactly as it ranks the learnings they stand for
    text = "Lavazza Decaf07 coffee pods"
    assert kb.retrieve_for_prompt(knowledge_store, path, text, now=LATER) == rank_for_prompt(
        knowledge_store.active_learnings_along(path), text, path, now=LATER
    )


def test_prompt_sets_follow_every_write_of_their_learnings(knowledge_store: Any) -> None:
    new_id = ids()
    (coffee,) = place(knowledge_store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), new_id)
    place(knowledge_store, brand(["Illy"], ["Food", "Coffee"], "p2"), new_id)  # merged: a new version
    place(knowledge_store, fact("true", ["Food"]), new_id)
    place(knowledge_store, fact("false", ["Food"]), new_id, now=LATER)  # replaces (retires) the first
    place(
        knowledge_store,
        pack_unit("Count", ["Food", "Coffee", "Pods"], "p3"),
        new_id,
        mode=DeploymentMode.LEARN_THEN_DEPLOY,
    )
    path = ["Food", "Coffee", "Pods"]
    assert knowledge_store.prompt_candidates_along(path) == _candidates_of(knowledge_store, path)
    assert len(knowledge_store.prompt_candidates_along(path)) == 2  # the proposed pattern is not one

    current = knowledge_store.get_learning(coffee.id)
    report = record_outcomes(knowledge_store, [
        LearningOutcome(learning_id=coffee.id, helpful=True, attribute="Brand", shaped_value="Lavazza",
                        confirmed_value="Lavazza", source="audit", product_id="p9"),
    ], now=lambda: LATER)  # fmt: skip
    assert report.helpful == 1
    (candidate,) = [c for c in knowledge_store.prompt_candidates_along(path) if c.id == coffee.id]
    assert (candidate.helpful, candidate.view.version) == (1, current.version + 1)

    node = knowledge_store.get_node(["Food", "Coffee"])
    latest = knowledge_store.get_learning(coffee.id)
    retired = latest.revise(LATER, "ana", "retired", "wrong", status=LearningStatus.RETIRED, valid_to=LATER)
    knowledge_store.commit(change_for([(retired, latest)], {node.key: node}))
    assert coffee.id not in [c.id for c in knowledge_store.prompt_candidates_along(path)]
    assert knowledge_store.prompt_candidates_along(path) == _candidates_of(knowledge_store, path)


def test_a_prompt_set_past_its_size_limit_is_read_through_the_active_learnings(
    knowledge_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(knowledge_items, "MAX_PROMPT_SET_BYTES", 600)
    new_id = ids()
    for number in range(4):
        place(knowledge_store, not_brand(f"Decaf{number}", ["Food", "Coffee"]), new_id)
    path = ["Food", "Coffee"]
    assert knowledge_store.prompt_candidates_along(path) == _candidates_of(knowledge_store, path)
    assert len(knowledge_store.prompt_candidates_along(path)) == 4
    monkeypatch.setattr(knowledge_items, "MAX_PROMPT_SET_BYTES", 200_000)
    place(knowledge_store, not_brand("Decaf9", ["Food", "Coffee"]), new_id)  # recomputed, fits again
    before = knowledge_store.items_read
    assert len(knowledge_store.prompt_candidates_along(path)) == 5
    assert knowledge_store.items_read - before == 3  # the root, Food and Food/Coffee prompt sets


def test_imported_learnings_reach_the_prompt_sets(
    knowledge_store: Any, new_knowledge_store: KnowledgeStoreFactory
) -> None:
    populate(knowledge_store)
    target = new_knowledge_store()
    target.import_snapshot(state(knowledge_store))
    path = ["Food", "Dairy", "Yogurt"]
    assert target.prompt_candidates_along(path) == _candidates_of(target, path) == []  # imports land proposed
    (proposed,) = [item for item in target.learnings_along(path) if item.live]
    node = target.get_node(proposed.scope_path)
    approved = proposed.revise(LATER, "ana", "approved", "checked", status=LearningStatus.ACTIVE)
    target.commit(change_for([(approved, proposed)], {node.key: node}))
    assert (
        target.prompt_candidates_along(path) == _candidates_of(target, path) == [PromptCandidate.of(approved)]
    )


def test_the_memory_manager_reads_each_node_partition_once_per_attempt() -> None:
    class Counting(InMemoryKnowledgeStore):
        def __init__(self) -> None:
            super().__init__()
            self.partitions: list[str] = []

        def node_partition(self, path: Any) -> Any:
            self.partitions.append("/".join(path).lower())
            return super().node_partition(path)

    store = Counting()
    new_id = ids()
    for scope in (["Food", "Coffee"], ["Food", "Tea"], ["Food", "Dairy"]):
        place(store, brand(["Lavazza"], scope, "p1"), new_id)
    store.partitions.clear()
    result = kb.place_learning(
        brand(["Illy"], ["Food", "Coffee"], "p2"), store, DeploymentMode.DEPLOY_AND_LEARN, new_id=new_id
    )
    assert result.attempts == 1
    assert sorted(store.partitions) == sorted(set(store.partitions))
    assert {"food/coffee", "food/tea", "food/dairy"} <= set(store.partitions)


def test_outcomes_read_each_learning_and_node_once_per_call() -> None:
    class Counting(InMemoryKnowledgeStore):
        def __init__(self) -> None:
            super().__init__()
            self.reads: list[str] = []

        def get_node(self, path: Any) -> Any:
            self.reads.append("node " + "/".join(path).lower())
            return super().get_node(path)

        def get_learning(self, learning_id: str) -> Any:
            self.reads.append("learning " + learning_id)
            return super().get_learning(learning_id)

    store = Counting()
    (learning,) = place(store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), ids())
    store.reads.clear()
    outcomes = [
        LearningOutcome(learning_id=learning.id, helpful=helpful, attribute="Brand", shaped_value="Lavazza",
                        confirmed_value="Lavazza", source="audit", product_id=product)
        for helpful, product in ((True, "p2"), (True, "p3"), (False, "p4"))
    ]  # fmt: skip
    report = record_outcomes(store, outcomes, now=lambda: LATER)
    assert (report.helpful, report.harmful) == (2, 1)
    assert store.reads == [f"learning {learning.id}", "node food/coffee"]
    current = store.get_learning(learning.id)
    assert (current.helpful, current.harmful, current.version) == (2, 1, learning.version + 3)

    # a writer in between: the commit built on what the call last saw conflicts, and the retry reads again
    class Racing(Counting):
        def commit(self, change: KnowledgeChange) -> None:
            if self.race and change.learnings:
                self.race = False
                node = super().get_node(["Food", "Coffee"])
                latest = super().get_learning(learning.id)
                super().commit(change_for([(upvoted(latest), latest)], {node.key: node}))
            super().commit(change)

    racing = Racing()
    racing.race = False
    (learning,) = place(racing, brand(["Lavazza"], ["Food", "Coffee"], "p1"), ids())
    racing.race = True
    report = record_outcomes(racing, outcomes[:1], now=lambda: LATER, backoff=lambda attempt: None)
    assert report.helpful == 1
    stored = racing.get_learning(learning.id)
    assert (stored.helpful, stored.votes) == (1, learning.votes + 1)


def test_get_learning_returns_the_current_version(knowledge_store: Any) -> None:
    (learning,) = place(knowledge_store, brand(["Lavazza"], ["Coffee"], "p1"), ids())
    node = knowledge_store.get_node(["Coffee"])
    second = upvoted(learning)
    knowledge_store.commit(change_for([(second, learning)], {node.key: node}))

    current = knowledge_store.get_learning(learning.id)
    assert current == second and current.version == 2 and current.votes == learning.votes + 1
    assert knowledge_store.node_partition(["Coffee"])[1] == [second]
    assert knowledge_store.get_node(["Coffee"]).version == node.version + 1


def test_returned_objects_are_copies(knowledge_store: Any) -> None:
    change, (learning,) = plan(knowledge_store, brand(["Lavazza"], ["Coffee"], "p1"), ids())
    knowledge_store.commit(change)
    learning.attributes.append("Flavor")  # the object that was written
    read = knowledge_store.get_learning(learning.id)
    read.scope_path.append("Beans")
    read.directive.values.append("Illy")
    knowledge_store.get_node(["Coffee"]).children.append("Beans")

    again = knowledge_store.get_learning(learning.id)
    assert again.attributes == ["Brand"] and again.scope_path == ["Coffee"]
    assert again.directive.values == ["Lavazza"]
    assert knowledge_store.get_node(["Coffee"]).children == []


# ------------------------------------------------------------------------------------- atomic commits


def test_an_empty_change_writes_nothing(knowledge_store: Any) -> None:
    knowledge_store.commit(KnowledgeChange())
    assert knowledge_store.tree() == []


def test_version_one_items_are_created_once(knowledge_store: Any) -> None:
    change, _ = plan(knowledge_store, brand(["Lavazza"], ["Coffee"], "p1"), ids())
    knowledge_store.commit(change)
    before = state(knowledge_store)
    with pytest.raises(Conflict):
        knowledge_store.commit(change)
    with pytest.raises(Conflict):
        knowledge_store.commit(KnowledgeChange(nodes=[KnowledgeNode(path=["Coffee"], version=1)]))
    assert state(knowledge_store) == before


def test_a_change_with_one_stale_item_writes_none_of_its_items(knowledge_store: Any) -> None:
    new_id = ids()
    (learning,) = place(knowledge_store, brand(["Lavazza"], ["Coffee"], "p1"), new_id)
    before = state(knowledge_store)
    root = knowledge_store.get_node([])

    stale_node = KnowledgeChange(
        nodes=[KnowledgeNode(path=["Tea"], version=1), root.model_copy(update={"version": root.version + 5})]
    )
    with pytest.raises(Conflict):
        knowledge_store.commit(stale_node)

    fresh, (new,) = plan(knowledge_store, pack_unit("Pods", ["Coffee"], "p2"), new_id)
    stale_learning = learning.model_copy(update={"version": 3})  # stored is version 1, not 2
    with pytest.raises(Conflict):
        knowledge_store.commit(fresh.model_copy(update={"learnings": [*fresh.learnings, stale_learning]}))

    assert state(knowledge_store) == before
    assert knowledge_store.get_node(["Tea"]) is None and knowledge_store.get_learning(new.id) is None
    assert knowledge_store.audit_log("2026-11-01") == [
        entry for entry in knowledge_store.audit_log("2026-11-01") if entry["learning_id"] == learning.id
    ]
    knowledge_store.commit(fresh)  # the same change without the stale item goes through
    assert knowledge_store.get_learning(new.id) == new


def test_two_planners_on_the_same_node_version_one_wins(knowledge_store: Any) -> None:
    new_id = ids()
    place(knowledge_store, brand(["Lavazza"], ["Coffee"], "p1"), new_id)
    first, (merged,) = plan(knowledge_store, brand(["Illy"], ["Coffee"], "p2"), new_id)
    second, (added,) = plan(knowledge_store, pack_unit("Pods", ["Coffee"], "p3"), new_id)

    knowledge_store.commit(first)
    after_first = state(knowledge_store)
    with pytest.raises(Conflict):
        knowledge_store.commit(second)  # decided on the node version the first one replaced
    assert state(knowledge_store) == after_first
    assert (
        knowledge_store.get_learning(merged.id) == merged and knowledge_store.get_learning(added.id) is None
    )

    replanned, _ = plan(knowledge_store, pack_unit("Pods", ["Coffee"], "p3"), new_id)  # re-read, re-plan
    knowledge_store.commit(replanned)
    assert knowledge_store.get_node(["Coffee"]).learning_count == 2


def test_a_change_rechecks_the_nodes_its_decision_read(knowledge_store: Any) -> None:
    new_id = ids()
    place(knowledge_store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), new_id)
    change, _ = plan(knowledge_store, pack_unit("Pods", ["Food", "Coffee"], "p2"), new_id)
    assert {tuple(check.path) for check in change.checks} == {(), ("Food",)}
    place(knowledge_store, fact("true", ["Food"]), new_id)  # a write to a node the decision only read
    with pytest.raises(Conflict):
        knowledge_store.commit(change)


def test_concurrent_placements_on_one_node_lose_nothing(knowledge_store: Any) -> None:
    scope = ["Food", "Coffee"]
    drafts = [brand([f"Brand {i}"], scope, f"p{i}") for i in range(3)]
    drafts += [pack_unit(term, scope, f"q{i}") for i, term in enumerate(["Count", "Pods", "Sticks"])]
    barrier = threading.Barrier(len(drafts), timeout=60)
    errors: list[BaseException] = []

    def writer(draft: LearningDraft) -> None:
        try:
            barrier.wait()
            kb.place_learning(
                draft,
                knowledge_store,
                DeploymentMode.DEPLOY_AND_LEARN,
                now=lambda: NOW,
                backoff=lambda _: None,
            )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(draft,)) for draft in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    live = [item for item in knowledge_store.node_partition(scope)[1] if item.live]
    lexicon = next(item for item in live if isinstance(item.directive, ValueLexicon))
    pattern = next(item for item in live if isinstance(item.directive, UnitPattern))
    assert len(live) == 2 and lexicon.support_count == 3 and pattern.support_count == 3
    assert sorted(lexicon.directive.values) == ["Brand 0", "Brand 1", "Brand 2"]
    assert knowledge_store.get_node(scope).learning_count == 2
    assert _paths(knowledge_store) == [[], ["Food"], ["Food", "Coffee"]]


def test_a_change_must_fit_one_transaction_and_name_each_item_once(knowledge_store: Any) -> None:
    too_big = KnowledgeChange(nodes=[KnowledgeNode(path=[f"N{i}"], version=1) for i in range(101)])
    with pytest.raises(CataloopError, match="per transaction"):
        knowledge_store.commit(too_big)
    twice = KnowledgeChange(nodes=[KnowledgeNode(path=["Tea"]), KnowledgeNode(path=["tea"])])
    with pytest.raises(CataloopError, match="more than once"):
        knowledge_store.commit(twice)
    assert knowledge_store.tree() == []


# ------------------------------------------------------------------------------------------ influence


def test_influence_is_idempotent_per_learning_product_and_version(knowledge_store: Any) -> None:
    new_id = ids()
    (lavazza,) = place(knowledge_store, brand(["Lavazza"], ["Coffee"], "p1"), new_id)
    (pods,) = place(knowledge_store, pack_unit("Pods", ["Coffee"], "p2"), new_id)
    views = [lavazza.view(), pods.view()]

    knowledge_store.record_influence(views, "prod-9", 1, "exec-1", NOW)
    knowledge_store.record_influence(views, "prod-70", 1, "exec-2", NOW)
    knowledge_store.record_influence([*views, lavazza.view()], "prod-7", 2, "exec-3", NOW)
    knowledge_store.record_influence(views, "prod-7", 2, "exec-3", NOW)  # a retried Persist
    knowledge_store.record_influence([lavazza.view()], "prod-7", 10, None, LATER)

    found = knowledge_store.influenced_products(lavazza.id)
    assert [(i.product_id, i.product_version, i.execution_id) for i in found] == [
        ("prod-7", 2, "exec-3"),
        ("prod-7", 10, None),
        ("prod-70", 1, "exec-2"),
        ("prod-9", 1, "exec-1"),
    ]
    assert all(i.learning_id == lavazza.id and i.learning_version == 1 for i in found)
    assert found[1].at == LATER
    assert len(knowledge_store.influenced_products(pods.id)) == 3
    assert knowledge_store.influenced_products("L-unknown") == []


# ------------------------------------------------------------------------------------------ snapshots


def test_export_then_import_round_trips(
    knowledge_store: Any, new_knowledge_store: KnowledgeStoreFactory
) -> None:
    populate(knowledge_store)
    snapshot = state(knowledge_store)
    assert len(snapshot.learnings) == 4 and sum(item.live for item in snapshot.learnings) == 3
    assert [learning.id for learning in snapshot.learnings] == sorted(item.id for item in snapshot.learnings)

    target = new_knowledge_store()
    result = target.import_snapshot(snapshot)
    assert result.model_dump() == {"nodes": len(snapshot.nodes), "learnings_written": 4, "learnings_kept": 0}
    again = state(target)
    # Imports never activate anything: live learnings land proposed, with an audit entry for the import;
    # everything else (ids, versions, text, directives, retired history) is what was exported.
    assert again.learnings == [as_imported(item) for item in snapshot.learnings]
    shape = [(node.path, sorted(node.children), node.learning_count) for node in snapshot.nodes]
    assert [(node.path, sorted(node.children), node.learning_count) for node in again.nodes] == shape
    assert target.get_learning(snapshot.learnings[0].id) == again.learnings[0]
    assert target.learnings_along(["Food", "Coffee", "Pods"]) == [
        as_imported(item) for item in knowledge_store.learnings_along(["Food", "Coffee", "Pods"])
    ]

    repeated = target.import_snapshot(snapshot)  # the same versions are kept, not rewritten
    assert (repeated.learnings_written, repeated.learnings_kept) == (0, 4)
    assert state(target).learnings == again.learnings


def test_outcome_counters_round_trip_through_every_read_and_a_snapshot(
    knowledge_store: Any, new_knowledge_store: KnowledgeStoreFactory
) -> None:
    new_id = ids()
    (learning,) = place(knowledge_store, brand(["Lavazza"], ["Food", "Coffee"], "p1"), new_id)
    assert (learning.helpful, learning.harmful, learning.outcome_keys) == (0, 0, [])
    scored = [
        LearningOutcome(
            learning_id=learning.id,
            helpful=helpful,
            attribute="Brand",
            shaped_value="Lavazza",
            confirmed_value="Lavazza" if helpful else "Illy",
            source="audit",
            product_id=product,
        )
        for helpful, product in ((True, "p2"), (True, "p3"), (False, "p4"))
    ]
    report = record_outcomes(knowledge_store, scored, now=lambda: LATER)
    assert (report.helpful, report.harmful) == (2, 1)

    current = knowledge_store.get_learning(learning.id)
    assert (current.helpful, current.harmful, current.version) == (2, 1, learning.version + 3)
    assert current.outcome_keys == ["audit:p2", "audit:p3", "audit:p4"]
    assert knowledge_store.node_partition(["Food", "Coffee"])[1] == [current]
    assert knowledge_store.learnings_along(["Food", "Coffee"]) == [current]
    assert [item for page in knowledge_store.scan_learnings() for item in page] == [current]
    assert record_outcomes(knowledge_store, scored).replayed == [learning.id] * 3

    snapshot = state(knowledge_store)
    assert [(item.helpful, item.harmful) for item in snapshot.learnings] == [(2, 1)]
    target = new_knowledge_store()
    target.import_snapshot(snapshot)
    imported = target.get_learning(learning.id)
    assert (imported.helpful, imported.harmful, imported.outcome_keys) == (2, 1, current.outcome_keys)


def as_imported(learning: Learning) -> Learning:
    """What the contract says an import stores: a live learning as proposed, audited as imported."""
    if not learning.live:
        return learning
    return learning.model_copy(
        update={"status": LearningStatus.PROPOSED, "audit": [*learning.audit, ANY_IMPORT]}
    )


class _AnyImportEntry:
    """Equal to any audit entry recording an import (its time is the import's)."""

    def __eq__(self, other: object) -> bool:
        return getattr(other, "action", None) == "imported" and bool(getattr(other, "actor", ""))

    def __hash__(self) -> int:
        return 0


ANY_IMPORT: Any = _AnyImportEntry()


def test_import_lands_live_learnings_proposed_and_records_the_importer(
    knowledge_store: Any, new_knowledge_store: KnowledgeStoreFactory
) -> None:
    populate(knowledge_store)
    snapshot = state(knowledge_store)
    assert any(item.status is LearningStatus.ACTIVE for item in snapshot.learnings)

    direct = new_knowledge_store()
    direct.import_snapshot(snapshot)
    for item in state(direct).learnings:
        if item.live:
            assert item.status is LearningStatus.PROPOSED
            assert (item.audit[-1].action, item.audit[-1].actor) == ("imported", "import")
    along = direct.learnings_along(["Food", "Coffee", "Pods"])
    assert along and all(item.status is LearningStatus.PROPOSED for item in along)

    through_service = new_knowledge_store()
    kb_admin.import_snapshot(through_service, snapshot, actor="arn:aws:iam::1:user/alice", now=lambda: LATER)
    for item in state(through_service).learnings:
        if item.live:
            assert item.status is LearningStatus.PROPOSED
            imported = [entry for entry in item.audit if entry.action == "imported"]
            assert [(entry.actor, entry.at) for entry in imported] == [("arn:aws:iam::1:user/alice", LATER)]
        else:
            assert item.audit == next(x for x in snapshot.learnings if x.id == item.id).audit


def test_import_keeps_learnings_stored_at_a_newer_version(
    knowledge_store: Any, new_knowledge_store: KnowledgeStoreFactory
) -> None:
    (learning,) = place(knowledge_store, brand(["Lavazza"], ["Coffee"], "p1"), ids())
    older = state(knowledge_store)
    node = knowledge_store.get_node(["Coffee"])
    second = upvoted(learning)
    knowledge_store.commit(change_for([(second, learning)], {node.key: node}))
    newer = state(knowledge_store)

    target = new_knowledge_store()
    assert target.import_snapshot(newer).learnings_written == 1
    kept = target.import_snapshot(older)
    assert (kept.learnings_written, kept.learnings_kept) == (0, 1)
    assert target.get_learning(learning.id) == as_imported(second)

    behind = new_knowledge_store()
    behind.import_snapshot(older)
    assert behind.import_snapshot(newer).learnings_written == 1
    assert behind.get_learning(learning.id) == as_imported(second)
    assert behind.get_node(["Coffee"]).learning_count == 1


def test_an_invalid_snapshot_is_refused_before_anything_is_written(
    knowledge_store: Any, new_knowledge_store: KnowledgeStoreFactory
) -> None:
    populate(knowledge_store)
    snapshot = state(knowledge_store)
    target = new_knowledge_store()
    unplaced = snapshot.learnings[-1].model_copy(update={"scope_path": ["Nowhere"]})
    # model_construct skips pydantic: the store itself must validate the whole snapshot.
    broken = KnowledgeSnapshot.model_construct(
        exported_at=NOW, nodes=snapshot.nodes, learnings=[*snapshot.learnings[:-1], unplaced]
    )
    with pytest.raises(InvalidInput, match="invalid knowledge snapshot"):
        target.import_snapshot(broken)
    orphan = KnowledgeSnapshot.model_construct(exported_at=NOW, nodes=snapshot.nodes[1:], learnings=[])
    with pytest.raises(InvalidInput, match="no parent node"):
        target.import_snapshot(orphan)
    assert target.tree() == [] and list(target.scan_learnings()) == []


# ------------------------------------------------------------------------------------------------ scan


def test_scan_learnings_yields_only_learning_items_a_page_at_a_time(knowledge_store: Any) -> None:
    populate(knowledge_store)
    pages = list(knowledge_store.scan_learnings())
    assert all(0 < len(page) <= PAGE_SIZE for page in pages)
    learnings = [learning for page in pages for learning in page]
    assert all(isinstance(learning, Learning) for learning in learnings)
    assert sorted(learnings, key=lambda item: item.id) == state(knowledge_store).learnings
    assert any(learning.status is LearningStatus.RETIRED for learning in learnings)
    assert knowledge_store.approximate_count() >= 0


# ------------------------------------------------------------------------------------- both, side by side


def test_the_fake_holds_the_same_items_as_the_table(dynamodb: Any) -> None:
    side_by_side = unique_table("side-by-side")
    create_table_from_template(dynamodb._client, "KnowledgeTable", side_by_side)
    table = DynamoKnowledgeStore(dynamodb, side_by_side)
    fake = InMemoryKnowledgeStore()
    populate(table)
    populate(fake)
    assert state(fake) == state(table)
    items = dynamodb.scan(TableName=side_by_side)["Items"]
    assert fake.approximate_count() == len(items)
    assert fake.audit_log("2026-11-01") == table.audit_log("2026-11-01")
    assert fake.audit_log("2026-11-02") == table.audit_log("2026-11-02") != []


# ---------------------------------------------------------------------------------- DynamoDB adapter only


def test_the_key_scheme_decoders_read_learning_items_and_pass_over_the_rest(dynamodb: Any) -> None:
    decoders = unique_table("decoders")
    create_table_from_template(dynamodb._client, "KnowledgeTable", decoders)
    store = DynamoKnowledgeStore(dynamodb, decoders)
    populate(store)
    decoded: list[Learning] = []
    entities: set[str] = set()
    for raw in dynamodb.scan(TableName=decoders)["Items"]:
        image = from_item(raw)
        keys = {"pk": image["pk"], "sk": image["sk"]}
        entities.add(image["entity"])
        learning = learning_from_image(keys, image)
        assert (learning is not None) == (image["entity"] == "learning") == is_learning_key(keys)
        assert is_learning_key({"pk": raw["pk"], "sk": raw["sk"]}) == is_learning_key(keys)  # AttributeValues
        if learning is not None:
            assert learning_id_of(keys) == learning.id
            assert store.get_learning(learning.id) == learning
            decoded.append(learning)
        else:
            assert learning_id_of(keys) is None
    assert entities == {"node", "learning", "locator", "influence", "audit", "prompt_set"}
    assert sorted(decoded, key=lambda item: item.id) == state(store).learnings


def test_a_learning_item_written_before_the_outcome_counters_loads_with_zero(dynamodb: Any) -> None:
    older = unique_table("before-outcomes")
    create_table_from_template(dynamodb._client, "KnowledgeTable", older)
    store = DynamoKnowledgeStore(dynamodb, older)
    (learning,) = place(store, brand(["Lavazza"], ["Coffee"], "p1"), ids())
    key = {"pk": {"S": "NODE#/coffee"}, "sk": {"S": f"LEARNING#{learning.id}"}}
    assert {"helpful", "harmful", "outcome_keys"} <= set(dynamodb.get_item(TableName=older, Key=key)["Item"])
    dynamodb.update_item(TableName=older, Key=key, UpdateExpression="REMOVE helpful, harmful, outcome_keys")
    assert "helpful" not in dynamodb.get_item(TableName=older, Key=key)["Item"]

    stored = store.get_learning(learning.id)
    assert stored == learning and (stored.helpful, stored.harmful, stored.outcome_keys) == (0, 0, [])
    report = record_outcomes(store, [
        LearningOutcome(learning_id=learning.id, helpful=False, attribute="Brand", shaped_value="Lavazza",
                        confirmed_value="Illy", source="review", product_id="p2"),
    ], now=lambda: LATER)  # fmt: skip
    assert report.harmful == 1 and store.get_learning(learning.id).harmful == 1


def test_without_the_index_active_learnings_along_reads_partitions_then_a_backfill_restores_it(
    dynamodb: Any,
) -> None:
    old = unique_table("before-the-index")
    dynamodb._client.create_table(
        TableName=old,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    store = DynamoKnowledgeStore(dynamodb, old)
    populate(store)
    expected = [item for item in store.learnings_along(["Food", "Dairy", "Yogurt"]) if item.live]
    assert len(expected) == 1
    assert store.active_learnings_along(["Food", "Dairy", "Yogurt"]) == expected  # whole partitions, filtered

    indexed = unique_table("backfilled")
    create_table_from_template(dynamodb._client, "KnowledgeTable", indexed)
    for item in dynamodb.scan(TableName=old)["Items"]:  # written before the index and the prompt sets
        item.pop("active_node", None)
        if item["entity"]["S"] != "prompt_set":
            dynamodb.put_item(TableName=indexed, Item=item)
    store = DynamoKnowledgeStore(dynamodb, indexed)
    assert store.active_learnings_along(["Food", "Dairy", "Yogurt"]) == []
    assert store.prompt_candidates_along(["Food", "Dairy", "Yogurt"]) == []
    assert store.backfill_active_index() == 3 and store.backfill_active_index() == 0
    assert store.active_learnings_along(["Food", "Dairy", "Yogurt"]) == expected
    assert store.prompt_candidates_along(["Food", "Dairy", "Yogurt"]) == [PromptCandidate.of(expected[0])]
    # a level without its prompt set (a table from before them, not yet backfilled) reads the index
    dynamodb.delete_item(
        TableName=indexed, Key={"pk": {"S": "NODE#/food/dairy/yogurt"}, "sk": {"S": "#ACTIVE"}}
    )
    assert store.prompt_candidates_along(["Food", "Dairy", "Yogurt"]) == [PromptCandidate.of(expected[0])]
    assert len(store.active_learnings_along(["Food", "Coffee", "Pods"])) == 2


def test_prompt_sets_cost_fewer_read_units_than_the_index_once_nodes_fill(dynamodb: Any) -> None:
    name = unique_table("read-units")
    create_table_from_template(dynamodb._client, "KnowledgeTable", name)
    store = DynamoKnowledgeStore(dynamodb, name)
    new_id = ids()
    for number in range(30):
        place(store, not_brand(f"Decaf{number:02d}", ["Food", "Coffee"]), new_id)
    path = ["Food", "Coffee"]

    def units(call: Callable[[], Any]) -> float:
        before = store.read_units
        call()
        return store.read_units - before

    by_sets, by_index = (
        units(lambda: store.prompt_candidates_along(path)),
        units(lambda: store.active_learnings_along(path)),
    )
    assert 0 < by_sets < by_index


def test_learning_from_image_names_the_learning_that_does_not_validate() -> None:
    keys = {"pk": "NODE#/coffee", "sk": "LEARNING#L-042"}
    with pytest.raises(InvalidInput, match="learning L-042"):
        learning_from_image(keys, {**keys, "entity": "learning", "id": "L-042", "version": 1, "text": ""})
    assert learning_from_image({"pk": "LEARNING#L-042", "sk": "#LOCATOR"}, {"node_pk": "NODE#/"}) is None


def test_scan_learnings_names_the_learning_item_that_does_not_validate(dynamodb: Any) -> None:
    broken = unique_table("broken")
    create_table_from_template(dynamodb._client, "KnowledgeTable", broken)
    store = DynamoKnowledgeStore(dynamodb, broken)
    place(store, brand(["Lavazza"], ["Coffee"], "p1"), ids())
    dynamodb.put_item(
        TableName=broken,
        Item=to_item({"pk": "NODE#/coffee", "sk": "LEARNING#L-bad", "entity": "learning", "id": "L-bad"}),
    )
    with pytest.raises(InvalidInput, match="learning L-bad"):
        [learning for page in store.scan_learnings() for learning in page]
