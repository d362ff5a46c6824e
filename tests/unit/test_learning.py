import pytest
from pydantic import ValidationError

from cataloop.domain.knowledge.learning import (
    LearningDraft,
    LearningView,
    NotValue,
    UnitPattern,
    ValueLexicon,
)


def draft(text: str, **kwargs: object) -> LearningDraft:
    values = {
        "text": text,
        "scope_path": ["Coffee"],
        "attributes": ["Brand"],
        "directive": ValueLexicon(attribute="Brand", values=["Death Wish"]),
    }
    values.update(kwargs)
    return LearningDraft.model_validate(values)


def test_concrete_learning_is_accepted() -> None:
    learning = draft("In Coffee, 'Death Wish' is a Brand value.")
    assert learning.directive.attribute == "Brand"


@pytest.mark.parametrize("text", ["", "   ", "brands"])
def test_empty_text_is_rejected_with_a_fix(text: str) -> None:
    with pytest.raises(ValidationError, match="too short"):
        draft(text)


def test_abstract_text_is_rejected() -> None:
    with pytest.raises(ValidationError, match="abstract"):
        draft("Be careful with brands in this category.")


def test_advice_that_mentions_the_term_is_still_rejected() -> None:
    with pytest.raises(ValidationError, match="advice"):
        draft("Be careful with 'Death Wish'.")


def test_oversized_text_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at most 400"):
        draft("In Coffee, 'Death Wish' is a Brand value. " * 20)


def test_directive_attribute_must_be_listed() -> None:
    with pytest.raises(ValidationError, match="must be listed"):
        draft("In Coffee, 'Death Wish' is a Brand value.", attributes=["Flavor"])


def test_other_directives_and_view_scope() -> None:
    not_value = LearningDraft(
        text="In Shoes, 'Men's' is not a Brand value; it is the Gender.",
        scope_path=["Shoes"],
        attributes=["Brand", "Gender"],
        directive=NotValue(attribute="Brand", value="Men's", correct_attribute="Gender"),
    )
    pattern = LearningDraft(
        text="In Vitamin, a number followed by 'Gummies' is the Net content.",
        scope_path=["Vitamin"],
        attributes=["Net content"],
        directive=UnitPattern(attribute="Net content", unit_terms=["Gummies"], keep_unit=False),
    )
    view = LearningView.from_draft(not_value, "L1")
    assert view.applies_to(["shoes", "Sneakers"])
    assert not view.applies_to(["Coffee"])
    assert LearningView.from_draft(pattern, "L2").directive.type == "pattern"
