import pytest

from cataloop_eval.scoring import Counts, ScoreBoard, judge, score_of


def test_outcomes_follow_the_extractgpt_convention() -> None:
    assert judge("Numi", ["numi "]) == "correct"
    assert judge("Numi Tea", ["Numi"]) == "wrong"
    assert judge("Numi", []) == "spurious"
    assert judge(None, ["Numi"]) == "missing"
    assert judge("  ", ["Numi"]) == "missing"
    assert judge(None, []) == "absent"


def test_any_gold_value_counts() -> None:
    assert judge("Black Tea", ["Black Tea ", "Tea"]) == "correct"


def test_wrong_value_lowers_precision_and_recall() -> None:
    scores = score_of(Counts(correct=2, wrong=1, spurious=1, missing=1))
    assert scores.precision == pytest.approx(2 / 4)
    assert scores.recall == pytest.approx(2 / 4)
    assert scores.f1 == pytest.approx(0.5)


def test_empty_counts_score_zero() -> None:
    assert score_of(Counts()).f1 == 0.0


def test_board_micro_and_per_attribute() -> None:
    board = ScoreBoard()
    board.add({"Brand": "Numi", "Flavor": "Mint"}, {"Brand": ["Numi"], "Net content": ["16 Ounce"]})
    board.add({"Brand": "Teavana", "Net content": "16 oz"}, {"Brand": ["Tazo"], "Net content": ["16 oz"]})
    micro = board.micro()
    assert (micro.counts.correct, micro.counts.wrong, micro.counts.spurious, micro.counts.missing) == (
        2,
        1,
        1,
        1,
    )
    per = board.per_attribute()
    assert per["Brand"].precision == pytest.approx(0.5)
    assert per["Flavor"].precision == 0.0 and per["Flavor"].counts.spurious == 1
    assert per["Net content"].recall == pytest.approx(0.5)


def test_board_restricted_to_listed_attributes() -> None:
    board = ScoreBoard()
    outcomes = board.add({"Brand": "Numi", "Other": "x"}, {"Brand": ["Numi"]}, attributes=["Brand"])
    assert outcomes == {"Brand": "correct"}
    assert board.micro().f1 == 1.0
