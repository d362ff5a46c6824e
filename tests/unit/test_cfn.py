"""Intrinsic-function resolution of the local cloud's template reader."""

from __future__ import annotations

from typing import Any

import pytest

from cataloop_local.emulator.cfn import (
    IntrinsicResolver,
    TemplateError,
    load_template,
    merged_function_properties,
)

TEMPLATE: dict[str, Any] = {
    "Parameters": {"Stage": {"Type": "String", "Default": "dev"}, "Email": {"Type": "String", "Default": ""}},
    "Conditions": {"HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}},
    "Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}},
}


def _resources(logical_id: str, attribute: str | None) -> str:
    if logical_id != "Table":
        raise TemplateError(logical_id)
    return "products" if attribute is None else f"arn:products:{attribute}"


def resolver(**overrides: str) -> IntrinsicResolver:
    return IntrinsicResolver(TEMPLATE, _resources, overrides)


def test_ref_reads_parameter_defaults_overrides_and_pseudo_parameters() -> None:
    assert resolver().resolve({"Ref": "Stage"}) == "dev"
    assert resolver(Stage="prod").resolve({"Ref": "Stage"}) == "prod"
    assert resolver().resolve({"Ref": "AWS::Region"}) == "us-east-1"
    assert resolver().resolve({"Ref": "Table"}) == "products"


def test_sub_expands_parameters_attributes_and_escapes() -> None:
    text = "cataloop-${Stage}-${Table.StreamArn}-${AWS::AccountId}-${!Literal}"
    assert (
        resolver().resolve({"Fn::Sub": text}) == "cataloop-dev-arn:products:StreamArn-123456789012-${Literal}"
    )
    assert resolver().resolve({"Fn::Sub": ["${A}/${Stage}", {"A": {"Ref": "Table"}}]}) == "products/dev"


def test_getatt_select_split_join_and_conditions() -> None:
    r = resolver()
    assert r.resolve({"Fn::GetAtt": ["Table", "Arn"]}) == "arn:products:Arn"
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}) == "b"
    assert r.resolve({"Fn::Join": ["-", ["x", {"Ref": "Stage"}]]}) == "x-dev"
    assert r.resolve({"Fn::If": ["HasEmail", "yes", "no"]}) == "no"
    assert resolver(Email="ops@example.com").resolve({"Fn::If": ["HasEmail", "yes", "no"]}) == "yes"


def test_no_value_removes_the_property() -> None:
    assert resolver().resolve({"Keep": 1, "Drop": {"Ref": "AWS::NoValue"}}) == {"Keep": 1}


def test_unsupported_intrinsics_and_unknown_resources_fail_loudly() -> None:
    with pytest.raises(TemplateError, match="Fn::ImportValue"):
        resolver().resolve({"Fn::ImportValue": "x"})
    with pytest.raises(TemplateError):
        resolver().resolve({"Ref": "Missing"})


def test_short_form_tags_load_as_long_form(tmp_path: Any) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n  A:\n    Type: X\n    Properties:\n      B: !GetAtt T.Arn\n      C: !Sub x-${Stage}\n"
        "      D: !Select [0, !Split [',', 'a,b']]\n",
        encoding="utf-8",
    )
    props = load_template(path)["Resources"]["A"]["Properties"]
    assert props["B"] == {"Fn::GetAtt": ["T", "Arn"]}
    assert props["C"] == {"Fn::Sub": "x-${Stage}"}
    assert props["D"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}


def test_globals_merge_environment_variables_per_function() -> None:
    template = {"Globals": {"Function": {"Timeout": 30, "Environment": {"Variables": {"A": "1", "B": "2"}}}}}
    merged = merged_function_properties(template, {"Timeout": 60, "Environment": {"Variables": {"B": "3"}}})
    assert merged["Timeout"] == 60
    assert merged["Environment"]["Variables"] == {"A": "1", "B": "3"}
