"""Read a SAM/CloudFormation template and resolve the intrinsic functions the local cloud needs.

Only what `template.yaml` uses is supported (Ref, GetAtt, Sub, Join, Select, Split, If/Not/Equals/And/Or
with Conditions). Anything else raises `TemplateError` naming the function, so a new intrinsic in the template
fails loudly here instead of being wired wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "cataloop-local",
    "AWS::NoValue": None,
}


class TemplateError(ValueError):
    """The template uses something the local cloud cannot interpret; the message names it."""


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that turns short-form tags (!Ref, !GetAtt, !Sub ...) into their long JSON forms. It is
    libyaml's loader where PyYAML was built with it (the wheels are): the pure-Python one took 1.2 of the
    5 s a CLI command spent before its own work."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    # !Ref and !Condition are the only short forms whose long form has no Fn:: prefix.
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse a template file (YAML or JSON) into plain data with long-form intrinsics."""
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=_CfnLoader)
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources section)")
    return data


# Resolves (logical id, attribute or None for Ref) to a value; raises KeyError when unknown.
ResourceResolver = Callable[[str, str | None], Any]


@dataclass
class IntrinsicResolver:
    """Evaluates intrinsic functions against parameters, conditions and a resource resolver."""

    template: Mapping[str, Any]
    resources: ResourceResolver
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    pseudo: Mapping[str, Any] = field(default_factory=lambda: dict(PSEUDO_PARAMETERS))

    def parameter(self, name: str) -> Any:
        if name in self.parameter_overrides:
            return self.parameter_overrides[name]
        spec = self.template.get("Parameters", {}).get(name)
        if spec is None:
            raise KeyError(name)
        if "Default" not in spec:
            raise TemplateError(f"parameter {name} has no Default and no override")
        return spec["Default"]

    def condition(self, name: str) -> bool:
        spec = self.template.get("Conditions", {}).get(name)
        if spec is None:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(spec))

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        return self.resources(name, None)

    def resolve(self, value: Any) -> Any:
        """Recursively resolve intrinsics inside `value`."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic {key} is not supported by the local cloud")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        # A property set to !Ref AWS::NoValue is removed, as CloudFormation does.
        return {key: item for key, item in resolved.items() if item is not None}

    def _ref(self, arg: Any) -> Any:
        return self.ref(arg)

    def _get_att(self, arg: Any) -> Any:
        logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
        return self.resources(logical_id, attribute)

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.resources(logical_id, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _join(self, arg: Any) -> str:
        delimiter, items = arg
        return str(delimiter).join(str(item) for item in self.resolve(items))

    def _select(self, arg: Any) -> Any:
        index, items = arg
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self.resolve(text)).split(delimiter)

    def _if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _not(self, arg: Any) -> bool:
        return not self.resolve(arg[0])

    def _equals(self, arg: Any) -> bool:
        left, right = self.resolve(arg)
        return bool(left == right)

    def _and(self, arg: Any) -> bool:
        return all(self.resolve(item) for item in arg)

    def _or(self, arg: Any) -> bool:
        return any(self.resolve(item) for item in arg)

    def _condition(self, arg: Any) -> bool:
        return self.condition(arg)

    _FUNCTIONS: ClassVar[dict[str, Callable[[IntrinsicResolver, Any], Any]]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::If": _if,
        "Fn::Not": _not,
        "Fn::Equals": _equals,
        "Fn::And": _and,
        "Fn::Or": _or,
        "Condition": _condition,
    }


def merged_function_properties(template: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """A function's properties with `Globals.Function` applied the way SAM merges them."""
    merged: dict[str, Any] = dict(template.get("Globals", {}).get("Function", {}))
    for key, value in properties.items():
        if key == "Environment":
            variables = dict(merged.get("Environment", {}).get("Variables", {}))
            variables.update(value.get("Variables", {}))
            merged["Environment"] = {"Variables": variables}
        else:
            merged[key] = value
    return merged


def check_parameter_overrides(template: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, str]:
    """Validate parameter overrides as CloudFormation does (known name, AllowedValues, AllowedPattern,
    Number with MinValue/MaxValue) and return them as strings; TemplateError names every problem."""
    parameters = template.get("Parameters", {})
    problems = []
    checked: dict[str, str] = {}
    for name, raw in overrides.items():
        value = str(raw)
        spec = parameters.get(name)
        if spec is None:
            problems.append(f"{name}: no such parameter (known: {', '.join(sorted(parameters))})")
            continue
        allowed = [str(item) for item in spec.get("AllowedValues", [])]
        if allowed and value not in allowed:
            problems.append(f"{name}={value!r}: allowed values are {', '.join(allowed)}")
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, value):
            problems.append(f"{name}={value!r}: does not match {pattern}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                problems.append(f"{name}={value!r}: not a number")
            else:
                if "MinValue" in spec and number < float(spec["MinValue"]):
                    problems.append(f"{name}={value}: below MinValue {spec['MinValue']}")
                if "MaxValue" in spec and number > float(spec["MaxValue"]):
                    problems.append(f"{name}={value}: above MaxValue {spec['MaxValue']}")
        checked[name] = value
    if problems:
        raise TemplateError("invalid parameter overrides: " + "; ".join(problems))
    return checked
