"""`cataloop`: the local cloud's command line.

Every command starts the local cloud from `template.yaml`, restores `.cataloop/`, does its work and saves
the tables again, so one command sees what the previous one left. Commands that report take
`--json PATH` and write their results there.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cataloop_local.cli.common import (
    DEFAULT_STATE,
    PARAMETER_OVERRIDES,
    events_from_file,
    local_cloud,
    parse_parameter_overrides,
    printable,
    write_json,
)


# ---------------------------------------------------------------------------- commands
def cmd_events_put(args: argparse.Namespace) -> int:
    """Put the file's events on the bus; the local cloud runs the executions they start to their end before
    PutEvents returns, so each new execution is reported with what it did. An event that no rule on the bus
    matches is put (the bus accepts it, as AWS does) and reported with the closest detail-types; exit 1."""
    entries = events_from_file(Path(args.file))
    with local_cloud(args.state_dir) as cloud:
        rules = bus_rules(cloud)
        marker = cloud.router.delivered
        response = cloud.put_events(entries)
        delivered = cloud.pump_streams()
        # The executions this call started: the bus's deliveries to state machines (the events the
        # executions put on the bus start theirs through it too).
        machines = {arn: logical for logical, arn in cloud.state_machine_arns.items()}
        executions = [
            execution_outcome(
                cloud, machines[delivery.target_arn], cloud.describe_execution(delivery.execution_arn)
            )
            for delivery in cloud.router.deliveries_since(marker)
            if delivery.execution_arn and delivery.target_arn in machines
        ]
    misses = [entry for entry in entries if not matching_rules(rules, entry)]
    result = {
        "put": response,
        "executions": executions,
        "stream_records_delivered": delivered,
        "unmatched": [{"source": e["Source"], "detail_type": e["DetailType"]} for e in misses],
    }
    for entry in response["Entries"]:
        if entry.get("ErrorCode"):
            print(f"FAILED     {printable(entry['ErrorCode'])}: {printable(entry.get('ErrorMessage', ''))}")
    for entry in misses:
        print(
            f"warning: no rule matches source {printable(entry['Source'])!r} detail-type "
            f"{printable(entry['DetailType'])!r}; nothing ran for it",
            file=sys.stderr,
        )
        suggestions = closest_patterns(rules, entry)
        if suggestions:
            print(f"  did you mean: {printable(', '.join(suggestions))}", file=sys.stderr)
    for execution in executions:
        for line in execution_lines(execution):
            print(line)
    if not executions and not misses:
        print("no execution started")
    print(f"stream records delivered: {delivered}")
    write_json(args.json, result)
    failed = any(e.get("ErrorCode") for e in response["Entries"])
    return 0 if not failed and not misses and all(e["status"] == "SUCCEEDED" for e in executions) else 1


def bus_rules(cloud: Any) -> list[dict[str, Any]]:
    """The enabled rules of the template's bus, each with its parsed event pattern."""
    from cataloop.wiring import aws_client
    from cataloop_local.emulator.resources import REGION

    client = aws_client("events", REGION)
    rules = []
    for logical, spec in cloud.resources.items():
        if spec["Type"] != "AWS::Events::EventBus":
            continue
        bus = cloud.physical_name(logical)
        for page in client.get_paginator("list_rules").paginate(EventBusName=bus):
            for rule in page["Rules"]:
                if rule.get("State", "ENABLED") == "ENABLED" and rule.get("EventPattern"):
                    rules.append({"name": rule["Name"], "pattern": json.loads(rule["EventPattern"])})
    return rules


def _pattern_allows(values: Any, actual: str) -> bool:
    """One top-level field of a pattern: absent allows anything; a list allows its strings (a content
    filter such as {"prefix": ...} is taken to allow, as this check only looks for a likely miss)."""
    if values is None:
        return True
    values = values if isinstance(values, list) else [values]
    return any(not isinstance(value, str) or value == actual for value in values)


def matching_rules(rules: list[dict[str, Any]], entry: dict[str, Any]) -> list[str]:
    """Names of the rules whose source and detail-type match the entry (detail filters not checked)."""
    return [
        rule["name"]
        for rule in rules
        if _pattern_allows(rule["pattern"].get("source"), entry["Source"])
        and _pattern_allows(rule["pattern"].get("detail-type"), entry["DetailType"])
    ]


def closest_patterns(rules: list[dict[str, Any]], entry: dict[str, Any], count: int = 3) -> list[str]:
    """The (source, detail-type) pairs the rules accept closest to the entry's detail-type, as
    'source/DetailType'."""
    import difflib

    pairs: dict[str, str] = {}
    for rule in rules:
        sources = [s for s in rule["pattern"].get("source") or ["*"] if isinstance(s, str)]
        for detail_type in rule["pattern"].get("detail-type") or []:
            if isinstance(detail_type, str):
                for source in sources:
                    pairs.setdefault(f"{source}/{detail_type}", detail_type)
    names = difflib.get_close_matches(entry["DetailType"], sorted(set(pairs.values())), n=count, cutoff=0.3)
    if not names:  # nothing close by detail-type: the ones with the right source
        names = sorted({d for pair, d in pairs.items() if pair.startswith(entry["Source"] + "/")})[:count]
    return [pair for name in names for pair in sorted(pairs) if pairs[pair] == name][:count]


def _state_output(cloud: Any, execution_arn: str, state: str) -> dict[str, Any] | None:
    """The output of `state` in the execution's history (None when it did not run or is not recorded)."""
    from botocore.exceptions import ClientError

    from cataloop.wiring import aws_client
    from cataloop_local.emulator.resources import REGION

    client = aws_client("stepfunctions", REGION)
    try:
        events = client.get_execution_history(executionArn=execution_arn, reverseOrder=True)["events"]
    except ClientError:  # the history is a nice-to-have for the summary
        return None
    for event in events:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == state and details.get("output"):
            loaded = json.loads(details["output"])
            return loaded if isinstance(loaded, dict) else None
    return None


def execution_outcome(cloud: Any, logical: str, detail: dict[str, Any]) -> dict[str, Any]:
    """What one finished execution did, as data for `execution_lines`: its status (and error) and, by
    state machine, the product's decision, attributes and learnings used (read back from the tables) or
    the feedback's verdicts, corrections and learnings."""
    from cataloop import wiring

    outcome: dict[str, Any] = {
        "state_machine": logical,
        "name": detail.get("name"),
        "status": detail["status"],
        "error": detail.get("error"),
        "cause": detail.get("cause"),
    }
    output = json.loads(detail["output"]) if detail.get("output") else {}
    outcome["output"] = output
    if logical.startswith("EnrichProduct"):
        event = json.loads(detail.get("input") or "{}")
        product_id = output.get("product_id") or (event.get("detail", {}).get("product") or {}).get(
            "product_id"
        )
        stored = wiring.product_store(cloud.settings()).get(product_id) if product_id else None
        if stored is not None:
            provenance = stored.provenance or {}
            outcome["product"] = {
                "product_id": stored.product_id,
                "version": stored.version,
                "status": stored.status.value,
                "decision": provenance.get("decision") or output.get("decision"),
                "attributes": {
                    name: (value or {}).get("value")
                    for name, value in ((stored.enrichment or {}).get("attributes") or {}).items()
                },
                "learnings_used": list(provenance.get("learnings_used") or []),
            }
    elif logical.startswith("LearnFromFeedback") and output.get("relevant"):
        resolved = _state_output(cloud, detail["executionArn"], "Resolve") or {}
        judgements = ((resolved.get("resolution_result") or {}).get("result") or {}).get("judgements")
        outcome["judgements"] = [
            {key: j.get(key) for key in ("attribute", "verdict", "reason", "wrong_value", "confidence")}
            | {"value": (j.get("value") or {}).get("value")}
            for j in judgements or []
        ]
        product_id = output.get("product_id")
        stored = wiring.product_store(cloud.settings()).get(product_id) if product_id else None
        history = ((stored.provenance or {}).get("feedback") or []) if stored is not None else []
        placed_ids = [
            i
            for placed in (output.get("outcome") or {}).get("placed") or []
            for i in placed.get("learning_ids") or []
            if i
        ]
        knowledge = wiring.knowledge_store(cloud.settings())
        outcome["learning_texts"] = {
            i: learning.text for i in placed_ids if (learning := knowledge.get_learning(i)) is not None
        }
        outcome["corrected"] = next(
            (
                entry.get("corrected") or {}
                for entry in history
                if entry.get("execution_id") == detail["executionArn"]
            ),
            {},
        )
    return outcome


def execution_lines(execution: dict[str, Any]) -> list[str]:
    """A few lines per execution: status and name, then what it decided."""
    line = f"{execution['status']:<10} {printable(execution['state_machine'])} {printable(execution['name'])}"
    if execution.get("error"):
        line += f"  {printable(execution['error'])}: {printable(execution['cause'])}"
    lines = [line]
    output = execution.get("output") or {}
    product = execution.get("product")
    if product is not None:
        attributes = ", ".join(f"{name}={value}" for name, value in sorted(product["attributes"].items()))
        lines.append(
            f"  {printable(product['product_id'])} v{product['version']} {product['status']}  "
            f"decision {printable(product['decision'])}"
        )
        lines.append(f"  attributes: {printable(attributes or '(none)')}")
        lines.append(f"  learnings used: {printable(', '.join(product['learnings_used']) or 'none')}")
    if execution["state_machine"].startswith("LearnFromFeedback") and output:
        lines.append(
            f"  {printable(output.get('kind'))} on {printable(output.get('product_id'))}: "
            + ("relevant" if output.get("relevant") else "ignored")
            + f" ({printable(output.get('reason'))})"
        )
        for judgement in execution.get("judgements") or []:
            value = judgement.get("value")
            lines.append(
                f"  claim {printable(judgement['attribute'])}: {printable(judgement['verdict'])}"
                + (
                    f" -> {printable(value)}"
                    if value is not None and judgement["verdict"] == "correct"
                    else ""
                )
                + f" ({printable(judgement.get('reason'))})"
            )
        for name, change in (execution.get("corrected") or {}).items():
            lines.append(
                f"  corrected {printable(name)}: {printable(change.get('old'))} -> {printable(change.get('new'))}"
            )
        result = output.get("outcome") or {}
        for placed in result.get("placed") or []:
            ids = ", ".join(i for i in placed.get("learning_ids") or [] if i)
            lines.append(
                f"  learning {printable(placed.get('action'))} {printable(ids or '-')} in "
                f"{printable(' > '.join(placed.get('node_path') or []) or '(root)')}"
            )
            for i in placed.get("learning_ids") or []:
                if i in (execution.get("learning_texts") or {}):
                    lines.append(f"    {printable(i)}: {printable(execution['learning_texts'][i])}")
        for learning_id in result.get("downvoted") or []:
            retired = " (retired)" if learning_id in (result.get("retired") or []) else ""
            lines.append(f"  downvoted {printable(learning_id)}{retired}")
        if result.get("needs_review"):
            lines.append(f"  sent to human review: {printable(result.get('review_reason'))}")
    return lines


def cmd_enrich(args: argparse.Namespace) -> int:
    """`enrich --retry PRODUCT_ID`: re-send the stored listing as a new ProductCreated. A product stranded
    PENDING (its run failed and the redrive gave up, or longer than the grace period) is taken over."""
    from cataloop import wiring

    with local_cloud(args.state_dir) as cloud:
        stored = wiring.product_store(cloud.settings()).get(args.retry)
        if stored is None:
            print(f"no product {printable(args.retry)}")
            return 1
        listing = stored.listing.model_dump(mode="json", exclude_none=True)
        cloud.put_events(
            [{"Source": "cataloop.catalog", "DetailType": "ProductCreated", "Detail": {"product": listing}}]
        )
        cloud.pump_streams()
        after = wiring.product_store(cloud.settings()).get(args.retry)
    status = after.status.value if after else "MISSING"
    print(f"{printable(args.retry)}: {status} (version {after.version if after else '-'})")
    write_json(
        args.json, {"product_id": args.retry, "status": status, "version": after.version if after else None}
    )
    return 0 if status != "PENDING" else 1


def cmd_invoke(args: argparse.Namespace) -> int:
    from cataloop_local.emulator.lambdas import FunctionError

    event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    with local_cloud(args.state_dir) as cloud:
        try:
            result: Any = cloud.invoke(args.function, event)
            failed = False
        except FunctionError as error:
            result, failed = error.payload, True
        except KeyError as error:
            raise SystemExit(str(error)) from error
        cloud.pump_streams()
    print(printable(json.dumps(result, ensure_ascii=False, indent=2, default=str), keep_newlines=True))
    write_json(args.json, result)
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    with serving_state(Path(args.state_dir), args.port) as (cloud, server, guard):
        print(
            f"Cataloop local cloud on {server.url}  (routes: {', '.join(r.route_key for r in cloud.routes)})"
        )
        authorised = [r.route_key for r in cloud.routes if r.needs_token]
        token_file = Path(args.state_dir) / "serve-token"
        if authorised:
            print(
                f"IAM-authorised routes ({len(authorised)}: /kb/...) need  Authorization: Bearer {server.token}"
            )
            print(f"  (the token is also in {token_file}, readable by you only; it changes every serve)")
            # The token travels in the URL fragment, which the browser never sends to a server: the console
            # keeps it in the tab's sessionStorage and removes it from the address bar (README, "Console").
            print(f"Console: {server.url}/kb.html#token={server.token}  (search page: {server.url}/)")
        print(
            "cataloop commands on this state directory run here meanwhile (product, kb, review, search, ...)."
        )
        print("Ctrl-C to stop; tables are saved on exit.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            # Stream delivery runs between requests too, as Lambda's pollers do.
            while not stop.wait(0.5):
                with guard:
                    cloud.pump_streams()
        except KeyboardInterrupt:
            pass
    return 0


@contextlib.contextmanager
def serving_state(state_dir: Path, port: int = 0) -> Iterator[tuple[Any, Any, Any]]:
    """What `cataloop serve` runs: the local cloud on `state_dir` with its HTTP API on `port`, the server's
    URL noted in the state's lock and its token in `serve-token`; yields (cloud, server, guard). Commands
    of the CLI on the same state directory are handed to it (forward.py) and run under `guard`, one at a
    time with the server's invocations and stream deliveries."""
    from cataloop_local.cli.forward import run_forwarded
    from cataloop_local.emulator.state import SERVE

    guard = threading.RLock()
    # Absolute: a forwarded command runs in its caller's directory (forward.run_forwarded).
    state_dir = Path(state_dir).resolve()
    # serve holds the state directory until it stops: other commands cannot start a cloud there meanwhile
    # (they would restore tables serve has not saved yet, and serve's save on exit would overwrite theirs);
    # they hand their work to this one.
    closing = threading.Event()

    def local_command(words: list[str], cwd: str | None) -> dict[str, Any]:
        if closing.is_set():  # accepted just before the server stopped: the cloud is being saved
            return {"status": 1, "stdout": "", "stderr": "error: cataloop serve is stopping; run it again\n"}
        return run_forwarded(words, state_dir, cloud, cwd)

    with local_cloud(state_dir, holder=SERVE, embedding_threads=1) as cloud:
        server = cloud.http_server(port=port, local_command=local_command, guard=guard)
        server.start()
        try:
            token_file = write_serve_token(state_dir, server.token)
            try:
                if cloud.state_lock is not None:
                    cloud.state_lock.note(url=server.url)
                yield cloud, server, guard
            finally:
                token_file.unlink(missing_ok=True)
        finally:
            # A command in flight finishes before the cloud stops and saves its tables; none starts after.
            with guard:
                closing.set()
                server.stop()


def write_serve_token(state_dir: Path, token: str) -> Path:
    """`<state dir>/serve-token`, mode 0600, for `curl -H "Authorization: Bearer $(cat .cataloop/serve-token)"`."""
    import os

    path = state_dir / "serve-token"
    path.unlink(missing_ok=True)  # a file left by someone else keeps its owner and mode: start afresh
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return path


def cmd_reset(args: argparse.Namespace) -> int:
    from cataloop_local.emulator.state import LocalState, StateLocked

    try:
        LocalState(args.state_dir).clear(everything=args.all)
    except StateLocked as error:
        raise SystemExit(f"error: {error}") from error
    print(f"cleared {args.state_dir}" + ("" if args.all else " (kept the e5 vector cache in embeddings/)"))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Run one shopper search (and optionally its AI comment) against the local index, as GET /search does."""
    from cataloop import wiring
    from cataloop.errors import InvalidInput
    from cataloop.settings import settings

    params: dict[str, Any] = {"q": args.query, "size": args.size, "page": args.page}
    if args.sort:
        params["sort"] = args.sort
    with local_cloud(args.state_dir) as cloud, cloud.as_function("ApiFunction"):
        cloud.pump_streams()  # index whatever the last command left on the stream
        service = wiring.search_service(settings())  # the API function's settings, search-log bucket included
        try:
            response = service.search(params)
        except InvalidInput as error:
            print(f"invalid search: {error}", file=sys.stderr)
            return 2
        comment = service.comment(response.comment_token) if args.comment and response.comment_token else None
    plan = response.plan
    print(
        f"{response.total} results for {printable(repr(response.query))} (page {response.page}, mode {plan.mode}, sort {plan.sort})"
    )
    if plan.exact_match and plan.deferred:
        print(
            f"  exact product-name match: that product; the keyword results for the name: --page {args.page + 1}"
        )
    elif plan.exact_match:
        print("  exact product-name match first, then the keyword results for the name")
    if plan.classification is not None:
        c = plan.classification
        decided = "rules alone" if c.decided_by == "rules" else "few-shot examples"
        print(
            f"  understood as {c.kind} ({decided}); cleaned query {printable(repr(c.cleaned_query))}; "
            f"food intent {c.food_intent}"
        )
        for reason in c.reasons:
            print(f"    - {printable(reason)}")
    for variant in plan.variants:
        print(f"  {printable(variant.reason)}")
    for rule in plan.ranking:
        print(f"  ranking: {printable(rule)}")
    for result in response.results:
        price = f"{result.price:,.0f}" if result.price is not None else "-"
        print(
            f"{result.position:>3}. {printable(result.id):<10} {result.relevance:6.3f}  {price:>8}  {printable(result.name)}"
        )
    if comment is not None:
        print(f"\nAI comment ({comment.source}): {printable(comment.text)}")
    payload = response.model_dump(mode="json")
    if comment is not None:
        payload["comment"] = comment.model_dump(mode="json")
    write_json(args.json, payload)
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    if args.stack:
        from cataloop_local.cli.deploy import reindex_stack

        return reindex_stack(args)
    if args.dry_run or args.region:
        print(
            "error: --dry-run and --region need --stack (the local reindex has no dry run)", file=sys.stderr
        )
        return 2
    from tqdm import tqdm

    from cataloop import wiring
    from cataloop.services.reindex import reindex_learnings, reindex_products
    from cataloop.settings import settings

    targets = ["products", "learnings"] if args.index == "all" else [args.index]
    reports = []
    with local_cloud(args.state_dir) as cloud:
        # Pending stream records go to the current generation first, so nothing is in flight.
        cloud.pump_streams()
        tables = cloud.table_names()
        config = settings().model_copy(
            update={"products_table": tables["ProductsTable"], "knowledge_table": tables["KnowledgeTable"]}
        )
        for target in targets:
            # A progress bar on a terminal only (a log or a pipe gets the summary line below).
            quiet = args.quiet or not sys.stderr.isatty()
            with tqdm(desc=f"reindex {target}", unit="item", disable=quiet) as bar:
                options = {
                    "on_total": lambda total, bar=bar: bar.reset(total=total),
                    "on_progress": bar.update,
                }
                if target == "products":
                    report = reindex_products(
                        wiring.search_index(config), wiring.product_store(config), **options
                    )
                else:
                    report = reindex_learnings(
                        wiring.learning_index(config), wiring.knowledge_store(config), **options
                    )
                bar.total = bar.n  # the total was the table's item count, an upper bound: end at 100 %
            reports.append(report.model_dump())
            print(
                f"{report.alias}: {report.indexed} documents from {report.scanned} items into "
                f"{report.new_index} in {report.build_seconds:.2f} s ({report.documents_per_second:.0f}/s); "
                f"alias swapped from {', '.join(report.previous_indices) or 'nothing'}; "
                f"caught up {report.caught_up}, deleted {report.deleted_after_swap}"
            )
    write_json(args.json, {"reindex": reports})
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cataloop_local.cli.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cataloop", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE, help="local state (default .cataloop/)"
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters for the local cloud, as `sam deploy` takes them "
        "(e.g. DeploymentMode=learn_then_deploy); over the local defaults ModelProvider=offline "
        "SearchBackend=embedded EmbeddingProvider=e5",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str, reports: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        if reports:
            sub.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
        return sub

    demo = add("demo", cmd_demo, "run the main job end to end on a fresh local cloud and print a summary")
    demo.add_argument(
        "--products", type=int, default=None, help="OA-Mine train products to replay (default 200)"
    )
    demo.add_argument(
        "--korean", type=int, default=None, help="Korean catalog products to load (default 120)"
    )

    serve = add("serve", cmd_serve, "run the local cloud and its HTTP API until Ctrl-C", reports=False)
    serve.add_argument("--port", type=int, default=3000)

    invoke = add("invoke", cmd_invoke, "invoke one function with an event file (like `sam local invoke`)")
    invoke.add_argument("function", help="logical id or function name from template.yaml")
    invoke.add_argument("event", help="path to the event JSON")

    events = commands.add_parser("events", help="EventBridge commands").add_subparsers(
        dest="events_command", required=True
    )
    put = events.add_parser("put", help="put the events of a file on the bus and run what they start")
    put.add_argument("file")
    put.add_argument("--json", metavar="PATH")
    put.set_defaults(handler=cmd_events_put)

    enrich = add("enrich", cmd_enrich, "re-send a stored product as a new ProductCreated (stranded products)")
    enrich.add_argument("--retry", metavar="PRODUCT_ID", required=True)

    search = add("search", cmd_search, "search the local index as GET /search does; prints results and plan")
    search.add_argument("query", help="what a shopper would type")
    search.add_argument("--size", type=int, default=10)
    search.add_argument("--page", type=int, default=1)
    search.add_argument(
        "--sort", choices=["relevance", "price_asc", "price_desc", "rating", "popularity", "newest"]
    )
    search.add_argument("--comment", action="store_true", help="also fetch the AI comment on the results")

    reindex = add(
        "reindex",
        cmd_reindex,
        "rebuild search indexes from the tables into new generations, then swap the aliases",
    )
    reindex.add_argument(
        "--index", choices=["all", "products", "learnings"], default="all", help="which index (default all)"
    )
    reindex.add_argument("--quiet", action="store_true", help="no progress bar")
    reindex.add_argument(
        "--stack", default=None, help="rebuild a deployed stack's OpenSearch indexes from its tables instead"
    )
    reindex.add_argument(
        "--region", default=None, help="with --stack: its region (default: your AWS config's)"
    )
    reindex.add_argument(
        "--dry-run", action="store_true", help="with --stack: only read and say what a rebuild would do"
    )

    reset = add(
        "reset",
        cmd_reset,
        "delete the local state in .cataloop/ (the e5 vector cache and the parsed definitions stay)",
        reports=False,
    )
    reset.add_argument(
        "--all",
        action="store_true",
        help="also delete the caches (.cataloop/embeddings/ and .cataloop/definitions/)",
    )

    from cataloop_local.cli.deploy import add_deploy_parser
    from cataloop_local.cli.dictionary import add_dictionary_parser
    from cataloop_local.cli.doctor import add_doctor_parser
    from cataloop_local.cli.evaluation import add_eval_parser
    from cataloop_local.cli.kb import add_kb_parser
    from cataloop_local.cli.product import add_product_parser
    from cataloop_local.cli.review import add_review_parser

    add_kb_parser(commands)
    add_product_parser(commands)
    add_review_parser(commands)
    add_eval_parser(commands)
    add_dictionary_parser(commands)
    add_doctor_parser(commands)
    add_deploy_parser(commands)
    return parser


class _ReaderMayLeave:
    """stdout for a command piped into a reader that may stop early (`cataloop search X | head`): once the
    pipe is closed, the rest of the output is dropped instead of raising, so the command still finishes and
    saves what it wrote."""

    def __init__(self, stream: Any) -> None:
        self._stream, self._closed = stream, False

    def write(self, text: str) -> int:
        if not self._closed:
            try:
                return int(self._stream.write(text))
            except BrokenPipeError:
                self._closed = True
        return len(text)

    def flush(self) -> None:
        if not self._closed:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._closed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# How long a command runs before Python's cyclic garbage collector is switched on (see `run`).
COLLECT_GARBAGE_AFTER_SECONDS = 10.0


def run() -> None:
    """The `cataloop` console script: `main()` for a process that ends with the command.

    Two costs of a short process are cut, measured on the demo's state:
    - Python's cyclic garbage collector ran 530 times in `cataloop kb tree` (0.65 s, mostly four full
      collections over every object the imports and the local cloud made) and still took 0.42-0.53 s of
      `events put` with the young generation collected after 20,000 allocations instead of 700. The cycles
      a command leaves are few (ten executions in one `events put`: 259 MiB peak without the collector, 248
      MiB with it), so the collector is off for the first `COLLECT_GARBAGE_AFTER_SECONDS` and on after that,
      with those thresholds: a demo, a server or an evaluation collects as usual.
    - Ending the interpreter took 0.6 s more (a last full collection and the teardown of every module); the
      command's state is saved and its output written by then, so the process flushes its streams and log
      files and leaves with the command's status. An error that escapes `main()` ends as Python ends it,
      traceback included."""
    from cataloop_local.cli.forward import forward_to_serve

    # A `cataloop serve` holding the state directory runs the command itself (already started: fast).
    forwarded = forward_to_serve(sys.argv[1:], DEFAULT_STATE)
    if forwarded is not None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(forwarded)
    gc.set_threshold(20_000, 20, 20)
    gc.disable()
    later = threading.Timer(COLLECT_GARBAGE_AFTER_SECONDS, gc.enable)
    later.daemon = True
    later.start()
    try:
        code: object = main()
    except SystemExit as stop:
        code = stop.code
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe or stream: nothing more to write
            stream.flush()
    logging.shutdown()
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    if not isinstance(sys.stdout, _ReaderMayLeave):
        sys.stdout = _ReaderMayLeave(sys.stdout)  # type: ignore[assignment]
    words, overrides = split_parameter_overrides(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    PARAMETER_OVERRIDES.clear()
    PARAMETER_OVERRIDES.update(parse_parameter_overrides(overrides))
    from cataloop.errors import CataloopError

    try:
        return int(args.handler(args))
    except CataloopError as error:
        # Any command: a clear message and a non-zero exit instead of a traceback.
        raise SystemExit(f"error: {error}") from error
    except OSError as error:
        if error.filename is None:
            raise
        raise SystemExit(f"error: {error.strerror or error}: {error.filename}") from error


def split_parameter_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Take `--parameter-overrides K=V ...` out of `argv` (it may stand before or after the command): its
    values are the words with '=' that follow it, so `cataloop --parameter-overrides K=V demo` works."""
    words: list[str] = []
    overrides: list[str] = []
    taking = False
    for word in argv:
        if word == "--parameter-overrides":
            taking = True
            continue
        if taking and "=" in word and not word.startswith("-"):
            overrides.append(word)
            continue
        if taking and not overrides:
            raise SystemExit("--parameter-overrides needs KEY=VALUE words")
        taking = False
        words.append(word)
    if taking and not overrides:
        raise SystemExit("--parameter-overrides needs KEY=VALUE words")
    return words, overrides


if __name__ == "__main__":
    sys.exit(main())
