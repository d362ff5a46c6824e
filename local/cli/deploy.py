"""Commands against a deployed stack: `cataloop deploy bootstrap --stack NAME` (create the search indices,
aliases, vocabulary index and hybrid search pipeline on the stack's OpenSearch domain) and
`cataloop reindex --stack NAME` (rebuild the deployed indices from the deployed tables).

Both read the stack's outputs (`OpenSearchEndpoint`, `ProductsTableName`, `KnowledgeTableName`) and
parameters (`EmbeddingProvider`, `EmbeddingModelId`, `EmbeddingDimension`) with CloudFormation
`DescribeStacks`, and talk to the domain with SigV4 using your AWS credentials (the domain's access policy
must allow your role: see DEPLOY.md). The logic lives in `cataloop.services.bootstrap` and
`cataloop.services.reindex`; this module only wires boto3 and opensearch-py.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from cataloop_local.cli.common import write_json

ENDPOINT_OUTPUT = "OpenSearchEndpoint"
TABLE_OUTPUTS = {"products_table": "ProductsTableName", "knowledge_table": "KnowledgeTableName"}
PARAMETER_SETTINGS = {
    "EmbeddingProvider": "embedding_provider",
    "EmbeddingModelId": "embedding_model_id",
    "EmbeddingDimension": "embedding_dimension",
}


class StackError(Exception):
    """The stack cannot be used (missing, or without the outputs a command needs)."""


def describe_stack(stack: str, region: str | None, client: Any = None) -> dict[str, Any]:
    """{"region", "outputs": {key: value}, "parameters": {key: value}} of a deployed stack."""
    import boto3
    from botocore.exceptions import ClientError

    if client is None:
        session = boto3.Session(region_name=region) if region else boto3.Session()
        client = session.client("cloudformation")
    try:
        (found,) = client.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise StackError(f"cannot read stack {stack!r}: {error}") from error
    return {
        "region": client.meta.region_name,
        "outputs": {item["OutputKey"]: item.get("OutputValue", "") for item in found.get("Outputs", [])},
        "parameters": {
            item["ParameterKey"]: item.get("ResolvedValue", item.get("ParameterValue", ""))
            for item in found.get("Parameters", [])
        },
    }


def stack_settings(stack: str, description: Mapping[str, Any]) -> Any:
    """The functions' settings for this stack's search: OpenSearch at the stack's endpoint, its tables, its
    embedding model (the aliases are the template's: products, learnings)."""
    from cataloop.settings import ConfigurationError, Settings

    outputs, parameters = description["outputs"], description["parameters"]
    endpoint = outputs.get(ENDPOINT_OUTPUT, "")
    if not endpoint:
        raise StackError(
            f"stack {stack!r} has no {ENDPOINT_OUTPUT} output value; deploy it with SearchBackend=opensearch"
        )
    update: dict[str, Any] = {
        "search_backend": "opensearch",
        "opensearch_host": endpoint,
        "opensearch_service": "es",
        "AWS_REGION": description["region"],  # `region` is set through its environment name
        "products_alias": "products",
        "learnings_alias": "learnings",
    }
    for field, output in TABLE_OUTPUTS.items():
        if outputs.get(output):
            update[field] = outputs[output]
    if outputs.get("SearchLogBucketName"):
        # Approved dictionary versions live in the search-log bucket (cataloop dictionary approve --stack).
        update["dictionary_bucket"] = outputs["SearchLogBucketName"]
    for parameter, field in PARAMETER_SETTINGS.items():
        if parameters.get(parameter):
            value = parameters[parameter]
            update[field] = int(value) if field == "embedding_dimension" else value
    try:
        return Settings(**update)
    except (ConfigurationError, ValueError) as error:
        raise StackError(f"stack {stack!r} gives an unusable configuration: {error}") from error


def _print_requests(requests: list[dict[str, Any]]) -> None:
    for request in requests:
        print(f"  {request['method']} {request['path']}")
        if "body" in request:
            print("  " + json.dumps(request["body"], ensure_ascii=False, indent=2).replace("\n", "\n  "))


# ---------------------------------------------------------------------------- bootstrap


def cmd_deploy_bootstrap(args: argparse.Namespace) -> int:
    from cataloop import wiring
    from cataloop.adapters.opensearch_bootstrap import bootstrap_resources
    from cataloop.services.bootstrap import bootstrap

    try:
        description = describe_stack(args.stack, args.region)
        config = stack_settings(args.stack, description)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    products, learnings = wiring.opensearch_indexes(config)
    print(f"{'dry run: ' if args.dry_run else ''}bootstrap {config.opensearch_host} (stack {args.stack})")
    steps = bootstrap(bootstrap_resources(products, learnings), dry_run=args.dry_run)
    for step in steps:
        print(f"{step.status:>12}  {step.resource}")
        if args.dry_run:
            _print_requests(step.requests)
    write_json(args.json, {"bootstrap": [step.model_dump() for step in steps]})
    return 0


def add_deploy_parser(commands: Any) -> None:
    deploy = commands.add_parser(
        "deploy", help="work on a deployed stack", description="commands against a deployed stack"
    )
    actions = deploy.add_subparsers(dest="deploy_command", required=True)
    text = (
        "create the search indices, aliases, vocabulary index and hybrid search pipeline on the stack's "
        "OpenSearch domain (idempotent: what exists is left alone)"
    )
    boot = actions.add_parser("bootstrap", help=text, description=text)
    boot.set_defaults(handler=cmd_deploy_bootstrap)
    boot.add_argument("--stack", required=True, help="the deployed stack's name")
    boot.add_argument("--region", default=None, help="its region (default: your AWS configuration's)")
    boot.add_argument("--dry-run", action="store_true", help="only read; print the requests it would send")
    boot.add_argument("--json", default=None, help="also write the steps to this file")


# ---------------------------------------------------------------------------- reindex


def reindex_stack(args: argparse.Namespace) -> int:
    """`cataloop reindex --stack NAME`: rebuild the deployed indices from the deployed tables."""
    from tqdm import tqdm

    from cataloop import wiring
    from cataloop.services.reindex import plan_reindex, reindex_learnings, reindex_products

    try:
        config = stack_settings(args.stack, describe_stack(args.stack, args.region))
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    targets = ["products", "learnings"] if args.index == "all" else [args.index]
    products, learnings = wiring.opensearch_indexes(config)
    if args.dry_run:
        plans = []
        for target in targets:
            if target == "products":
                plan = plan_reindex(products, wiring.product_store(config).approximate_count)
            else:
                plan = plan_reindex(learnings, wiring.knowledge_store(config).approximate_count)
            plans.append(plan.model_dump())
            print(
                f"dry run: {plan.alias} would be rebuilt from about {plan.approximate_items} items into a new "
                f"generation, then swapped from {', '.join(plan.current_indices) or 'nothing'}"
                + ("; the catalog vocabulary would be rebuilt" if plan.rebuilds_vocabulary else "")
            )
        write_json(args.json, {"reindex_plan": plans})
        return 0
    reports = []
    for target in targets:
        quiet = args.quiet or not sys.stderr.isatty()
        with tqdm(desc=f"reindex {target}", unit="item", disable=quiet) as bar:
            options = {"on_total": lambda total, bar=bar: bar.reset(total=total), "on_progress": bar.update}
            if target == "products":
                products.ensure_index()
                report = reindex_products(products, wiring.product_store(config), **options)
            else:
                learnings.ensure_index()
                report = reindex_learnings(learnings, wiring.knowledge_store(config), **options)
            bar.total = bar.n  # the total was the table's item count, an upper bound: end at 100 %
        reports.append(report.model_dump())
        vocabulary = (
            f"; vocabulary {report.vocabulary_terms} terms" if report.vocabulary_terms is not None else ""
        )
        print(
            f"{report.alias}: {report.indexed} documents from {report.scanned} items into {report.new_index} "
            f"in {report.build_seconds:.2f} s; alias swapped from {', '.join(report.previous_indices) or 'nothing'}; "
            f"caught up {report.caught_up}, deleted {report.deleted_after_swap}{vocabulary}"
        )
    write_json(args.json, {"reindex": reports})
    return 0
