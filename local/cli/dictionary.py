"""`cataloop dictionary suggest|approve`: dictionary upkeep from the search log.

suggest: zero- and low-result searches from the search log -> typo and synonym proposals, checked against
the catalog vocabulary of the local index. The log is read from the stack's search-log bucket through
SearchLogS3: the local cloud's (on moto, kept under `.cataloop/s3/`) by default, or a deployed stack's with
`--stack NAME [--region R]` (the bucket named by its `SearchLogBucketName` output). approve: a reviewer
passes the proposals they accept (the suggest JSON, edited); they become a new dictionary version, objects in
that same bucket (`dictionaries/vNNNN/` and the `dictionaries/current.json` pointer, through DictionaryS3) -
never files in the source tree - which the search and indexer functions (DICTIONARY_BUCKET) and the next
reindex load. The local cloud keeps them under `.cataloop/s3/`, so `cataloop reset` forgets them.
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


def _proposals(path: str) -> list[Any]:
    from cataloop_local.cli.dictionary_upkeep import SynonymSuggestion, TypoSuggestion

    proposals = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        TypoSuggestion(*item) if isinstance(item, list) else TypoSuggestion(**item)
        for item in proposals.get("typos", [])
    ] + [
        SynonymSuggestion(*item) if isinstance(item, list) else SynonymSuggestion(**item)
        for item in proposals.get("synonyms", [])
    ]


def _approve(approved: list[Any], store: Any, by: str) -> str | None:
    """Write the approved entries as a new version in `store`; None (the error printed) when refused."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cataloop.errors import CataloopError
    from cataloop_local.cli.dictionary_upkeep import approve_suggestions

    try:
        return approve_suggestions(approved, store, approved_by=by, now=datetime.now(UTC))
    except CataloopError as error:
        print(f"error: {error}")
    except (ClientError, BotoCoreError) as error:
        print(f"error: cannot write the dictionaries to {store.where()}: {error}")
    return None


def cmd_approve(args: argparse.Namespace) -> int:
    from cataloop.adapters.dictionary_files import DictionaryFiles
    from cataloop.adapters.dictionary_s3 import DictionaryS3

    approved = _proposals(args.file)
    by = args.by or getpass.getuser()
    if args.stack:
        # The deployed stack's bucket, with the caller's AWS credentials (no local cloud: moto would
        # intercept the calls).
        import boto3

        session = boto3.session.Session(region_name=args.region)
        bucket = stack_search_log_bucket(session.client("cloudformation"), args.stack)
        store = DictionaryS3(bucket, client=session.client("s3"), fallback=DictionaryFiles())
        version = _approve(approved, store, by)
        if version is None:
            return 2
        print(
            f"approved {len(approved)} entries as {version} in {store.where()} ({args.stack}); new function "
            f"instances load it; run `cataloop reindex --stack {args.stack}` so the "
            "index analyzers do"
        )
    else:
        from cataloop import wiring
        from cataloop.settings import settings

        with local_cloud(args.state_dir) as cloud:
            bucket = cloud.output(SEARCH_LOG_OUTPUT)
            if not bucket:
                raise SystemExit("error: the local cloud has no search-log bucket to keep dictionaries in")
            config = settings()
            store = DictionaryS3(
                bucket,
                client=wiring.aws_client("s3", config.region),
                fallback=DictionaryFiles(config.dictionary_dir or None),
            )
            version = _approve(approved, store, by)
            wiring.forget_dictionaries()
        if version is None:
            return 2
        print(
            f"approved {len(approved)} entries as {version} in {store.where()} (local cloud); "
            "run `cataloop reindex` so the index analyzers load it"
        )
    write_json(args.json, {"version": version, "entries": len(approved)})
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
        "approve",
        help="write the accepted proposals (suggest's JSON) as a new dictionary version in the stack's bucket",
    )
    approve.add_argument("file")
    approve.add_argument("--by", help="who approved (default: the OS user)")
    approve.add_argument(
        "--stack",
        metavar="NAME",
        help="write the version to this deployed stack's bucket (default: the local cloud's)",
    )
    approve.add_argument("--region", help="the deployed stack's region (default: the AWS configuration's)")
    approve.add_argument("--json", metavar="PATH")
    approve.set_defaults(handler=cmd_approve)
