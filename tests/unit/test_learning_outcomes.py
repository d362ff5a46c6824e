"""Outcome-scored learnings: judging a learning's influence on an extraction, the helpful/harmful delta update
and the retirement rule, recording outcomes in a store (Conflict retry, idempotent replay), ranking by
helpfulness, and near-duplicate placement through the learnings index."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from cataloop.adapters.embedded_learnings import EmbeddedLearningIndex
from cataloop.adapters.memory import InMemoryKnowledgeStore
from cataloop.domain.enrichment.extraction import AttributeValue, WorkerExtraction
from cataloop.domain.knowledge.learning import (
    AttributeFact,
    LearningDraft,
    LearningProvenance,
    NotValue,
    UnitPattern,
    ValueLexicon,
)
from cataloop.domain.knowledge.learning_search import learning_document
from cataloop.domain.knowledge.outcomes import (
    OUTCOME_HARMFUL,
    OUTCOME_HELPFUL,
    RETIRE_HARM_RATIO,
    RETIRE_MIN_HARMFUL,
    LearningOutcome,
    already_scored,
    apply_outcome,
    harm_dominates,
    judge_influence,
)
from cataloop.domain.knowledge.placement import PlacementDecision, PlacementPlan, check_plan, decide_placement
from cataloop.domain.knowledge.retrieval import (
    PromptCandidate,
    helpfulness,
    last_changed,
    prompt_score,
    rank_for_prompt,
)
from cataloop.domain.knowledge.tree import (
    MAX_OUTCOME_KEYS,
    DeploymentMode,
    KnowledgeChange,
    KnowledgeNode,
    Learning,
    LearningStatus,
    path_key,
)
from cataloop.domain.model_calls import ModelRequest, ModelResponse
from cataloop.errors import Conflict
from cataloop.services import knowledge_admin
from cataloop.services import knowledge_base as kb
from cataloop.services.knowledge_search import KnowledgeSearch, near_duplicate_finder, near_duplicates
from cataloop.services.learning_outcomes import record_outcomes

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
COFFEE = ["Food", "Coffee"]


def _learning(
    learning_id: str,
    directive: ValueLexicon | NotValue | UnitPattern | AttributeFact,
    text: str,
    *,
    scope: list[str] | None = None,
    helpful: int = 0,
    harmful: int = 0,
    at: datetime = NOW,
) -> Learning:
    attributes = [directive.attribute]
    if isinstance(directive, NotValue) and directive.correct_attribute:
        attributes.append(directive.correct_attribute)
    return Learning(
        id=learning_id,
        version=1,
        text=text,
        scope_path=scope if scope is not None else COFFEE,
        attributes=attributes,
        directive=directive,
        helpful=helpful,
        harmful=harmful,
        status=LearningStatus.ACTIVE,
        valid_from=at,
        created_at=at,
        updated_at=at,
    )


BRAND = _learning(
    "L-brand", ValueLexicon(attribute="Brand", values=["Lavazza"]), "'Lavazza' is a Brand value."
)
NOT_BRAND = _learning(
    "L-not",
    NotValue(attribute="Brand", value="Arabica", correct_attribute="Specialty"),
    "'Arabica' is not a Brand value (it is Specialty).",
)
VOLUME = _learning(
    "L-volume",
    UnitPattern(attribute="Net content", unit_terms=["ml"]),
    "A number followed by 'ml' is the Net content.",
)


def worker(values: dict[str, str], used: list[str]) -> WorkerExtraction:
    return WorkerExtraction(
        attributes={name: AttributeValue(value=value) for name, value in values.items()},
        learning_ids_used=used,
    )


def judge(
    extractions: list[WorkerExtraction],
    final: dict[str, str],
    injected: list[Learning] | None = None,
) -> dict[str, LearningOutcome]:
    views = [item.view() for item in (injected or [BRAND, NOT_BRAND, VOLUME])]
    outcomes = judge_influence(views, extractions, final, "audit", "p-1")
    assert len({outcome.learning_id for outcome in outcomes}) == len(outcomes)
    return {outcome.learning_id: outcome for outcome in outcomes}


# ------------------------------------------------------------------------------------------------ judging


def test_a_learning_is_helpful_when_the_workers_value_matches_the_confirmed_one() -> None:
    outcomes = judge([worker({"brand": "LAVAZZA"}, ["L-brand"])], {"Brand": "Lavazza"})
    outcome = outcomes["L-brand"]
    assert outcome.helpful and outcome.attribute == "Brand"
    assert (outcome.shaped_value, outcome.confirmed_value) == ("LAVAZZA", "Lavazza")
    assert (outcome.source, outcome.product_id) == ("audit", "p-1")


def test_values_are_compared_by_the_attributes_kind() -> None:
    # Net content is a quantity: 150ml and 0.15 L are the same value.
    outcomes = judge([worker({"Net content": "150ml"}, ["L-volume"])], {"Net content": "0.15 L"})
    assert outcomes["L-volume"].helpful


@pytest.mark.parametrize(
    ("produced", "final"),
    [
        ({"Brand": "Illy"}, {"Brand": "Lavazza"}),  # a different value
        ({"Brand": "Lavazza"}, {}),  # the worker has a value, the confirmed record has none
        ({}, {"Brand": "Lavazza"}),  # the confirmed record has a value the worker missed
    ],
)
def test_a_learning_is_harmful_when_the_worker_disagrees_with_the_confirmed_value(
    produced: dict[str, str], final: dict[str, str]
) -> None:
    outcome = judge([worker(produced, ["L-brand"])], final)["L-brand"]
    assert not outcome.helpful
    assert outcome.shaped_value == produced.get("Brand") and outcome.confirmed_value == final.get("Brand")


def test_only_used_injected_learnings_about_valued_attributes_are_judged() -> None:
    extractions = [worker({"Flavor": "Mocha"}, ["L-brand", "L-unknown"]), worker({"Brand": "Illy"}, [])]
    # L-brand was used, but neither that worker nor the final record has a Brand; L-unknown was not injected;
    # the worker with a Brand listed no learning.
    assert judge(extractions, {"Flavor": "Mocha"}) == {}


def test_harmful_wins_over_helpful_across_workers_and_there_is_one_outcome_per_learning() -> None:
    extractions = [
        worker({"Brand": "Lavazza"}, ["L-brand", "L-brand"]),
        worker({"Brand": "Illy"}, ["L-brand"]),
        worker({"Brand": "Lavazza"}, ["L-brand"]),
    ]
    outcomes = judge_influence([BRAND.view()], extractions, {"Brand": "Lavazza"}, "supervisor", "p-2")
    assert len(outcomes) == 1
    assert not outcomes[0].helpful and outcomes[0].shaped_value == "Illy"


def test_a_not_value_is_helpful_when_the_confirmed_value_is_not_the_vetoed_one() -> None:
    helped = judge(
        [worker({"Brand": "Lavazza", "Specialty": "Arabica"}, ["L-not"])],
        {"Brand": "Lavazza", "Specialty": "arabica"},
    )
    assert helped["L-not"].helpful
    # The worker obeyed the veto and left Brand empty; the confirmed record has no Brand either.
    assert judge([worker({"Specialty": "Arabica"}, ["L-not"])], {"Specialty": "Arabica"})["L-not"].helpful


def test_a_not_value_is_harmful_when_the_vetoed_value_was_right_or_its_correct_attribute_is_wrong() -> None:
    vetoed = judge([worker({}, ["L-not"])], {"Brand": "Arabica"})["L-not"]
    assert not vetoed.helpful and vetoed.attribute == "Brand" and vetoed.confirmed_value == "Arabica"
    wrong_home = judge(
        [worker({"Brand": "Lavazza", "Specialty": "Arabica"}, ["L-not"])],
        {"Brand": "Lavazza", "Specialty": "Robusta"},
    )["L-not"]
    assert not wrong_home.helpful and wrong_home.attribute == "Specialty"


# --------------------------------------------------------------------------------- delta update, retirement


def outcome(
    helpful: bool, product: str = "p-1", source: str = "audit", learning_id: str = "L-brand"
) -> LearningOutcome:
    return LearningOutcome(
        learning_id=learning_id,
        helpful=helpful,
        attribute="Brand",
        shaped_value="Illy",
        confirmed_value="Lavazza",
        source=source,
        product_id=product,
    )


def test_apply_outcome_counts_one_and_records_source_and_product() -> None:
    helped = apply_outcome(BRAND, outcome(True), LATER, "scorer")
    assert (helped.helpful, helped.harmful, helped.version) == (1, 0, 2)
    entry = helped.audit[-1]
    assert (entry.action, entry.actor, entry.at) == (OUTCOME_HELPFUL, "scorer", LATER)
    assert "audit" in entry.reason and "p-1" in entry.reason
    assert already_scored(helped, outcome(True)) and not already_scored(helped, outcome(True, "p-2"))
    assert not already_scored(helped, outcome(True, source="review"))

    hurt = apply_outcome(helped, outcome(False, "p-2"), LATER, "scorer")
    assert (hurt.helpful, hurt.harmful, hurt.status) == (1, 1, LearningStatus.ACTIVE)
    assert hurt.audit[-1].action == OUTCOME_HARMFUL


def test_apply_outcome_refuses_replays_other_learnings_and_retired_ones() -> None:
    helped = apply_outcome(BRAND, outcome(True), LATER, "scorer")
    with pytest.raises(ValueError, match="already counted"):
        apply_outcome(helped, outcome(False), LATER, "scorer")
    with pytest.raises(ValueError, match="applied to learning"):
        apply_outcome(BRAND, outcome(True, learning_id="L-other"), LATER, "scorer")
    retired = BRAND.model_copy(update={"status": LearningStatus.RETIRED, "valid_to": NOW})
    with pytest.raises(ValueError, match="retired"):
        apply_outcome(retired, outcome(True), LATER, "scorer")


def test_outcome_keys_keep_the_newest_ones() -> None:
    learning = BRAND
    for number in range(MAX_OUTCOME_KEYS + 5):
        learning = apply_outcome(learning, outcome(True, f"p-{number}"), LATER, "scorer")
    assert len(learning.outcome_keys) == MAX_OUTCOME_KEYS and learning.helpful == MAX_OUTCOME_KEYS + 5
    assert learning.outcome_keys[-1] == f"audit:p-{MAX_OUTCOME_KEYS + 4}"
    assert "audit:p-0" not in learning.outcome_keys


@pytest.mark.parametrize(
    ("helpful", "harmful", "retires"),
    [(0, 2, False), (0, 3, True), (1, 3, False), (1, 4, True), (2, 5, False), (2, 6, True), (10, 21, False)],
)
def test_harm_dominates_at_three_harms_and_twice_helpful_plus_one(
    helpful: int, harmful: int, retires: bool
) -> None:
    assert RETIRE_MIN_HARMFUL == 3 and RETIRE_HARM_RATIO == 2
    learning = BRAND.model_copy(update={"helpful": helpful, "harmful": harmful})
    assert (harm_dominates(learning) is not None) is retires


def test_a_harmful_outcome_that_meets_the_rule_retires_the_learning_in_the_same_version_step() -> None:
    learning = BRAND.model_copy(update={"harmful": RETIRE_MIN_HARMFUL - 1})
    retired = apply_outcome(learning, outcome(False, "p-9"), LATER, "scorer")
    assert retired.status is LearningStatus.RETIRED and retired.valid_to == LATER
    assert retired.version == learning.version + 1 and retired.harmful == RETIRE_MIN_HARMFUL
    entry = retired.audit[-1]
    assert entry.action == "retired" and "harmful in 3" in entry.reason and "p-9" in entry.reason
    # A helpful outcome never retires, even on a record that would.
    dominated = BRAND.model_copy(update={"harmful": 9})
    assert apply_outcome(dominated, outcome(True), LATER, "scorer").live


# ------------------------------------------------------------------------------------- recording in a store


def _ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"L-{next(counter):03d}"


def brand_draft(values: list[str], product: str, scope: list[str] | None = None) -> LearningDraft:
    return LearningDraft(
        text="These are Brand values: " + ", ".join(f"'{value}'" for value in values) + ".",
        scope_path=scope or COFFEE,
        attributes=["Brand"],
        directive=ValueLexicon(attribute="Brand", values=values),
        provenance=LearningProvenance(product_id=product),
    )


def _placed(store: InMemoryKnowledgeStore, draft: LearningDraft, new_id: Callable[[], str]) -> Learning:
    result = kb.place_learning(draft, store, DeploymentMode.DEPLOY_AND_LEARN, now=lambda: NOW, new_id=new_id)
    return result.changed[0]


def test_record_outcomes_counts_retires_and_skips_unknown_ids() -> None:
    store = InMemoryKnowledgeStore()
    learning = _placed(store, brand_draft(["Lavazza"], "p-0"), _ids())
    outcomes = [
        outcome(True, "p-1", learning_id=learning.id),
        *(outcome(False, f"p-{n}", learning_id=learning.id) for n in range(2, 7)),
        outcome(True, "p-9", learning_id="L-missing"),
    ]
    report = record_outcomes(store, outcomes, now=lambda: LATER)
    # 1 helpful, then harms: the 4th harm (4 >= 2 x (1 + 1)) is counted and retires it; the 5th finds it
    # retired.
    assert (report.helpful, report.harmful) == (1, 4)
    assert list(report.retired) == [learning.id] and "harmful in 4" in report.retired[learning.id]
    assert report.unknown == ["L-missing"] and report.not_live == [learning.id] and report.replayed == []
    stored = store.get_learning(learning.id)
    assert stored is not None and (stored.helpful, stored.harmful) == (1, 4)
    assert stored.status is LearningStatus.RETIRED and stored.audit[-1].actor == "outcome_scoring"
    node = store.get_node(COFFEE)
    assert node is not None and node.learning_count == 0


def test_record_outcomes_is_idempotent_for_a_replayed_batch() -> None:
    store = InMemoryKnowledgeStore()
    learning = _placed(store, brand_draft(["Lavazza"], "p-0"), _ids())
    batch = [outcome(True, "p-1", learning_id=learning.id), outcome(False, "p-2", learning_id=learning.id)]
    first = record_outcomes(store, batch, now=lambda: LATER)
    version = store.get_learning(learning.id).version
    again = record_outcomes(store, [*batch, batch[0]], now=lambda: LATER)
    assert (first.helpful, first.harmful) == (1, 1)
    assert (again.helpful, again.harmful) == (0, 0) and again.replayed == [learning.id] * 3
    stored = store.get_learning(learning.id)
    assert stored is not None and (stored.helpful, stored.harmful, stored.version) == (1, 1, version)
    # The same product judged by another source is another outcome.
    assert record_outcomes(store, [outcome(True, "p-1", "review", learning.id)]).helpful == 1


class RacingStore:
    """The in-memory store where, before the first `commit`, another writer votes on the learning: the
    outcome's commit then fails on its stale version, as a real concurrent write would make it."""

    def __init__(self, store: InMemoryKnowledgeStore, learning_id: str) -> None:
        self._store = store
        self._learning_id = learning_id
        self.commits = 0
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def commit(self, change: KnowledgeChange) -> None:
        self.commits += 1
        if self.commits == 1:
            knowledge_admin.vote(self._store, self._learning_id, 1, "helped p-8", now=lambda: NOW)
        try:
            self._store.commit(change)
        except Conflict:
            self.conflicts += 1
            raise


def test_record_outcomes_retries_after_a_conflict_and_keeps_the_concurrent_write() -> None:
    store = InMemoryKnowledgeStore()
    learning = _placed(store, brand_draft(["Lavazza"], "p-0"), _ids())
    racing = RacingStore(store, learning.id)
    backoffs: list[int] = []
    report = record_outcomes(
        racing,
        [outcome(False, "p-1", learning_id=learning.id)],
        now=lambda: LATER,
        backoff=backoffs.append,
    )
    assert report.harmful == 1 and racing.conflicts == 1 and backoffs == [1]
    stored = store.get_learning(learning.id)
    assert stored is not None and stored.harmful == 1 and stored.votes == learning.votes + 1
    assert [entry.action for entry in stored.audit][-2:] == ["upvoted", OUTCOME_HARMFUL]


# ------------------------------------------------------------------------------------------------ ranking


def test_a_learning_that_keeps_hurting_sinks_below_ones_that_help() -> None:
    product = "Lavazza Illy Segafredo gift box"
    helps = _learning(
        "a-helps", ValueLexicon(attribute="Brand", values=["Illy"]), "'Illy' is a Brand value.", helpful=6
    )
    untested = _learning(
        "b-new", ValueLexicon(attribute="Brand", values=["Segafredo"]), "'Segafredo' is a Brand value."
    )
    hurts = _learning(
        "c-hurts",
        ValueLexicon(attribute="Brand", values=["Lavazza"]),
        "'Lavazza' is a Brand value.",
        helpful=1,
        harmful=2,
    )
    assert helpfulness(helps) == 7 / 8 and helpfulness(untested) == 0.5 and helpfulness(hurts) == 2 / 5
    scores = [prompt_score(item, product, COFFEE, NOW) for item in (helps, untested, hurts)]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1] > scores[2]
    ranked = rank_for_prompt([hurts, untested, helps], product, COFFEE, now=NOW)
    assert [view.id for view in ranked] == ["a-helps", "b-new", "c-hurts"]


def test_counting_an_outcome_does_not_make_a_learning_look_recent() -> None:
    old = _learning(
        "L-old",
        ValueLexicon(attribute="Brand", values=["Lavazza"]),
        "'Lavazza' is a Brand value.",
        at=NOW - timedelta(days=300),
    )
    scored = apply_outcome(old, outcome(False, learning_id="L-old"), NOW, "scorer")
    assert scored.updated_at == NOW and last_changed(scored) == old.valid_from
    assert prompt_score(scored, "Lavazza", COFFEE, NOW) < prompt_score(old, "Lavazza", COFFEE, NOW)
    # the stores' prompt sets keep what ranking needs: a candidate scores as its learning does
    candidate = PromptCandidate.of(scored)
    assert candidate.last_changed == old.valid_from and candidate.helpful == scored.helpful
    assert prompt_score(candidate, "Lavazza", COFFEE, NOW) == prompt_score(scored, "Lavazza", COFFEE, NOW)
    assert rank_for_prompt([candidate], "Lavazza", COFFEE, now=NOW) == rank_for_prompt(
        [scored], "Lavazza", COFFEE, now=NOW
    )


# ------------------------------------------------------------------------------------ near-duplicate merges


TOPICS = (("lavazza", "illy", "segafredo"), ("death wish", "black rifle", "kicking horse"), ("count", "pods"))


class TopicEmbedder:
    """Each axis is one topic; a text's vector counts its topic words, so nearness is predictable."""

    dimension = len(TOPICS) + 1

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        return [[float(sum(t.lower().count(w) for w in words)) for words in TOPICS] + [0.05] for t in texts]


def _tree(
    store: InMemoryKnowledgeStore, scope: list[str]
) -> tuple[dict[str, KnowledgeNode], dict[str, list[Learning]]]:
    tree: dict[str, KnowledgeNode] = {}
    learnings: dict[str, list[Learning]] = {}
    for depth in range(len(scope) + 1):
        node, items = store.node_partition(scope[:depth])
        assert node is not None
        tree[node.key] = node
        learnings[node.key] = items
    return tree, learnings


def _two_brand_lexicons() -> tuple[InMemoryKnowledgeStore, Learning, Learning]:
    """Two live Brand lexicons at Coffee: an uncorroborated seller claim is added as proposed next to the
    first instead of widening it, so the node holds both (as it does after the model placed one)."""
    store = InMemoryKnowledgeStore()
    new_id = _ids()
    italian = _placed(store, brand_draft(["Lavazza", "Illy"], "p-1"), new_id)
    claim = brand_draft(["Death Wish", "Black Rifle"], "p-2").model_copy(
        update={"source_channel": "seller_feedback"}
    )
    strong = _placed(store, claim, new_id)
    assert strong.status is LearningStatus.PROPOSED and italian.id < strong.id
    return store, italian, strong


def test_decide_placement_merges_into_the_near_duplicate_rather_than_the_first_mergeable() -> None:
    store, italian, strong = _two_brand_lexicons()
    draft = brand_draft(["Black Rifle", "Kicking Horse"], "p-3")
    tree, learnings = _tree(store, COFFEE)

    baseline = decide_placement(draft, tree, learnings)[-1]
    assert (baseline.action, baseline.target_learning_id) == ("merge", italian.id)

    decisions = decide_placement(draft, tree, learnings, near_duplicates=[strong.id])
    check_plan(decisions, draft, tree, learnings)
    final = decisions[-1]
    assert (final.action, final.target_learning_id) == ("merge", strong.id)
    assert "near-duplicate" in final.reason


def test_a_near_duplicate_of_another_type_or_attribute_or_elsewhere_is_ignored() -> None:
    store, italian, strong = _two_brand_lexicons()
    tree, learnings = _tree(store, COFFEE)
    # An AttributeFact draft cannot merge into a lexicon however close their texts are.
    fact = LearningDraft(
        text="Every product here has Brand = 'Black Rifle'.",
        scope_path=COFFEE,
        attributes=["Brand"],
        directive=AttributeFact(attribute="Brand", value="Black Rifle"),
    )
    assert decide_placement(fact, tree, learnings, near_duplicates=[strong.id])[-1].action == "add"
    draft = brand_draft(["Kicking Horse"], "p-3")
    unknown = decide_placement(draft, tree, learnings, near_duplicates=["L-elsewhere"])[-1]
    assert unknown.target_learning_id == italian.id and "near-duplicate" not in unknown.reason


def _indexed(store: InMemoryKnowledgeStore) -> EmbeddedLearningIndex:
    index = EmbeddedLearningIndex(None, TopicEmbedder(), TopicEmbedder.dimension)
    index.ensure_index()
    every = [item for batch in store.scan_learnings() for item in batch]
    index.bulk_upsert([learning_document(item) for item in every])
    return index


def test_place_learning_merges_into_the_near_duplicate_the_learnings_index_finds() -> None:
    store, italian, strong = _two_brand_lexicons()
    index = _indexed(store)
    search = KnowledgeSearch(index, TopicEmbedder())
    draft = brand_draft(["Black Rifle", "Kicking Horse"], "p-3")

    assert near_duplicates(index, TopicEmbedder(), draft) == [strong.id]
    # The exact scope only: the same draft one level up finds nothing.
    assert search.near_duplicates(brand_draft(["Black Rifle"], "p-4", ["Food"])) == []

    result = kb.place_learning(
        draft,
        store,
        DeploymentMode.DEPLOY_AND_LEARN,
        now=lambda: LATER,
        new_id=_ids(),
        similar=near_duplicate_finder(lambda: search),
    )
    assert (result.final.action, result.final.target_learning_id) == ("merge", strong.id)
    merged = store.get_learning(strong.id)
    assert merged is not None and merged.directive == ValueLexicon(
        attribute="Brand", values=["Death Wish", "Black Rifle", "Kicking Horse"]
    )
    unchanged = store.get_learning(italian.id)
    assert unchanged is not None and unchanged.version == italian.version


def test_place_learning_goes_ahead_when_the_near_duplicate_lookup_fails() -> None:
    store, italian, _ = _two_brand_lexicons()

    def broken(draft: LearningDraft) -> list[str]:
        raise ConnectionError("learnings index unreachable")

    result = kb.place_learning(
        brand_draft(["Kicking Horse"], "p-3"),
        store,
        DeploymentMode.DEPLOY_AND_LEARN,
        now=lambda: LATER,
        new_id=_ids(),
        similar=broken,
    )
    assert (result.final.action, result.final.target_learning_id) == ("merge", italian.id)


def test_the_finder_builds_its_search_once_and_again_after_a_failed_build() -> None:
    store, _, strong = _two_brand_lexicons()
    index = _indexed(store)
    builds: list[int] = []

    def build() -> KnowledgeSearch:
        builds.append(1)
        if len(builds) == 1:
            raise ConnectionError("not yet")
        return KnowledgeSearch(index, TopicEmbedder())

    find = near_duplicate_finder(build)
    draft = brand_draft(["Black Rifle"], "p-3")
    with pytest.raises(ConnectionError):
        find(draft)
    assert find(draft) == [strong.id] and find(draft) == [strong.id] and len(builds) == 2


def test_counters_survive_a_snapshot_export() -> None:
    store = InMemoryKnowledgeStore()
    learning = _placed(store, brand_draft(["Lavazza"], "p-0"), _ids())
    record_outcomes(store, [outcome(True, "p-1", learning_id=learning.id)], now=lambda: LATER)
    snapshot = knowledge_admin.export_snapshot(store, LATER)
    (exported,) = [item for item in snapshot.learnings if item.id == learning.id]
    assert (exported.helpful, exported.harmful, exported.outcome_keys) == (1, 0, ["audit:p-1"])
    assert path_key(exported.scope_path) == path_key(COFFEE)


def test_a_consolidation_carries_the_copies_outcome_record() -> None:
    store = InMemoryKnowledgeStore()
    new_id = _ids()
    beans = _placed(store, brand_draft(["Lavazza"], "p-1", [*COFFEE, "Beans"]), new_id)
    pods = _placed(store, brand_draft(["Lavazza"], "p-2", [*COFFEE, "Pods"]), new_id)
    record_outcomes(
        store,
        [
            outcome(True, "p-5", learning_id=beans.id),
            outcome(True, "p-6", learning_id=pods.id),
            outcome(False, "p-7", learning_id=pods.id),
        ],
        now=lambda: LATER,
    )
    result = kb.place_learning(
        brand_draft(["Lavazza"], "p-3", [*COFFEE, "Ground"]),
        store,
        DeploymentMode.DEPLOY_AND_LEARN,
        now=lambda: LATER,
        new_id=new_id,
    )
    assert result.final.action == "add" and result.final.node_path == COFFEE
    (promoted,) = [item for item in result.changed if item.live]
    assert (promoted.helpful, promoted.harmful) == (2, 1)


class PlanModel:
    """A memory-manager ModelClient returning a fixed plan."""

    def __init__(self, plan: PlacementPlan) -> None:
        self.plan = plan

    def invoke(self, request: ModelRequest, output_model: type[Any]) -> ModelResponse[Any]:
        return ModelResponse(model_id="test-memory-manager", output=self.plan)


def test_the_finder_is_asked_only_when_the_baseline_decides() -> None:
    store, italian, strong = _two_brand_lexicons()
    asked: list[LearningDraft] = []

    def finder(draft: LearningDraft) -> list[str]:
        asked.append(draft)
        return [strong.id]

    valid = PlacementPlan(
        decisions=[
            PlacementDecision(action="descend", node_path=[], reason="the root exists"),
            PlacementDecision(action="descend", node_path=["Food"], reason="Food exists"),
            PlacementDecision(
                action="merge", node_path=COFFEE, target_learning_id=italian.id, reason="brands"
            ),
        ]
    )
    options: dict[str, Any] = {"now": lambda: LATER, "new_id": _ids(), "similar": finder}
    by_model = kb.place_learning(
        brand_draft(["Kicking Horse"], "p-3"),
        store,
        DeploymentMode.DEPLOY_AND_LEARN,
        PlanModel(valid),
        **options,
    )
    assert by_model.decided_by == "model" and asked == []

    bogus = PlacementPlan(
        decisions=[
            PlacementDecision(action="merge", node_path=COFFEE, target_learning_id="L-nope", reason="?")
        ]
    )
    fallback = kb.place_learning(
        brand_draft(["Black Rifle", "Peet's"], "p-4"),
        store,
        DeploymentMode.DEPLOY_AND_LEARN,
        PlanModel(bogus),
        **options,
    )
    assert fallback.decided_by == "offline_baseline" and len(asked) == 1
    assert (fallback.final.action, fallback.final.target_learning_id) == ("merge", strong.id)
