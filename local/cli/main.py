"""`cataloop`: the local cloud's command line.

Every command starts the local cloud from `template.yaml`, restores `.cataloop/`, does its work and saves
the tables again, so one command sees what the previous one left. Commands that report take
`--json PATH` and write their results there.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cataloop_local.cli.common import (
    DEFAULT_STATE,
    PARAMETER_OVERRIDES,
    events_from_file,
    local_cloud,
    parse_parameter_overrides,
    write_json,
)


# ---------------------------------------------------------------------------- commands
def cmd_events_put(args: argparse.Namespace) -> int:
    entries = events_from_file(Path(args.file))
    with local_cloud(args.state_dir) as cloud:
        response = cloud.put_events(entries)
        delivered = cloud.pump_streams()
        executions = []
        for logical in cloud.state_machine_arns:
            for execution in cloud.executions(logical):
                detail = cloud.describe_execution(execution["executionArn"])
                executions.append({key: detail.get(key) for key in ("name", "status", "error", "cause")})
    result = {"put": response, "executions": executions, "stream_records_delivered": delivered}
    for execution in executions:
        line = f"{execution['status']:<10} {execution['name']}"
        if execution.get("error"):
            line += f"  {execution['error']}: {execution['cause']}"
        print(line)
    print(f"stream records delivered: {delivered}")
    write_json(args.json, result)
    return 0 if all(e["status"] == "SUCCEEDED" for e in executions) else 1


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
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    write_json(args.json, result)
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    with local_cloud(args.state_dir) as cloud:
        server = cloud.http_server(port=args.port)
        server.start()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print(
            f"Cataloop local cloud on {server.url}  (routes: {', '.join(r.route_key for r in cloud.routes)})"
        )
        print("Ctrl-C to stop; tables are saved on exit.")
        try:
            # Stream delivery runs between requests too, as Lambda's pollers do.
            while not stop.wait(0.5):
                cloud.pump_streams()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    from cataloop_local.emulator.state import LocalState

    LocalState(args.state_dir).clear()
    print(f"cleared {args.state_dir}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Run one shopper search (and optionally its AI comment) against the local index, as GET /search does."""
    from cataloop import wiring
    from cataloop.errors import InvalidInput
    from cataloop.settings import settings

    params: dict[str, Any] = {"q": args.query, "size": args.size, "page": args.page}
    if args.sort:
        params["sort"] = args.sort
    with local_cloud(args.state_dir) as cloud:
        cloud.pump_streams()  # index whatever the last command left on the stream
        service = wiring.search_service(settings())
        try:
            response = service.search(params)
        except InvalidInput as error:
            print(f"invalid search: {error}", file=sys.stderr)
            return 2
        comment = service.comment(response.comment_token) if args.comment and response.comment_token else None
    plan = response.plan
    print(
        f"{response.total} results for {response.query!r} (page {response.page}, mode {plan.mode}, sort {plan.sort})"
    )
    if plan.exact_match:
        print("  exact product-name match: keyword results")
    if plan.classification is not None:
        c = plan.classification
        print(f"  understood as {c.kind}; cleaned query {c.cleaned_query!r}; food intent {c.food_intent}")
        for reason in c.reasons:
            print(f"    - {reason}")
    for variant in plan.variants:
        print(f"  {variant.reason}")
    for rule in plan.ranking:
        print(f"  ranking: {rule}")
    for result in response.results:
        price = f"{result.price:,.0f}" if result.price is not None else "-"
        print(f"{result.position:>3}. {result.id:<10} {result.relevance:6.3f}  {price:>8}  {result.name}")
    if comment is not None:
        print(f"\nAI comment ({comment.source}): {comment.text}")
    payload = response.model_dump(mode="json")
    if comment is not None:
        payload["comment"] = comment.model_dump(mode="json")
    write_json(args.json, payload)
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
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
            with tqdm(desc=f"reindex {target}", unit="item", disable=args.quiet) as bar:
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

    add("reset", cmd_reset, "delete the local state in .cataloop/", reports=False)

    from cataloop_local.cli.dictionary import add_dictionary_parser
    from cataloop_local.cli.evaluation import add_eval_parser
    from cataloop_local.cli.kb import add_kb_parser

    add_kb_parser(commands)
    add_eval_parser(commands)
    add_dictionary_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    words, overrides = split_parameter_overrides(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    PARAMETER_OVERRIDES.clear()
    PARAMETER_OVERRIDES.update(parse_parameter_overrides(overrides))
    return int(args.handler(args))


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
