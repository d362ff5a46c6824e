"""`cataloop review ...`: the human-review desk of the local cloud (same service a review tool would call).

`review list` shows the products the supervisor left NEEDS_REVIEW (from the Products table) with their
unresolved attributes; `review show PRODUCT_ID` shows one of them as a reviewer works it (per attribute: the
value it holds now, each worker's value, the evaluator's verdict, the candidates, and the supervisor's reason;
`review_decisions.review_detail`, read through the report behind `cataloop product show`);
`review decide PRODUCT_ID ATTRIBUTE=VALUE ...` writes the reviewer's values as the product's next version and
teaches them (`cataloop.services.review_decisions`). `GET /kb/review`, `GET /kb/review/{id}` and
`POST /kb/review/{id}/decide` are the same over the API, and `review.html` in the console.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from cataloop_local.cli.common import local_cloud, printable, write_json


def parse_decisions(words: list[str]) -> dict[str, str | None]:
    """`ATTRIBUTE=VALUE` words as attribute -> value (`ATTRIBUTE=` clears it); SystemExit naming a bad word.
    Split at the first '=', so values may hold '=' and names may hold spaces when quoted ('Pack size=2')."""
    decisions: dict[str, str | None] = {}
    for word in words:
        name, separator, value = word.partition("=")
        if not separator or not name.strip():
            raise SystemExit(f"review decide: {word!r} is not ATTRIBUTE=VALUE (ATTRIBUTE= clears the value)")
        if name.strip() in decisions:
            raise SystemExit(f"review decide: {name.strip()!r} is decided twice")
        decisions[name.strip()] = value.strip() or None
    if not decisions:
        raise SystemExit("review decide: give at least one ATTRIBUTE=VALUE")
    return decisions


def format_detail(detail: Any) -> list[str]:
    """A `review_decisions.ReviewDetail` as lines for a terminal (seller and model text through `printable`)."""
    item = detail.item
    lines = [
        f"{printable(item.product_id)} v{item.version}  {printable(item.title)}",
        f"  category: {printable(' > '.join(item.category_path) or '(none)')}",
        f"  decision: {printable(detail.decision or '-')}   unresolved: {printable(', '.join(item.unresolved) or '-')}"
        f"   disputed: {printable(', '.join(item.disputed) or '-')}",
    ]
    supervisor = detail.supervisor or {}
    if supervisor:
        lines.append(
            f"  supervisor ({printable(supervisor.get('model_id') or '?')}): confidence "
            f"{printable(supervisor.get('confidence'))}, reason: {printable(supervisor.get('reason') or '-')}"
        )
    else:
        lines.append("  supervisor: did not run")
    for reason in detail.consensus_reasons[:5]:
        lines.append(f"  - {printable(reason)}")
    for attribute in detail.attributes:
        marks = [
            m for m, on in (("unresolved", attribute.unresolved), ("disputed", attribute.disputed)) if on
        ]
        lines.append(f"{printable(attribute.name)}" + (f"  [{', '.join(marks)}]" if marks else ""))
        confidence = attribute.proposal_confidence
        lines.append(
            f"  proposal (value now): {printable(attribute.proposal if attribute.proposal is not None else '(none)')}"
            + (f"  conf {confidence:.2f}" if confidence is not None else "")
        )
        for worker in attribute.workers:
            lines.append(
                f"  worker {printable(worker.role)}: {printable(worker.value if worker.value is not None else '(none)')}"
                + (f"  conf {worker.confidence:.2f}" if worker.confidence is not None else "")
                + (f"  evidence {printable(worker.evidence)}" if worker.evidence else "")
            )
        if attribute.verdict:
            lines.append(
                f"  evaluator: {printable(attribute.verdict)}"
                + (f" (suggests {printable(attribute.suggested_value)})" if attribute.suggested_value else "")
                + (f" - {printable(attribute.verdict_reason)}" if attribute.verdict_reason else "")
            )
        candidates = "; ".join(
            f"{printable(c.value)} ({printable(', '.join(c.sources))})" for c in attribute.candidates
        )
        lines.append(f"  candidates: {candidates or '(none)'}")
    lines.append(f"schema attributes: {printable(', '.join(detail.schema_attributes))}")
    lines.append(
        f"decide with: cataloop review decide {printable(item.product_id)} ATTRIBUTE=VALUE ... (ATTRIBUTE= clears it)"
    )
    return lines


def _reviewer(args: argparse.Namespace) -> str:
    return args.reviewer or f"{getpass.getuser()}@cli"


def cmd_review(args: argparse.Namespace) -> int:
    from cataloop.errors import CataloopError

    decisions = parse_decisions(args.decisions) if args.review_command == "decide" else {}
    with local_cloud(args.state_dir) as cloud:
        try:
            result = _run(args, decisions)
        except CataloopError as error:
            print(f"error: {printable(error)}")
            return 2
        cloud.pump_streams()  # the corrected version reaches the search index, as the stream delivers it
    write_json(getattr(args, "json", None), result)
    return 0


def _run(args: argparse.Namespace, decisions: dict[str, str | None]) -> Any:
    from cataloop import wiring
    from cataloop.domain.knowledge.tree import DeploymentMode
    from cataloop.services.review_decisions import apply_review_decision, review_detail, waiting_for_review
    from cataloop.settings import settings

    config = settings()
    products = wiring.product_store(config)
    if args.review_command == "list":
        items = waiting_for_review(products)
        for item in items:
            print(f"{printable(item.product_id)} v{item.version}  {printable(item.title[:80])}")
            print(f"  category: {printable(' > '.join(item.category_path))}")
            print(
                f"  unresolved: {printable(', '.join(item.unresolved) or '-')}   reason: {printable(item.reason)}"
            )
            for name, value in item.values.items():
                print(f"    {printable(name)} = {printable(value if value is not None else '(none)')}")
        print(f"{len(items)} products wait for review")
        return [item.model_dump(mode="json") for item in items]
    knowledge = wiring.knowledge_store(config)
    if args.review_command == "show":
        detail = review_detail(products, knowledge, args.product_id)
        for line in format_detail(detail):
            print(line)
        return detail.model_dump(mode="json")
    result = apply_review_decision(
        args.product_id,
        decisions,
        _reviewer(args),
        products,
        knowledge,
        DeploymentMode(config.deployment_mode),
        memory_model=wiring.memory_manager_model(config),
        reason=args.reason or "",
    )
    print(
        f"{printable(result.product_id)}: {result.status} (version {result.version}), reviewed by {printable(result.reviewer)}"
    )
    for name, change in result.changed.items():
        old, new = change.get("old"), change.get("new")
        print(
            f"  {printable(name)}: {printable(old if old is not None else '(none)')} -> {printable(new if new is not None else '(none)')}"
        )
    if result.unchanged:
        print(f"  unchanged: {printable(', '.join(result.unchanged))}")
    for placed in result.placed:
        for learning_id in placed.learning_ids:
            learning = knowledge.get_learning(learning_id) if learning_id else None
            shown = f"{learning.status.value}: {learning.text}" if learning is not None else ""
            print(
                f"  learning {placed.action} {printable(learning_id)} in {printable(' > '.join(placed.node_path))}"
                f" (support {placed.support_count}) {printable(shown)}"
            )
    for learning_id in result.downvoted:
        print(
            f"  downvoted {printable(learning_id)}" + (" (retired)" if learning_id in result.retired else "")
        )
    if result.untaught:
        print(f"  teaches nothing: {printable(', '.join(result.untaught))}")
    return result.model_dump(mode="json")


def add_review_parser(commands: Any) -> None:
    review = commands.add_parser(
        "review", help="the human-review desk: list the products waiting for a person, decide their values"
    )
    sub = review.add_subparsers(dest="review_command", required=True)
    listing = sub.add_parser("list", help="products in NEEDS_REVIEW with their unresolved attributes")
    listing.set_defaults(handler=cmd_review)
    listing.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")
    show = sub.add_parser(
        "show",
        help="one product waiting for review: its attributes, each worker's value, the evaluator's verdicts, "
        "the candidates and the supervisor's proposal and reason",
    )
    show.set_defaults(handler=cmd_review)
    show.add_argument("product_id")
    show.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")
    decide = sub.add_parser(
        "decide",
        help="write a reviewer's values as the product's next version (ENRICHED) and teach them as learnings",
    )
    decide.set_defaults(handler=cmd_review)
    decide.add_argument("product_id")
    decide.add_argument(
        "decisions",
        nargs="+",
        metavar="ATTRIBUTE=VALUE",
        help="e.g. 'Pack size=Pack of 2' (ATTRIBUTE= clears it)",
    )
    decide.add_argument(
        "--reviewer", help="who decides (default: the OS user; kept in the product's provenance)"
    )
    decide.add_argument("--reason", help="why (kept with the decision in the product's feedback history)")
    decide.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")
