"""`cataloop dictionary suggest|approve`: dictionary upkeep from the search log.

suggest: zero- and low-result searches from the search log -> typo and synonym proposals, checked against
the catalog vocabulary of the local index. The log is read from the stack's search-log bucket through
SearchLogS3: the local cloud's (on moto, kept under `.cataloop/s3/`) by default, or a deployed stack's with
`--stack NAME [--region R]` (the bucket named by its `SearchLogBucketName` output). approve: a reviewer
passes the proposals they accept (the suggest JSON, edited); they become a new versioned dictionary that both
engines load.
"""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cataloop_local.cli.common import local_cloud, write_json

SEARCH_LOG_OUTPUT = "SearchLogBucketName"


def stack_search_log_bucket(cloudformation: Any, stack_name: str) -> str:
    """The search-log bucket of a deployed stack: its `SearchLogBucketName` output (DescribeStacks)."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise SystemExit(f"error: cannot describe stack {stack_name}: {message}") from error
    outputs = {item["OutputKey"]: item.get("OutputValue", "") for item in (stacks[0].get("Outputs") or [])}
    bucket = outputs.get(SEARCH_LOG_OUTPUT, "")
    if not bucket:
        raise SystemExit(
            f"error: stack {stack_name} has no {SEARCH_LOG_OUTPUT} output: it writes no search log "
            "(deploy it with the template's defaults or a SearchLogBucket)"
        )
    return bucket


def _stack_records(stack_name: str, region: str | None) -> tuple[list[Any], str]:
    """The deployed stack's search log, read with the caller's AWS credentials (before any local cloud
    starts: moto would intercept the calls)."""
    import boto3

    from cataloop.adapters.search_log_s3 import SearchLogS3

    session = boto3.session.Session(region_name=region)
    bucket = stack_search_log_bucket(session.client("cloudformation"), stack_name)
    return list(SearchLogS3(bucket, client=session.client("s3")).read()), f"s3://{bucket} ({stack_name})"


def _local_records(cloud: Any) -> tuple[list[Any], str]:
    """The local cloud's search log: the objects of its search-log bucket on moto."""
    from cataloop import wiring
    from cataloop.adapters.search_log_s3 import SearchLogS3
    from cataloop.settings import settings

    bucket = cloud.output(SEARCH_LOG_OUTPUT)
    if not bucket:
        raise SystemExit(
            "error: the local cloud writes no search log (its template has no search-log bucket)"
        )
    client = wiring.aws_client("s3", settings().region)
    return list(SearchLogS3(bucket, client=client).read()), f"s3://{bucket} (local cloud)"


def cmd_suggest(args: argparse.Namespace) -> int:
    from cataloop import wiring
    from cataloop.settings import settings
    from cataloop_local.cli.dictionary_upkeep import suggest_dictionary

    stack_log = _stack_records(args.stack, args.region) if args.stack else None
    with local_cloud(args.state_dir, save=False) as cloud:
        config = settings()
        index: Any = wiring.search_index(config)
        records, source = stack_log or _local_records(cloud)
        suggestions = suggest_dictionary(
            records,
            index.vocabulary(),
            known_typos=list(wiring.dictionaries(config).typo_corrections()),
        )
    payload = suggestions.model_dump(mode="json")
    print(f"{len(records)} logged searches examined from {source}")
    for typo in suggestions.typos:
        print(f"  typo     {typo.wrong} => {typo.right}   ({typo.searches} searches)")
    for synonym in suggestions.synonyms:
        print(f"  synonym  {synonym.term}, {synonym.synonym}   ({synonym.evidence})")
    if not suggestions.typos and not suggestions.synonyms:
        print("  nothing to propose")
    write_json(args.json, payload)
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from cataloop import wiring
    from cataloop.errors import CataloopError
    from cataloop.settings import Settings
    from cataloop_local.cli.dictionary_upkeep import SynonymSuggestion, TypoSuggestion, approve_suggestions

    proposals = json.loads(Path(args.file).read_text(encoding="utf-8"))
    approved: list[TypoSuggestion | SynonymSuggestion] = [
        TypoSuggestion(*item) if isinstance(item, list) else TypoSuggestion(**item)
        for item in proposals.get("typos", [])
    ] + [
        SynonymSuggestion(*item) if isinstance(item, list) else SynonymSuggestion(**item)
        for item in proposals.get("synonyms", [])
    ]
    try:
        version = approve_suggestions(
            approved,
            wiring.dictionaries(Settings(data_dir=str(args.state_dir))).directory,
            approved_by=args.by or getpass.getuser(),
            now=datetime.now(UTC),
        )
    except CataloopError as error:
        print(f"error: {error}")
        return 2
    print(
        f"approved {len(approved)} entries as {version}; run `cataloop reindex` so the index analyzers load it"
    )
    write_json(args.json, {"version": str(version), "entries": len(approved)})
    return 0


def add_dictionary_parser(commands: Any) -> None:
    dictionary = commands.add_parser("dictionary", help="typo and synonym upkeep from the search log")
    sub = dictionary.add_subparsers(dest="dictionary_command", required=True)
    suggest = sub.add_parser("suggest", help="propose typo and synonym entries from zero/low-result searches")
    suggest.add_argument("--json", metavar="PATH")
    suggest.add_argument(
        "--stack",
        metavar="NAME",
        help="read the search log of this deployed stack (default: the local cloud's)",
    )
    suggest.add_argument("--region", help="the deployed stack's region (default: the AWS configuration's)")
    suggest.set_defaults(handler=cmd_suggest)
    approve = sub.add_parser(
        "approve", help="write the accepted proposals (suggest's JSON) as a new dictionary version"
    )
    approve.add_argument("file")
    approve.add_argument("--by", help="who approved (default: the OS user)")
    approve.add_argument("--json", metavar="PATH")
    approve.set_defaults(handler=cmd_approve)
