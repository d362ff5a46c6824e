"""`cataloop doctor`: which adapter each port of each function resolves to under some template parameters,
and every configuration error that can be found without calling AWS.

Nothing is started and nothing is called: the template is read, its parameters (the deployed defaults, or the
local cloud's with `--local`, under `--parameter-overrides`) and Conditions evaluated, each function's
environment (Globals plus its own) resolved with placeholders for the resources' physical names, and the
function's `Settings` built from that environment alone (never from this shell's). Which ports a function
uses is read from its handler's `wiring.<builder>(` calls; which adapter a port resolves to comes from
`cataloop.wiring.describe_adapters`, the same decisions the builders make.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from cataloop import wiring
from cataloop.settings import Settings, environment_variables
from cataloop.validation import describe_validation_error
from cataloop_local.cli.common import PARAMETER_OVERRIDES, PROJECT_ROOT, printable, write_json
from cataloop_local.emulator.cfn import (
    IntrinsicResolver,
    TemplateError,
    check_parameter_overrides,
    load_template,
    merged_function_properties,
)

# The ports each wiring builder a handler calls resolves (in the order they are shown).
BUILDER_PORTS: dict[str, tuple[str, ...]] = {
    "model_client": ("model_client",),
    "memory_manager_model": ("memory_manager",),
    "product_store": ("product_store",),
    "knowledge_store": ("knowledge_store",),
    "embedder": ("embedder",),
    "search_index": ("product_index", "embedder", "dictionaries"),
    "learning_index": ("learnings_index", "embedder", "dictionaries"),
    "knowledge_search": ("learnings_index", "embedder", "dictionaries"),
    "dictionaries": ("dictionaries",),
    "guardrail": ("guardrail",),
    "search_log": ("search_log",),
    "commenter_model": ("commenter",),
    "search_service": (
        "product_index",
        "embedder",
        "classifier",
        "guardrail",
        "commenter",
        "search_log",
        "product_store",
        "dictionaries",
    ),
}
# Builders that make no adapter of a port (boto3 clients, keys, helpers).
NO_PORT = {
    "aws_client",
    "korean_analyzer",
    "comment_token_secret",
    "close_search_indexes",
    "model_ids",
    "build_search_service",
}
# Builders whose result depends on the comment-token key.
USES_COMMENT_SECRET = {"search_service", "comment_token_secret"}
# What a port does when its builder returns None.
WHEN_NONE = {
    "memory_manager": "offline placement rules",
    "commenter": "offline comment template",
    "search_log": "nothing is logged",
}
UNRESOLVED = "?"
# The account id of the AWS documentation examples: a parameter holding it names nothing that exists.
EXAMPLE_ACCOUNT = "123456789012"
WIRING_CALL = re.compile(r"\bwiring\.([A-Za-z_]\w*)\s*\(")
_NAME_PROPERTIES = (
    "TableName",
    "QueueName",
    "BucketName",
    "DomainName",
    "FunctionName",
    "TopicName",
    "LogGroupName",
    "Name",
)


class _TemplateSettings(Settings):
    """`Settings` read from the keyword arguments only: a function's environment as the template sets it,
    whatever this shell's environment holds."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_from_environment(environment: Mapping[str, str]) -> Settings:
    """The `Settings` a function with exactly this environment reads (empty values mean the default, as
    `Settings` reads the process environment); ValueError with every problem when it would fail at cold
    start."""
    values: dict[str, Any] = {}
    for name, variable in environment_variables().items():
        value = environment.get(variable)
        if value in (None, ""):
            continue
        # A field with an alias (region <- AWS_REGION) is given by its alias.
        key = variable if Settings.model_fields[name].validation_alias is not None else name
        values[key] = value
    try:
        return _TemplateSettings(**values)
    except ValidationError as error:
        problems = describe_validation_error(error).replace("(root): Value error, ", "")
        raise ValueError(f"invalid configuration: {problems}") from error


@dataclass
class FunctionDiagnosis:
    handler: str = ""
    created: bool = True
    builders: list[str] = field(default_factory=list)
    ports: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Diagnosis:
    template: str
    parameters: dict[str, str] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    functions: dict[str, FunctionDiagnosis] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not any(f.errors for f in self.functions.values())

    def as_json(self) -> dict[str, Any]:
        """`{"functions": {ID: {"ports": {PORT: CLASS}, "errors": [...]}}}` plus the parameters and
        conditions used; a function's errors include the stack-wide ones (they stop it too)."""
        return {
            "template": self.template,
            "parameters": self.parameters,
            "conditions": self.conditions,
            "errors": self.errors,
            "warnings": self.warnings,
            "functions": {
                name: {
                    "handler": function.handler,
                    "created": function.created,
                    "ports": function.ports,
                    "errors": [*self.errors, *function.errors],
                    "warnings": function.warnings,
                }
                for name, function in self.functions.items()
            },
        }


def diagnose(
    template_path: Path,
    overrides: Mapping[str, str] | None = None,
    *,
    base_parameters: Mapping[str, str] | None = None,
) -> Diagnosis:
    """Diagnose every Lambda function of the template under `base_parameters` (e.g. the local cloud's) with
    `overrides` over them. Calls nothing."""
    template_path = Path(template_path)
    diagnosis = Diagnosis(template=str(template_path))
    try:
        template = load_template(template_path)
    except (OSError, ValueError, yaml.YAMLError) as error:  # TemplateError is a ValueError
        diagnosis.errors.append(f"template: {error}")
        return diagnosis
    declared: dict[str, Any] = template.get("Parameters", {}) or {}
    given = {k: v for k, v in (base_parameters or {}).items() if k in declared}
    given.update(overrides or {})
    accepted: dict[str, str] = {}
    for name, value in given.items():
        try:
            accepted.update(check_parameter_overrides(template, {name: value}))
        except TemplateError as error:
            diagnosis.errors.append(
                f"parameter {str(error).removeprefix('invalid parameter overrides: ')} (not applied)"
            )
    for name, spec in declared.items():
        if name in accepted:
            value = accepted[name]
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            diagnosis.errors.append(f"parameter {name} has no Default: give it in --parameter-overrides")
            continue
        diagnosis.parameters[name] = "****" if spec.get("NoEcho") and value else value
        if EXAMPLE_ACCOUNT in value:
            diagnosis.warnings.append(
                f"parameter {name}={value!r} names account {EXAMPLE_ACCOUNT}, the AWS documentation's "
                "example: a placeholder, not a resource that exists"
            )

    resources: dict[str, Any] = template.get("Resources", {}) or {}
    resolver = IntrinsicResolver(template, lambda logical, attribute: None, accepted)
    resolver.resources = _ResourcePlaceholders(resources, resolver)
    for name in template.get("Conditions", {}) or {}:
        try:
            diagnosis.conditions[name] = resolver.condition(name)
        except (TemplateError, KeyError, IndexError, TypeError, ValueError) as error:
            diagnosis.errors.append(f"condition {name}: {_message(error)}")

    for logical_id, spec in resources.items():
        if spec.get("Type") == "AWS::Serverless::Function":
            diagnosis.functions[logical_id] = _diagnose_function(
                template, template_path.parent, logical_id, spec, resolver
            )
    return diagnosis


class _ResourcePlaceholders:
    """Resolves Ref and GetAtt of the template's resources without creating them: the physical name the
    template gives (TableName, BucketName ...) or `<LogicalId>`, and `<LogicalId.Attribute>` for attributes.
    A reference to a resource these parameters do not create (its Condition is false) is an error, as in
    CloudFormation."""

    def __init__(self, resources: Mapping[str, Any], resolver: IntrinsicResolver) -> None:
        self.resources = resources
        self.resolver = resolver

    def __call__(self, logical_id: str, attribute: str | None) -> Any:
        spec = self.resources.get(logical_id)
        if spec is None:
            raise TemplateError(f"reference to unknown resource {logical_id}")
        condition = spec.get("Condition")
        if condition and not self.resolver.condition(condition):
            raise TemplateError(
                f"refers to {logical_id}, which these parameters do not create (Condition {condition} is false)"
            )
        if attribute is not None:
            return f"<{logical_id}.{attribute}>"
        properties = spec.get("Properties", {}) or {}
        for name_property in _NAME_PROPERTIES:
            if name_property in properties:
                name = self.resolver.resolve(properties[name_property])
                if isinstance(name, str) and name:
                    return name
        return f"<{logical_id}>"


def _diagnose_function(
    template: Mapping[str, Any],
    root: Path,
    logical_id: str,
    spec: Mapping[str, Any],
    resolver: IntrinsicResolver,
) -> FunctionDiagnosis:
    result = FunctionDiagnosis()
    condition = spec.get("Condition")
    if condition:
        try:
            result.created = resolver.condition(condition)
        except (TemplateError, KeyError) as error:
            result.errors.append(f"Condition {condition}: {_message(error)}")
        if not result.created:
            result.warnings.append(f"not created under these parameters (Condition {condition} is false)")
            return result
    properties = merged_function_properties(template, spec.get("Properties", {}) or {})

    # The handler's source: which wiring builders (so which ports) the function uses.
    try:
        code_uri = str(resolver.resolve(properties.get("CodeUri", "")))
        module, _, _function = str(resolver.resolve(properties.get("Handler", ""))).rpartition(".")
        path = Path(os.path.normpath(root / code_uri / (module.replace(".", "/") + ".py")))
    except (TemplateError, KeyError) as error:
        result.errors.append(f"CodeUri/Handler: {_message(error)}")
        path = None
    if path is not None:
        result.handler = _relative(path, root)
        if not module or not path.is_file():
            result.errors.append(f"handler file {result.handler} does not exist")
        else:
            found = WIRING_CALL.findall(path.read_text(encoding="utf-8"))
            result.builders = list(dict.fromkeys(found))
    unknown = [b for b in result.builders if b not in BUILDER_PORTS and b not in NO_PORT]
    for builder in unknown:
        result.warnings.append(
            f"the handler calls wiring.{builder}(), which doctor does not know: add it to "
            "BUILDER_PORTS or NO_PORT in local/cli/doctor.py"
        )
    ports = [port for b in result.builders for port in BUILDER_PORTS.get(b, ())]
    ports = list(dict.fromkeys(ports))

    # Its environment as Lambda would set it: every variable resolved on its own, so one bad value does not
    # hide the others.
    environment: dict[str, str] = {}
    unresolved: list[str] = []
    variables = (properties.get("Environment", {}) or {}).get("Variables", {}) or {}
    for variable, value in variables.items():
        try:
            resolved = resolver.resolve(value)
        except (TemplateError, KeyError, IndexError, TypeError, ValueError) as error:
            result.errors.append(f"{variable}: {_message(error)}")
            unresolved.append(variable)
            continue
        if resolved is None:  # !Ref AWS::NoValue
            continue
        if isinstance(resolved, dict | list):
            result.errors.append(f"{variable}: resolves to {type(resolved).__name__}, not a string")
            unresolved.append(variable)
            continue
        environment[variable] = str(resolved).lower() if isinstance(resolved, bool) else str(resolved)

    try:
        config = settings_from_environment(environment)
    except ValueError as error:
        # A problem that only repeats a variable left unresolved above (it is then missing) says nothing new.
        problems = [
            problem
            for problem in str(error).removeprefix("invalid configuration: ").split("; ")
            if not any(variable in problem for variable in unresolved)
        ]
        if problems:
            result.errors.append("invalid configuration: " + "; ".join(problems))
        result.ports = dict.fromkeys(ports, UNRESOLVED)
        return result
    described = wiring.describe_adapters(config)
    result.ports = {port: described[port] for port in ports}
    result.warnings.extend(_port_warnings(config, result.ports, result.builders))
    return result


def _port_warnings(config: Settings, ports: Mapping[str, str], builders: list[str]) -> list[str]:
    """Configurations that start but probably do not do what was meant."""
    warnings = []
    if config.model_provider != "bedrock":
        for port, variable in (("guardrail", "GUARDRAIL_ID"), ("commenter", "COMMENTER_MODEL_ID")):
            if ports.get(port) in ("BedrockGuardrail", "BedrockModelClient"):
                warnings.append(
                    f"{port}: {variable} is set, so it calls Bedrock although MODEL_PROVIDER={config.model_provider}"
                )
    if ports.get("search_log") == wiring.NONE:
        warnings.append(
            "search_log: no SEARCH_LOG_BUCKET (and no embedded DATA_DIR): searches are not logged"
        )
    if USES_COMMENT_SECRET & set(builders) and wiring.comment_secret_source(config) == "process":
        warnings.append(
            "comment tokens: COMMENT_TOKEN_SECRET and DATA_DIR are empty, so each instance makes its own key "
            "and a comment request verifies only on the instance that served the search"
        )
    return warnings


def _message(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"unknown name {error.args[0]!r}" if error.args else "unknown name"
    return str(error)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(os.path.normpath(root)))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------- the command
def print_diagnosis(diagnosis: Diagnosis, overrides: Mapping[str, str], local: bool) -> None:
    base = "the local cloud's parameters" if local else "the deployed defaults"
    given = " ".join(f"{k}={v}" for k, v in overrides.items()) or "no overrides"
    print(f"{printable(diagnosis.template)}: {printable(given)} over {base}")
    for error in diagnosis.errors:
        print(f"  ERROR    {printable(error)}")
    for warning in diagnosis.warnings:
        print(f"  warning  {printable(warning)}")
    width = max((len(p) for f in diagnosis.functions.values() for p in f.ports), default=0)
    for name, function in diagnosis.functions.items():
        state = "" if function.created else "  (not created)"
        status = "FAIL" if function.errors else "ok"
        print(f"\n{name}  [{status}]  {printable(function.handler)}{state}")
        if function.created and not function.ports:
            print("  (no adapter ports)")
        for port, adapter in function.ports.items():
            note = WHEN_NONE.get(port, "") if adapter == wiring.NONE else ""
            if adapter == UNRESOLVED:
                note = "configuration invalid"
            print(f"  {port:<{width}}  {adapter}{f'  ({note})' if note else ''}")
        for error in function.errors:
            print(f"  ERROR    {printable(error)}")
        for warning in function.warnings:
            print(f"  warning  {printable(warning)}")
    failing = sum(1 for f in diagnosis.functions.values() if f.errors)
    print(
        f"\n{len(diagnosis.functions)} functions, {failing} with errors, "
        f"{len(diagnosis.errors)} stack-wide errors"
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    overrides = dict(PARAMETER_OVERRIDES)
    base: dict[str, str] = {}
    if args.local:
        from cataloop_local.emulator.cloud import local_parameters

        base = local_parameters(Path(args.state_dir).resolve())
    diagnosis = diagnose(Path(args.template), overrides, base_parameters=base)
    print_diagnosis(diagnosis, overrides, args.local)
    write_json(args.json, diagnosis.as_json())
    return 0 if diagnosis.ok else 1


def add_doctor_parser(commands: Any) -> None:
    help_text = (
        "for each function of template.yaml, which adapter each port resolves to under the template "
        "parameters (--parameter-overrides K=V ...; default the deployed defaults), and every "
        "configuration error found without calling AWS; exit 1 when there is one"
    )
    doctor = commands.add_parser("doctor", help=help_text, description=help_text)
    doctor.add_argument(
        "--local",
        action="store_true",
        help="start from the local cloud's parameters (offline models, embedded search, e5) instead of "
        "the deployed defaults",
    )
    doctor.add_argument(
        "--template", default=str(PROJECT_ROOT / "template.yaml"), help="the template (default template.yaml)"
    )
    doctor.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    doctor.set_defaults(handler=cmd_doctor)
