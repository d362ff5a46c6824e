"""The knowledge tree's pure logic: placement, merges, consolidation, votes, retrieval, snapshots."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cataloop.domain.knowledge.changes import plan_change
from cataloop.domain.knowledge.directives import covers, describe_directive
from cataloop.domain.knowledge.learning import (
    AttributeFact,
    LearningDraft,
    LearningProvenance,
    NotValue,
    UnitPattern,
    ValueLexicon,
)
from cataloop.domain.knowledge.lifecycle import approve_learning, edited_learning, vote_on
from cataloop.domain.knowledge.placement import (
    CONSOLIDATION_MIN_SIBLINGS,
    PlacementDecision,
    check_plan,
    decide_placement,
)
from cataloop.domain.knowledge.retrieval import estimated_tokens, rank_for_prompt
from cataloop.domain.knowledge.tree import (
    INITIAL_VOTES,
    DeploymentMode,
    KnowledgeNode,
    KnowledgeSnapshot,
    Learning,
    LearningStatus,
    path_key,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def brand_draft(values: Sequence[str], scope: Sequence[str], product: str | None = None) -> LearningDraft:
    quoted = ", ".join(f"'{value}'" for value in values)
    return LearningDraft(
        text=f"In {scope[-1] if scope else 'all'}, {quoted} are Brand values.",
        scope_path=list(scope),
        attributes=["Brand"],
        directive=ValueLexicon(attribute="Brand", values=list(values)),
        provenance=LearningProvenance(product_id=product),
    )


def fact_draft(value: str, scope: Sequence[str]) -> LearningDraft:
    return LearningDraft(
        text=f"Every product here has is_food = '{value}'.",
        scope_path=list(scope),
        attributes=["is_food"],
        directive=AttributeFact(attribute="is_food", value=value),
    )


class MemoryTree:
    """The knowledge base held in dicts, applying changes exactly as the store would (version checks)."""

    def __init__(self) -> None:
        self.nodes: dict[str, KnowledgeNode] = {}
        self.learnings: dict[str, Learning] = {}
        self._ids = itertools.count(1)

    def by_node(self) -> dict[str, list[Learning]]:
        grouped: dict[str, list[Learning]] = {key: [] for key in self.nodes}
        for learning in self.learnings.values():
            grouped.setdefault(path_key(learning.scope_path), []).append(learning)
        return grouped

    def new_id(self) -> str:
        return f"L{next(self._ids)}"

    def place(self, draft: LearningDraft, mode: DeploymentMode = DeploymentMode.DEPLOY_AND_LEARN):
        decisions = decide_placement(draft, self.nodes, self.by_node())
        check_plan(decisions, draft, self.nodes, self.by_node())
        change, changed = plan_change(
            draft, decisions, self.nodes, self.by_node(), mode=mode, now=NOW, new_id=self.new_id
        )
        for check in change.checks:
            assert self.nodes[path_key(check.path)].version == check.version
        for node in change.nodes:
            stored = self.nodes.get(node.key)
            assert (stored.version if stored else 0) == node.version - 1
            self.nodes[node.key] = node
        for learning in change.learnings:
            stored_learning = self.learnings.get(learning.id)
            assert (stored_learning.version if stored_learning else 0) == learning.version - 1
            self.learnings[learning.id] = learning
        return decisions, changed

    def live(self) -> list[Learning]:
        return [item for item in self.learnings.values() if item.live]


def actions(decisions: Sequence[PlacementDecision]) -> list[str]:
    return [decision.action for decision in decisions]


# ------------------------------------------------------------------------------------------ placement


def test_first_learning_branches_down_from_an_empty_tree_and_is_added_at_its_scope() -> None:
    kb = MemoryTree()
    decisions, changed = kb.place(brand_draft(["Death Wish"], ["Food", "Coffee"], "p1"))

    assert actions(decisions) == ["branch", "branch", "branch", "add"]
    assert [d.node_path for d in decisions] == [[], ["Food"], ["Food", "Coffee"], ["Food", "Coffee"]]
    assert all(decision.reason for decision in decisions)
    (created,) = changed
    assert created.status is LearningStatus.ACTIVE
    assert created.votes == INITIAL_VOTES and created.support_count == 1
    assert created.provenance.product_ids == ["p1"]
    assert kb.nodes[path_key(["Food"])].children == ["Coffee"]
    assert kb.nodes[path_key(["Food", "Coffee"])].learning_count == 1


def test_learn_then_deploy_keeps_new_learnings_proposed_until_approved() -> None:
    kb = MemoryTree()
    _, (created,) = kb.place(brand_draft(["Lavazza"], ["Coffee"]), DeploymentMode.LEARN_THEN_DEPLOY)
    assert created.status is LearningStatus.PROPOSED
    assert rank_for_prompt(kb.learnings.values(), "Lavazza beans", ["Coffee"]) == []

    approved = approve_learning(created, NOW, "expert@example.com", "checked 5 listings")
    assert approved.status is LearningStatus.ACTIVE and approved.version == 2
    assert approved.audit[-1].actor == "expert@example.com"
    with pytest.raises(ValueError, match="only proposed"):
        approve_learning(approved, NOW, "expert", "again")


def test_same_lexicon_attribute_merges_by_union_and_counts_support() -> None:
    kb = MemoryTree()
    kb.place(brand_draft(["Death Wish"], ["Coffee"], "p1"))
    decisions, (merged,) = kb.place(brand_draft(["Lavazza", "death wish"], ["Coffee"], "p2"))

    assert decisions[-1].action == "merge"
    assert merged.directive == ValueLexicon(attribute="Brand", values=["Death Wish", "Lavazza"])
    assert merged.support_count == 2 and merged.version == 2
    assert merged.provenance.product_ids == ["p1", "p2"]
    assert "'Lavazza'" in merged.text and "'Death Wish'" in merged.text
    assert len(kb.live()) == 1


def test_the_same_signal_from_the_same_product_is_a_noop() -> None:
    kb = MemoryTree()
    kb.place(brand_draft(["Death Wish"], ["Coffee"], "p1"))
    decisions, changed = kb.place(brand_draft(["Death Wish"], ["Coffee"], "p1"))
    assert decisions[-1].action == "noop" and changed == []


def test_an_ancestor_learning_that_covers_the_draft_absorbs_it_instead_of_a_child_copy() -> None:
    kb = MemoryTree()
    kb.place(brand_draft(["Nescafe", "Lavazza"], ["Coffee"], "p1"))
    decisions, (merged,) = kb.place(brand_draft(["Lavazza"], ["Coffee", "Beans"], "p2"))
    assert actions(decisions) == ["descend", "merge"]
    assert merged.scope_path == ["Coffee"] and merged.support_count == 2


def test_a_contradicting_fact_replaces_the_old_one_which_keeps_its_item_with_valid_to() -> None:
    kb = MemoryTree()
    _, (old,) = kb.place(fact_draft("true", ["Dairy", "Yogurt"]))
    decisions, changed = kb.place(fact_draft("false", ["Dairy", "Yogurt"]))

    assert decisions[-1].action == "replace" and decisions[-1].target_learning_id == old.id
    new = next(item for item in changed if item.id != old.id)
    retired = kb.learnings[old.id]
    assert retired.status is LearningStatus.RETIRED and retired.valid_to == NOW
    assert retired.superseded_by == new.id and new.supersedes == [old.id]
    assert kb.nodes[path_key(["Dairy", "Yogurt"])].learning_count == 1


def test_replacement_in_learn_then_deploy_leaves_the_old_learning_active() -> None:
    kb = MemoryTree()
    _, (old,) = kb.place(fact_draft("true", ["Dairy"]))
    kb.place(fact_draft("false", ["Dairy"]), DeploymentMode.LEARN_THEN_DEPLOY)
    assert kb.learnings[old.id].status is LearningStatus.ACTIVE


def test_a_lexicon_that_includes_a_not_value_replaces_it_but_a_larger_lexicon_survives_a_not_value() -> None:
    kb = MemoryTree()
    not_brand = LearningDraft(
        text="In Coffee, 'Arabica' is not a Brand value (it is Variety).",
        scope_path=["Coffee"],
        attributes=["Brand"],
        directive=NotValue(attribute="Brand", value="Arabica", correct_attribute="Variety"),
    )
    kb.place(not_brand)
    decisions, _ = kb.place(brand_draft(["Arabica"], ["Coffee"]))
    assert decisions[-1].action == "replace"

    kb2 = MemoryTree()
    kb2.place(brand_draft(["Arabica", "Lavazza"], ["Coffee"]))
    decisions, _ = kb2.place(not_brand)
    assert decisions[-1].action == "add"
    assert len(kb2.live()) == 2


def test_unrelated_learnings_at_the_same_node_are_added_side_by_side() -> None:
    kb = MemoryTree()
    kb.place(brand_draft(["Lavazza"], ["Coffee"]))
    pattern = LearningDraft(
        text="A number before 'Count' is the Pack Count, e.g. '100 Count'.",
        scope_path=["Coffee"],
        attributes=["Pack Count"],
        directive=UnitPattern(attribute="Pack Count", unit_terms=["Count"]),
    )
    decisions, _ = kb.place(pattern)
    assert decisions[-1].action == "add"
    assert kb.nodes[path_key(["Coffee"])].learning_count == 2


def test_frequent_sibling_copies_consolidate_at_the_parent_and_the_copies_are_retired() -> None:
    kb = MemoryTree()
    children = ["Beans", "Ground", "Instant"]
    for child in children[: CONSOLIDATION_MIN_SIBLINGS - 1]:
        decisions, _ = kb.place(brand_draft(["Lavazza"], ["Food", "Coffee", child], f"p-{child}"))
        assert decisions[-1].action == "add"
    copies = [item.id for item in kb.live()]

    decisions, changed = kb.place(brand_draft(["Lavazza"], ["Food", "Coffee", "Instant"], "p-instant"))

    final = decisions[-1]
    assert final.action == "add" and final.node_path == ["Food", "Coffee"]
    assert sorted(final.supersedes) == sorted(copies)
    (parent,) = [item for item in kb.live()]
    assert parent.scope_path == ["Food", "Coffee"]
    assert parent.support_count == CONSOLIDATION_MIN_SIBLINGS
    assert sorted(parent.provenance.product_ids) == ["p-Beans", "p-Ground", "p-instant"]
    # The category is the learning's scope_path (data), never written into its prose.
    assert "Coffee" not in parent.text and "'Lavazza'" in parent.text
    for copy_id in copies:
        assert kb.learnings[copy_id].superseded_by == parent.id
    # Later signals from another subcategory land on the broader learning, not in a new copy.
    decisions, _ = kb.place(brand_draft(["Lavazza"], ["Food", "Coffee", "Pods"], "p-pods"))
    assert actions(decisions)[-1] == "merge" and decisions[-1].target_learning_id == parent.id
    assert len(changed) == 1 + len(copies)


def test_examples_and_top_level_categories_stay_individual() -> None:
    kb = MemoryTree()
    for child in ["Beans", "Ground", "Instant"]:
        draft = brand_draft(["Lavazza"], ["Coffee", child]).model_copy(update={"kind": "example"})
        assert kb.place(draft)[0][-1].action == "add"
    kb2 = MemoryTree()
    for top in ["Coffee", "Tea", "Cocoa"]:
        assert kb2.place(brand_draft(["Lavazza"], [top]))[0][-1].action == "add"
    assert len(kb.live()) == 3 and len(kb2.live()) == 3


def test_category_names_match_case_insensitively() -> None:
    kb = MemoryTree()
    kb.place(brand_draft(["Lavazza"], ["Coffee"], "p1"))
    decisions, _ = kb.place(brand_draft(["Lavazza"], ["COFFEE"], "p2"))
    assert actions(decisions) == ["descend", "merge"]
    assert path_key(["Food/Drink", "커피"]) == "/food%2Fdrink/커피"


def test_check_plan_rejects_model_plans_that_do_not_fit_the_tree() -> None:
    kb = MemoryTree()
    kb.place(brand_draft(["Lavazza"], ["Coffee"]))
    draft = brand_draft(["Illy"], ["Coffee"])
    tree, by_node = kb.nodes, kb.by_node()

    def plan(*steps: PlacementDecision) -> list[PlacementDecision]:
        return list(steps)

    descend_root = PlacementDecision(action="descend", node_path=[], reason="root")
    with pytest.raises(ValueError, match="exists, descend instead"):
        check_plan(
            plan(
                PlacementDecision(action="branch", node_path=[], reason="x"),
                PlacementDecision(action="add", node_path=["Coffee"], reason="x"),
            ),
            draft,
            tree,
            by_node,
        )
    with pytest.raises(ValueError, match="not a live learning"):
        check_plan(
            plan(
                descend_root,
                PlacementDecision(action="merge", node_path=["Coffee"], target_learning_id="L99", reason="x"),
            ),
            draft,
            tree,
            by_node,
        )
    with pytest.raises(ValueError, match="off the draft's scope"):
        check_plan(
            plan(descend_root, PlacementDecision(action="add", node_path=["Tea"], reason="x")),
            draft,
            tree,
            by_node,
        )
    with pytest.raises(ValueError, match="last decision"):
        check_plan(plan(descend_root), draft, tree, by_node)
    check_plan(decide_placement(draft, tree, by_node), draft, tree, by_node)

    # A merge that would widen the draft's scope, or a consolidation that retires unrelated learnings.
    kb.place(brand_draft(["Pods"], ["Coffee", "Capsules"]))
    lavazza = next(item for item in kb.live() if item.scope_path == ["Coffee"])
    unrelated = next(item for item in kb.live() if item.scope_path == ["Coffee", "Capsules"])
    child_draft = brand_draft(["Illy"], ["Coffee", "Beans"])
    tree, by_node = kb.nodes, kb.by_node()
    widen = PlacementDecision(action="merge", node_path=["Coffee"], target_learning_id=lavazza.id, reason="x")
    with pytest.raises(ValueError, match="widen"):
        check_plan(plan(descend_root, widen), child_draft, tree, by_node)
    grab = PlacementDecision(action="add", node_path=["Coffee"], reason="x", supersedes=[unrelated.id])
    with pytest.raises(ValueError, match="not a copy of this directive"):
        check_plan(plan(descend_root, grab), child_draft, tree, by_node)


# ----------------------------------------------------------------------------------- votes and edits


def test_votes_go_up_and_down_and_zero_retires_the_learning() -> None:
    kb = MemoryTree()
    _, (learning,) = kb.place(brand_draft(["Lavazza"], ["Coffee"]))
    up = vote_on(learning, 1, NOW, "feedback", "helped p7")
    assert up.votes == INITIAL_VOTES + 1 and up.status is LearningStatus.ACTIVE
    down = vote_on(vote_on(learning, -1, NOW, "feedback", "p8 wrong"), -1, NOW, "feedback", "p9 wrong")
    assert down.votes == 0 and down.status is LearningStatus.RETIRED and down.valid_to == NOW
    assert [entry.action for entry in down.audit] == ["add", "downvoted", "retired"]
    with pytest.raises(ValueError, match="retired"):
        vote_on(down, 1, NOW, "feedback", "too late")


def test_edit_creates_a_new_learning_and_keeps_the_old_one_retired() -> None:
    kb = MemoryTree()
    _, (old,) = kb.place(brand_draft(["Lavazza"], ["Coffee"]))
    new, retired = edited_learning(
        old, "In Coffee, 'Lavazza' is always a Brand value.", None, NOW, "ana", "wording", "L9"
    )
    assert new.supersedes == [old.id] and retired.superseded_by == "L9" and retired.valid_to == NOW
    assert new.audit[-1].actor == "ana" and "wording" in new.audit[-1].reason
    with pytest.raises(ValueError, match="abstract"):
        edited_learning(old, "Be careful with brand names in coffee.", None, NOW, "ana", "x", "L10")


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty or too short"), ("x" * 401, "at most 400"), ("Make sure the brand is right.", "abstract")],
)
def test_empty_oversized_or_abstract_learnings_are_rejected_with_a_clear_error(
    text: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        LearningDraft(
            text=text,
            scope_path=["Coffee"],
            attributes=["Brand"],
            directive=ValueLexicon(attribute="Brand", values=["Lavazza"]),
        )


# ------------------------------------------------------------------------------------------ retrieval


def _active(
    learning_id: str, text: str, values: list[str], scope: list[str], votes: int = 2, age_days: int = 0
) -> Learning:
    at = NOW - timedelta(days=age_days)
    return Learning(
        id=learning_id,
        version=1,
        text=text,
        scope_path=scope,
        attributes=["Brand"],
        directive=ValueLexicon(attribute="Brand", values=values),
        votes=votes,
        status=LearningStatus.ACTIVE,
        valid_from=at,
        created_at=at,
        updated_at=at,
    )


def test_retrieval_prefers_learnings_about_the_product_then_votes_and_recency() -> None:
    relevant = _active(
        "a", "In Coffee, 'Lavazza' is a Brand value.", ["Lavazza"], ["Coffee"], votes=1, age_days=90
    )
    popular = _active("b", "In Coffee, 'Illy' is a Brand value.", ["Illy"], ["Coffee"], votes=9)
    stale = _active(
        "c", "In Coffee, 'Nescafe' is a Brand value.", ["Nescafe"], ["Coffee"], votes=9, age_days=300
    )
    elsewhere = _active("d", "In Tea, 'Lavazza' is a Brand value.", ["Lavazza"], ["Tea"], votes=9)
    ranked = rank_for_prompt(
        [stale, elsewhere, popular, relevant], "Lavazza Crema e Gusto 1kg", ["Coffee", "Beans"], now=NOW
    )
    assert [view.id for view in ranked] == ["a", "b", "c"]
    assert all(view.version == 1 for view in ranked)


def test_retrieval_respects_the_token_budget_and_skips_retired_ones() -> None:
    learnings = [
        _active(f"l{i}", f"In Coffee, 'Brand{i}' is a Brand value.", [f"Brand{i}"], ["Coffee"])
        for i in range(6)
    ]
    cost = estimated_tokens(learnings[0].text)
    assert cost == -(-len(learnings[0].text) // 4)
    ranked = rank_for_prompt(learnings, "Brand3 coffee", ["Coffee"], token_budget=2 * cost, now=NOW)
    assert len(ranked) == 2 and ranked[0].id == "l3"
    retired = learnings[3].model_copy(update={"status": LearningStatus.RETIRED, "valid_to": NOW})
    assert "l3" not in [
        view.id for view in rank_for_prompt([retired, *learnings[4:]], "Brand3", ["Coffee"], now=NOW)
    ]
    assert rank_for_prompt(learnings, "Brand3", ["Coffee"], token_budget=cost - 1, now=NOW) == []


# ------------------------------------------------------------------------------------------ snapshots


def test_snapshot_validation_catches_missing_nodes_parents_and_references() -> None:
    kb = MemoryTree()
    kb.place(brand_draft(["Lavazza"], ["Food", "Coffee"]))
    good = KnowledgeSnapshot(
        exported_at=NOW, nodes=list(kb.nodes.values()), learnings=list(kb.learnings.values())
    )
    assert KnowledgeSnapshot.model_validate_json(good.model_dump_json()) == good
    orphan_nodes = [node for node in kb.nodes.values() if node.path != ["Food"]]
    with pytest.raises(ValidationError, match="no parent node"):
        KnowledgeSnapshot(exported_at=NOW, nodes=orphan_nodes, learnings=[])
    with pytest.raises(ValidationError, match="which has no node"):
        KnowledgeSnapshot(
            exported_at=NOW,
            nodes=[kb.nodes["/"].model_copy(update={"children": []})],
            learnings=list(kb.learnings.values()),
        )
    dangling = next(iter(kb.learnings.values())).model_copy(update={"supersedes": ["ghost"]})
    with pytest.raises(ValidationError, match="missing from the snapshot"):
        KnowledgeSnapshot(exported_at=NOW, nodes=list(kb.nodes.values()), learnings=[dangling])
    with pytest.raises(ValidationError):
        KnowledgeSnapshot.model_validate({**good.model_dump(mode="json"), "schema_version": 2})


def test_describe_directive_quotes_the_terms_within_the_size_limit() -> None:
    many = ValueLexicon(attribute="Brand", values=[f"Very Long Brand Name Number {i:02d}" for i in range(20)])
    text = describe_directive(many, ["Coffee"])
    assert len(text) <= 400 and "'Very Long Brand Name Number 00'" in text
    LearningDraft(text=text, scope_path=["Coffee"], attributes=["Brand"], directive=many)


# ------------------------------------------------------------------------------------ tree properties

_scopes = st.lists(st.sampled_from(["Food", "Coffee", "Tea", "Beans", "Ground"]), min_size=0, max_size=3)
_values = st.lists(
    st.sampled_from(["Lavazza", "Illy", "Nescafe", "Arabica", "Maxim"]), min_size=1, max_size=3, unique=True
)
_drafts = st.one_of(
    st.builds(
        lambda v, s, p: brand_draft(v, s, p), _values, _scopes, st.sampled_from(["p1", "p2", "p3", None])
    ),
    st.builds(lambda v, s: fact_draft(v, s), st.sampled_from(["true", "false"]), _scopes),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drafts=st.lists(_drafts, min_size=1, max_size=12), mode=st.sampled_from(list(DeploymentMode)))
def test_tree_operations_lose_nothing_and_keep_the_tree_consistent(
    drafts: list[LearningDraft], mode: DeploymentMode
) -> None:
    kb = MemoryTree()
    for draft in drafts:
        decisions, _ = kb.place(draft, mode)
        assert sum(decision.action in ("add", "merge", "replace", "noop") for decision in decisions) == 1
        # Nothing lost: some live learning on the draft's path now says what the draft says.
        assert any(
            covers(item.directive, draft.directive)
            and path_key(draft.scope_path).startswith(path_key(item.scope_path).rstrip("/"))
            for item in kb.live()
        ), (draft, decisions)
    by_node = kb.by_node()
    for key, node in kb.nodes.items():
        live = [item for item in by_node.get(key, []) if item.live]
        assert node.learning_count == len(live)
        assert len({item.key for item in live}) == len(live), "duplicate live learnings at one node"
        if node.path:
            parent = kb.nodes[path_key(node.path[:-1])]
            assert parent.has_child(node.path[-1])
    for learning in kb.learnings.values():
        assert path_key(learning.scope_path) in kb.nodes
        assert (learning.valid_to is None) == learning.live
        if learning.superseded_by:
            assert learning.superseded_by in kb.learnings
    KnowledgeSnapshot(exported_at=NOW, nodes=list(kb.nodes.values()), learnings=list(kb.learnings.values()))
