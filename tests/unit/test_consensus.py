import pytest

from cataloop.domain.enrichment.attributes import AgreementRule, AttributeSchema, AttributeSpec
from cataloop.domain.enrichment.consensus import ConsensusSettings, audit_draw, decide_consensus, values_agree
from cataloop.domain.enrichment.extraction import (
    AttributeValue,
    EvaluatorReport,
    EvaluatorVerdict,
    WorkerExtraction,
)

SCHEMA = AttributeSchema(
    schema_id="test",
    category_path=["Test"],
    attributes=[
        AttributeSpec(name="Brand", description="brand", required=True),
        AttributeSpec(name="Net content", kind="quantity", description="amount"),
        AttributeSpec(name="Pack size", kind="count", description="packs"),
        AttributeSpec(
            name="Flavor",
            description="flavour",
            agreement=AgreementRule(mode="token_overlap", threshold=0.5),
        ),
        AttributeSpec(name="Code", description="exact code", agreement=AgreementRule(mode="exact")),
    ],
)
NO_AUDIT = ConsensusSettings(audit_fraction=0.0)


def extraction(**values: str) -> WorkerExtraction:
    return WorkerExtraction(
        attributes={name.replace("_", " "): AttributeValue(value=value) for name, value in values.items()}
    )


def test_agree_after_unit_and_pack_normalisation() -> None:
    a = extraction(Brand="Numi", Net_content="150 ml", Pack_size="Pack of 2")
    b = extraction(Brand="NUMI ", Net_content="0.15 L", Pack_size="2-Pack")
    decision = decide_consensus("p1", SCHEMA, [a, b], settings=NO_AUDIT)
    assert decision.decision == "AGREE"
    assert decision.disagreed_attributes == []
    assert set(decision.agreed_values) == {"Brand", "Net content", "Pack size"}


def test_disagreement_names_the_attributes() -> None:
    a = extraction(Brand="Holy", Net_content="12 oz")
    b = extraction(Brand="Holy Land Market", Net_content="16 oz")
    decision = decide_consensus("p1", SCHEMA, [a, b], settings=NO_AUDIT)
    assert decision.decision == "DISAGREE"
    assert decision.disagreed_attributes == ["Brand", "Net content"]
    assert any("Brand" in reason for reason in decision.reasons)


def test_token_overlap_threshold_is_configurable_per_attribute() -> None:
    a = extraction(Brand="Numi", Flavor="Breakfast Blend")
    b = extraction(Brand="Numi", Flavor="English Breakfast Blend")  # Jaccard 2/3
    assert decide_consensus("p", SCHEMA, [a, b], settings=NO_AUDIT).decision == "AGREE"
    strict = ConsensusSettings(audit_fraction=0.0, thresholds={"Flavor": 0.9})
    assert decide_consensus("p", SCHEMA, [a, b], settings=strict).disagreed_attributes == ["Flavor"]


def test_exact_rule_is_case_sensitive() -> None:
    spec = SCHEMA.get("Code")
    assert spec is not None
    assert not values_agree(spec, "HX5611", "hx5611")
    assert values_agree(spec, "HX5611", "HX5611")


@pytest.mark.parametrize("verdict", ["misread", "ambiguous"])
def test_evaluator_objection_turns_agreement_into_disagreement(verdict: str) -> None:
    a = extraction(Brand="Organic")
    b = extraction(Brand="Organic")
    report = EvaluatorReport(
        verdicts=[EvaluatorVerdict(attribute="Brand", verdict=verdict, reason="descriptive word")]  # type: ignore[arg-type]
    )
    decision = decide_consensus("p", SCHEMA, [a, b], report, NO_AUDIT)
    assert decision.decision == "DISAGREE"
    assert decision.disagreed_attributes == ["Brand"]
    assert "Brand" not in decision.agreed_values


def test_missing_context_does_not_dispute_an_agreement() -> None:
    a, b = extraction(Brand="Numi"), extraction(Brand="Numi")
    report = EvaluatorReport(
        verdicts=[EvaluatorVerdict(attribute="Brand", verdict="missing_context", reason="one word")]
    )
    assert decide_consensus("p", SCHEMA, [a, b], report, NO_AUDIT).decision == "AGREE"


def test_missing_value_policy() -> None:
    a = extraction(Brand="Numi", Flavor="Mint")
    b = extraction(Flavor="Mint")
    assert decide_consensus("p", SCHEMA, [a, b], settings=NO_AUDIT).disagreed_attributes == ["Brand"]
    # Optional attribute found by one worker only: kept only with the evaluator's ok.
    c, d = extraction(Brand="Numi", Flavor="Mint"), extraction(Brand="Numi")
    dropped = decide_consensus("p", SCHEMA, [c, d], settings=NO_AUDIT)
    assert dropped.decision == "AGREE" and "Flavor" not in dropped.agreed_values
    ok = EvaluatorReport(verdicts=[EvaluatorVerdict(attribute="Flavor", verdict="ok", reason="stated")])
    kept = decide_consensus("p", SCHEMA, [c, d], ok, NO_AUDIT)
    assert kept.agreed_values["Flavor"].value == "Mint"
    strict = ConsensusSettings(audit_fraction=0.0, missing_policy="always")
    assert decide_consensus("p", SCHEMA, [c, d], settings=strict).disagreed_attributes == ["Flavor"]


def test_audit_sample_is_deterministic_and_near_the_fraction() -> None:
    settings = ConsensusSettings(audit_fraction=0.2, audit_seed="s1")
    a, b = extraction(Brand="Numi"), extraction(Brand="Numi")
    decisions = [decide_consensus(f"p{i}", SCHEMA, [a, b], settings=settings).decision for i in range(1000)]
    again = [decide_consensus(f"p{i}", SCHEMA, [a, b], settings=settings).decision for i in range(1000)]
    assert decisions == again
    audited = decisions.count("AUDIT") / len(decisions)
    assert 0.15 < audited < 0.25
    assert set(decisions) == {"AGREE", "AUDIT"}
    assert audit_draw("p1", "s1") != audit_draw("p1", "s2")


def test_disagreement_is_never_audited() -> None:
    settings = ConsensusSettings(audit_fraction=1.0)
    decision = decide_consensus(
        "p", SCHEMA, [extraction(Brand="A"), extraction(Brand="B")], settings=settings
    )
    assert decision.decision == "DISAGREE"


def test_needs_two_extractions() -> None:
    with pytest.raises(ValueError, match="at least two"):
        decide_consensus("p", SCHEMA, [extraction(Brand="A")])
