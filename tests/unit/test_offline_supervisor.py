"""The offline baseline's simulated supervisor, cross-fitted over its reference set (supervisor.py, reference.py).

Reference rows are chosen by fold: `outside(...)` and `inside(...)` pick titles whose `fold_of` differs from (or
equals) the fold of the product being resolved, so each test states which labels the supervisor may see.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from pathlib import Path

import pytest

from cataloop.adapters.offline.client import OfflineModelClient
from cataloop.adapters.offline.common import Payload
from cataloop.adapters.offline.reference import (
    DEFAULT_FOLDS,
    Reference,
    ReferenceRow,
    fold_of,
    reference_paths,
)
from cataloop.adapters.offline.supervisor import MIN_PRECISION, Supervisor
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.domain.enrichment.extraction import SupervisorResolution
from cataloop.domain.knowledge.learning import LearningView, ValueLexicon
from cataloop.domain.model_calls import ModelRequest, PromptText
from cataloop.errors import ModelError
from cataloop.settings import Settings

COFFEE_TITLE = "Zephyrine Roasters Dark Roast Ground Coffee, 12 Ounce"
REVIEW_THRESHOLD = Settings.model_fields["review_confidence_threshold"].default


def row(title: str, labels: Mapping[str, str], category: str = "Coffee") -> ReferenceRow:
    return ReferenceRow(
        input=title,
        category=category,
        target_scores={attribute: {value: 1.0} for attribute, value in labels.items()},
    )


def _titles(template: str, keep: Callable[[int], bool], count: int) -> list[str]:
    found = [t for t in (template.format(n) for n in range(1, 500)) if keep(fold_of(t))]
    assert len(found) >= count, f"not enough titles from {template!r}"
    return found[:count]


def outside(products: Iterable[str], template: str, count: int = 1) -> list[str]:
    """`count` titles `template.format(n)` in none of the products' folds: visible when resolving them."""
    hidden = {fold_of(p) for p in products}
    return _titles(template, lambda fold: fold not in hidden, count)


def inside(product: str, template: str, count: int = 1) -> list[str]:
    """`count` titles `template.format(n)` in the product's own fold: never visible when resolving it."""
    return _titles(template, lambda fold: fold == fold_of(product), count)


def payload(
    title: str,
    candidates: list[dict[str, str]],
    disputed: list[str],
    *,
    category: str = "Coffee",
    agreed: Mapping[str, str] | None = None,
    verdicts: Mapping[str, str] | None = None,
    learnings: Iterable[LearningView] = (),
    description: str = "",
) -> Payload:
    """The supervisor's payload as `services.enrichment.supervise` fills it, from plain values."""
    return Payload.model_validate(
        {
            "product": {
                "product_id": "p1",
                "title": title,
                "description": description,
                "category_path": [category],
            },
            "schema": schema_for([category]).model_dump(mode="json"),
            "learnings": [view.model_dump(mode="json") for view in learnings],
            "candidates": [
                {"extraction": {"attributes": {name: {"value": value} for name, value in c.items()}}}
                for c in candidates
            ],
            "evaluation": {
                "verdicts": [
                    {"attribute": name, "verdict": verdict, "reason": "test"}
                    for name, verdict in (verdicts or {}).items()
                ]
            },
            "decision": "DISAGREE",
            "disagreed_attributes": disputed,
            "agreed_values": {name: {"value": value} for name, value in (agreed or {}).items()},
        }
    )


def resolve(reference: Reference | None, request: Payload) -> SupervisorResolution:
    return Supervisor(reference=reference, model_id="t").resolve(request)


def texts(resolution: SupervisorResolution) -> list[str]:
    return [learning.text for learning in resolution.learnings]


def lexicon_values(resolution: SupervisorResolution, attribute: str) -> list[str]:
    return [
        value
        for learning in resolution.learnings
        if isinstance(learning.directive, ValueLexicon) and learning.directive.attribute == attribute
        for value in learning.directive.values
    ]


def coffee_payload(**kwargs: object) -> Payload:
    """COFFEE_TITLE as the workers read it: no brand, 'Ground Coffee' against 'Ground'."""
    return payload(
        COFFEE_TITLE,
        [
            {"Item form": "Ground Coffee", "Roast type": "Dark Roast", "Net content": "12 Ounce"},
            {"Item form": "Ground", "Roast type": "Dark Roast", "Net content": "12 Ounce"},
        ],
        ["Item form"],
        agreed={"Roast type": "Dark Roast", "Net content": "12 Ounce"},
        **kwargs,  # type: ignore[arg-type]
    )


FILLER = "Lavazza Super Crema Whole Bean Coffee, {} Ounce"


# --- the fold rule


def test_fold_of_is_stable_and_ignores_case_and_spacing() -> None:
    # Pinned: a process-dependent hash (Python's hash()) would move products between folds across runs.
    assert fold_of("Death Wish Coffee Company Organic Dark Roast Ground Coffee, 16 Ounce (Pack of 2)") == 2
    assert fold_of("Death Wish Coffee Company Whole Bean Coffee, 5 lb") == 4
    assert fold_of("Death Wish Coffee Company Dark Roast K-Cups, 10 Count") == 0
    assert (
        fold_of(COFFEE_TITLE)
        == fold_of(f"  {COFFEE_TITLE.upper()} ")
        == fold_of(COFFEE_TITLE.replace(" ", "  "))
    )
    assert {fold_of(FILLER.format(n)) for n in range(1, 60)} == set(range(DEFAULT_FOLDS))
    assert all(0 <= fold_of(FILLER.format(n), folds=3) < 3 for n in range(1, 30))


@pytest.mark.parametrize("title", [FILLER.format(1), "A title that is not in the reference set"])
def test_visible_excludes_exactly_the_titles_fold(title: str) -> None:
    titles = [FILLER.format(n) for n in range(1, 60)]
    rows = [row(t, {"Net content": f"{n} Ounce"}) for n, t in enumerate(titles, start=1)]
    tea = "Numi Organic Tea, 18 Tea Bags"
    reference = Reference.of_rows([*rows, row(tea, {"Brand": "Numi"}, "Tea")])
    hidden = fold_of(title)
    visible = [r.input for r in reference.visible(title, "Coffee")]
    assert sorted(visible) == sorted(t for t in titles if fold_of(t) != hidden)
    assert 0 < len(visible) < len(titles)
    # The category is matched normalised; other categories are never visible.
    assert [r.input for r in reference.visible(title, " coffee ")] == visible
    assert [r.input for r in reference.visible(title, "Tea")] == ([] if fold_of(tea) == hidden else [tea])
    counts = reference.value_counts(title, "Coffee")["Net content"]
    assert set(counts) == {f"{n} Ounce" for n, t in enumerate(titles, start=1) if fold_of(t) != hidden}


# --- it never reads its own label


def test_supervisor_never_reads_the_label_of_the_product_it_resolves() -> None:
    own = row(COFFEE_TITLE, {"Brand": "Zephyrine Roasters", "Item form": "Ground Coffee"})
    same_fold = [
        row(t, {"Brand": "Zephyrine Roasters", "Item form": "Ground Coffee"})
        for t in inside(COFFEE_TITLE, "Zephyrine Roasters Ground Coffee, {} Ounce", 2)
    ]
    fillers = [
        row(t, {"Brand": "Lavazza", "Item form": "Whole Bean"}) for t in outside([COFFEE_TITLE], FILLER, 5)
    ]
    hidden_only = Reference.of_rows([own, *same_fold, *fillers])

    resolution = resolve(hidden_only, coffee_payload())
    assert "Brand" not in resolution.attributes
    assert resolution.attributes["Item form"].confidence == 0.45  # its own guess, not the label
    assert not any("Zephyrine" in text for text in texts(resolution))
    # A worker's partial reading stays a guess: the full label is not filled in from the product's own row.
    disputed_brand = payload(
        COFFEE_TITLE, [{"Brand": "Zephyrine"}, {}], ["Brand"], agreed={"Item form": "Ground Coffee"}
    )
    guessed = resolve(hidden_only, disputed_brand)
    assert guessed.attributes["Brand"].value == "Zephyrine" and guessed.confidence == 0.5

    # The same brand and form labelled on products of other folds: now it knows them.
    others = [
        row(t, {"Brand": "Zephyrine Roasters", "Item form": "Ground Coffee"})
        for t in outside([COFFEE_TITLE], "Zephyrine Roasters Medium Roast Ground Coffee, {} Ounce", 2)
    ]
    visible = Reference.of_rows([own, *same_fold, *fillers, *others])
    resolution = resolve(visible, coffee_payload())
    assert resolution.attributes["Brand"].value == "Zephyrine Roasters"
    assert resolution.attributes["Item form"].value == "Ground Coffee"
    assert resolution.confidence >= REVIEW_THRESHOLD and resolution.unresolved == []
    assert "In Coffee, 'Zephyrine Roasters' is a Brand value." in texts(resolution)
    assert resolve(visible, disputed_brand).attributes["Brand"].value == "Zephyrine Roasters"


# --- label noise is not learned


CEREAL = "Kellogg's Frosted Flakes Breakfast Cereal, 13.5 Ounce"


def cereal_reference(labelled: int, unlabelled: int) -> Reference:
    """`labelled` products with 'Cereal' as their Sub brand and `unlabelled` cereal titles that contain 'Cereal'
    without that label, all outside CEREAL's fold: the precision of the label is labelled / (both)."""
    noise = outside([CEREAL], "Great Value Cereal, {} Ounce", labelled)
    clean = outside([CEREAL], "General Mills Cheerios Cereal, {} Ounce", unlabelled) if unlabelled else []
    return Reference.of_rows(
        [row(t, {"Sub brand": "Cereal"}, "Breakfast Cereal") for t in noise]
        + [row(t, {"Sub brand": "Cheerios"}, "Breakfast Cereal") for t in clean]
    )


_AT = Fraction(MIN_PRECISION).limit_denominator(20)  # the threshold as labelled / containing, e.g. 7 / 10
PRECISIONS = [
    pytest.param(2, 8, False, id="noise-2-of-10"),
    pytest.param(_AT.numerator, _AT.denominator - _AT.numerator + 1, False, id="just-below-threshold"),
    pytest.param(_AT.numerator, _AT.denominator - _AT.numerator, True, id="at-threshold"),
    pytest.param(2, 0, True, id="all"),
]


@pytest.mark.parametrize(("labelled", "unlabelled", "learned"), PRECISIONS)
def test_a_label_few_of_the_titles_containing_it_carry_is_not_learned(
    labelled: int, unlabelled: int, learned: bool
) -> None:
    assert (labelled / (labelled + unlabelled) >= MIN_PRECISION) is learned
    reference = cereal_reference(labelled, unlabelled)
    # Disputed: one worker read 'Cereal' as the Sub brand.
    disputed = resolve(
        reference,
        payload(CEREAL, [{"Sub brand": "Cereal"}, {}], ["Sub brand"], category="Breakfast Cereal"),
    )
    assert ("Cereal" in lexicon_values(disputed, "Sub brand")) is learned
    # Missed by both workers: read from the title only when the label is reliable.
    missed = resolve(
        reference,
        payload(
            CEREAL,
            [{"Net content": "13.5 Ounce"}, {"Net content": "13.5"}],
            ["Net content"],
            category="Breakfast Cereal",
        ),
    )
    assert ("Sub brand" in missed.attributes) is learned
    assert ("Cereal" in lexicon_values(missed, "Sub brand")) is learned


def test_a_value_is_learned_only_from_a_product_whose_title_contains_it() -> None:
    with_it = "Zephyrine Roasters Hazelnut Ground Coffee, 12 Ounce"
    without_it = "Zephyrine Roasters Ground Coffee, 12 Ounce"
    reference = Reference.of_rows(
        [
            row(t, {"Flavor": "Hazelnut"})
            for t in outside([with_it, without_it], "Gevalia Hazelnut Coffee, {} Ounce", 3)
        ]
    )
    stated = resolve(reference, payload(with_it, [{"Flavor": "Hazelnut"}, {}], ["Flavor"]))
    assert stated.attributes["Flavor"].value == "Hazelnut"
    assert "In Coffee, 'Hazelnut' is a Flavor value." in texts(stated)
    # Read from the description only: it may still be the answer, but this product does not teach it.
    from_description = resolve(
        reference,
        payload(
            without_it, [{"Flavor": "Hazelnut"}, {}], ["Flavor"], description="Notes of Hazelnut and cocoa."
        ),
    )
    assert not any("Hazelnut" in text for text in texts(from_description))


def test_not_value_only_when_the_value_belongs_to_another_confirmed_attribute() -> None:
    title = "Zephyrine Roasters Hazelnut Dark Roast Ground Coffee, 12 Ounce"
    rows = outside([title], "Gevalia Hazelnut Dark Roast Coffee, {} Ounce", 3)
    reference = Reference.of_rows([row(t, {"Flavor": "Hazelnut", "Roast type": "Dark Roast"}) for t in rows])
    # A read the roast as the flavour; B read both right (its lone Roast type was dropped by consensus).
    resolution = resolve(
        reference,
        payload(
            title,
            [{"Flavor": "Dark Roast"}, {"Flavor": "Hazelnut", "Roast type": "Dark Roast"}],
            ["Flavor"],
        ),
    )
    assert resolution.attributes["Flavor"].value == "Hazelnut"
    assert resolution.attributes["Roast type"].value == "Dark Roast"
    assert "In Coffee, 'Dark Roast' is not a Flavor value; it is the Roast type." in texts(resolution)
    # A wrong reading that belongs to no confirmed attribute is not vetoed from one product.
    other = resolve(reference, payload(title, [{"Flavor": "Zephyrine"}, {"Flavor": "Hazelnut"}], ["Flavor"]))
    assert other.attributes["Flavor"].value == "Hazelnut"
    assert not any("not a Flavor" in text for text in texts(other))


# --- confidence


def ground_reference() -> Reference:
    return Reference.of_rows(
        [
            row(t, {"Item form": "Ground Coffee"})
            for t in outside([COFFEE_TITLE], "Gevalia Ground Coffee, {} Ounce", 2)
        ]
    )


def test_resolved_from_known_values_is_confident_enough_to_skip_review() -> None:
    resolution = resolve(ground_reference(), coffee_payload())
    assert resolution.attributes["Item form"].value == "Ground Coffee"
    assert resolution.confidence >= REVIEW_THRESHOLD and resolution.unresolved == []


def test_a_known_value_in_the_title_resolves_candidates_the_reference_does_not_know() -> None:
    request = payload(COFFEE_TITLE, [{"Item form": "Coffee"}, {"Item form": "Ground"}], ["Item form"])
    assert resolve(None, request).confidence < REVIEW_THRESHOLD
    resolution = resolve(ground_reference(), request)
    assert resolution.attributes["Item form"].value == "Ground Coffee"
    assert resolution.attributes["Item form"].evidence is not None  # read from the title itself
    assert resolution.confidence >= REVIEW_THRESHOLD


def test_a_learning_resolves_what_the_reference_does_not_know() -> None:
    learning = LearningView(
        id="L1",
        text="In Coffee, 'Ground Coffee' is a Item form value.",
        scope_path=["Coffee"],
        attributes=["Item form"],
        directive=ValueLexicon(attribute="Item form", values=["Ground Coffee"]),
    )
    resolution = resolve(None, coffee_payload(learnings=[learning]))
    assert resolution.attributes["Item form"].value == "Ground Coffee"
    assert resolution.learning_ids_used == ["L1"]
    assert resolution.confidence >= REVIEW_THRESHOLD
    assert not any("'Ground Coffee'" in text for text in texts(resolution))  # not repeated


def test_a_guess_has_confidence_one_half_and_goes_to_review() -> None:
    reference = Reference.of_rows(
        [row(t, {"Item form": "Whole Bean"}) for t in outside([COFFEE_TITLE], FILLER, 3)]
    )
    resolution = resolve(reference, coffee_payload())
    assert resolution.confidence == 0.5 < REVIEW_THRESHOLD
    assert resolution.unresolved == []
    assert resolution.attributes["Item form"].value == "Ground Coffee"  # the fuller candidate
    assert resolution.attributes["Item form"].confidence == 0.45
    assert resolution.learnings == []  # a guess teaches nothing


@pytest.mark.parametrize("verdict", ["misread", "unsupported"])
def test_what_it_cannot_resolve_is_unresolved_at_confidence_0_4(verdict: str) -> None:
    request = coffee_payload(verdicts={"Item form": verdict})
    resolution = resolve(Reference.of_rows([]), request)
    assert resolution.confidence == 0.4
    assert resolution.unresolved == ["Item form"]
    assert "Item form" not in resolution.attributes
    assert resolution.attributes["Roast type"].value == "Dark Roast"  # agreed values are kept
    # The same candidates, not rejected by the evaluator: a low-confidence reading instead.
    guessed = resolve(Reference.of_rows([]), coffee_payload())
    assert guessed.unresolved == [] and guessed.confidence == 0.5


# --- several reference files


def test_reference_paths_splits_the_setting_at_commas(tmp_path: Path) -> None:
    assert reference_paths("a.jsonl") == [Path("a.jsonl")]
    assert reference_paths(" a.jsonl , b.jsonl,, ") == [Path("a.jsonl"), Path("b.jsonl")]
    assert reference_paths(tmp_path / "c.jsonl") == [tmp_path / "c.jsonl"]


def _write(path: Path, rows: list[ReferenceRow]) -> Path:
    path.write_text("\n".join(r.model_dump_json() for r in rows) + "\n", encoding="utf-8")
    return path


def test_load_many_reads_every_file_of_the_setting(tmp_path: Path) -> None:
    brands = outside([COFFEE_TITLE], "Zephyrine Roasters Medium Roast Ground Coffee, {} Ounce", 2)
    forms = outside([COFFEE_TITLE], "Gevalia Ground Coffee, {} Ounce", 2)
    first = _write(tmp_path / "first.jsonl", [row(t, {"Brand": "Zephyrine Roasters"}) for t in brands])
    second = _write(tmp_path / "second.jsonl", [row(t, {"Item form": "Ground Coffee"}) for t in forms])
    setting = f"{first}, {second}"
    reference = Reference.load_many(reference_paths(setting))
    assert sorted(r.input for r in reference.visible(COFFEE_TITLE, "Coffee")) == sorted(brands + forms)

    # Through the client, as OFFLINE_REFERENCE_SET configures it.
    request = ModelRequest(
        role="supervisor",
        prompt=PromptText(template_id="supervisor", template_version="v1", system="s", user="u"),
        payload=coffee_payload().model_dump(mode="json", by_alias=True),
    )
    both = OfflineModelClient(reference_path=setting).invoke(request, SupervisorResolution).output
    assert both.attributes["Brand"].value == "Zephyrine Roasters"  # from the first file
    assert both.attributes["Item form"].value == "Ground Coffee"  # from the second
    assert both.confidence >= REVIEW_THRESHOLD
    only_first = OfflineModelClient(reference_path=first).invoke(request, SupervisorResolution).output
    assert only_first.confidence < REVIEW_THRESHOLD


def test_a_malformed_reference_file_is_named_in_the_error(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.jsonl", [row(FILLER.format(1), {"Brand": "Lavazza"})])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"input": "x", "category": "Coffee"}) + "\n" + json.dumps({"title": "x"}) + "\n"
    )
    with pytest.raises(ModelError, match=r"bad\.jsonl line 2"):
        Reference.load_many(reference_paths(f"{good},{bad}"))
