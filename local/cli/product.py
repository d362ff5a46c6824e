"""`cataloop product ...`: what happened to a product, read from the Products and Knowledge tables.

`product show ID` prints the current version of one product: its status, the attributes with their
normalised value, confidence and evidence, the consensus decision, each worker's extraction, the evaluator's
verdicts, the supervisor's resolution (when it ran), the learnings injected and used (with their CURRENT text
from the knowledge store) and the feedback applied. `product list` lists the stored products.

The report itself is `cataloop.services.product_view.product_report` (also behind `GET /kb/products/{id}`).
The Products table keeps the current version of a product only (`ProductStore` has no history read): the
report says "history: not stored" rather than reconstructing one; the feedback history the product carries
(`provenance.feedback`) is shown as recorded.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cataloop.services.product_view import HISTORY_NOT_STORED, product_report
from cataloop_local.cli.common import local_cloud, printable, write_json

EMPTY_HINT = (
    "no products are stored; run `cataloop demo` (or `cataloop events put events/product_created.json`)"
)
LIST_HINT = "list the stored products with `cataloop product list`"


def _text(value: object) -> str:
    return printable("(none)" if value is None else value)


def _evidence(value: Mapping[str, Any]) -> str:
    span = value.get("evidence")
    if not isinstance(span, Mapping) or not span.get("text"):
        return "-"
    return f'{span.get("field", "?")}[{span.get("start")}:{span.get("end")}] "{span["text"]}"'


def format_report(report: Mapping[str, Any]) -> list[str]:
    """The report as lines for a terminal (seller and model text through `printable`)."""
    lines = [
        f"{_text(report['product_id'])}  {report['status']}  version {report['version']}",
        f"  title: {_text(report['title'])}",
        f"  category: {_text(' > '.join(report['category_path']) or '(none)')}",
        f"  created {_text(report['created_at'])}, updated {_text(report['updated_at'])}, "
        f"event {_text(report['source_event_id'])}",
    ]
    if report["decision"] is None and not report["attributes"]:
        lines.append("  not enriched yet (no enrichment or provenance recorded)")
    else:
        disagreed = ", ".join(report["disagreed_attributes"]) or "none"
        lines.append(f"decision: {_text(report['decision'])}   disagreed: {_text(disagreed)}")
        for reason in report["consensus_reasons"][:5]:
            lines.append(f"  - {_text(reason)}")
    lines.append(f"attributes ({len(report['attributes'])}):")
    for name, value in sorted(report["attributes"].items()):
        value = value if isinstance(value, Mapping) else {"value": value}
        normalised = value.get("normalised")
        unit = f" {value['unit']}" if value.get("unit") else ""
        if normalised and unit and str(normalised).endswith(unit):
            unit = ""
        shown = f"{value.get('value')}" + (
            f" (normalised {normalised}{unit})" if normalised and normalised != value.get("value") else unit
        )
        confidence = value.get("confidence")
        lines.append(
            f"  {_text(name)} = {_text(shown)}"
            + (f"  conf {confidence:.2f}" if isinstance(confidence, int | float) else "")
            + f"  evidence {_text(_evidence(value))}"
        )
    for worker in report["workers"]:
        extraction = worker.get("extraction") or {}
        values = ", ".join(
            f"{name}={(v or {}).get('value') if isinstance(v, Mapping) else v}"
            for name, v in sorted((extraction.get("attributes") or {}).items())
        )
        dropped = worker.get("dropped")
        lines.append(
            f"worker {_text(worker.get('role'))} ({_text(worker.get('model_id'))}): {_text(values or '(nothing)')}"
            + (f"  dropped: {_text(dropped)}" if dropped else "")
        )
    evaluator = report["evaluator"]
    if isinstance(evaluator, Mapping):
        lines.append(f"evaluator ({_text(evaluator.get('model_id'))}):")
        for verdict in evaluator.get("verdicts") or []:
            suggested = verdict.get("suggested_value")
            lines.append(
                f"  {_text(verdict.get('attribute'))}: {_text(verdict.get('verdict'))}"
                + (f" (suggests {_text(suggested)})" if suggested else "")
                + f" - {_text(verdict.get('reason'))}"
            )
    supervisor = report["supervisor"]
    if isinstance(supervisor, Mapping):
        confidence = supervisor.get("confidence")
        lines.append(
            f"supervisor ({_text(supervisor.get('model_id'))}): confidence "
            + (f"{confidence:.2f}" if isinstance(confidence, int | float) else _text(confidence))
            + f", unresolved: {_text(', '.join(supervisor.get('unresolved') or []) or 'none')}"
            + (", sent to review" if supervisor.get("needs_review") else "")
        )
        lines.append(f"  reason: {_text(supervisor.get('reason'))}")
    else:
        lines.append("supervisor: did not run")
    lines.append(f"learnings ({len(report['learnings'])} injected or used):")
    for row in report["learnings"]:
        how = "+".join(k for k in ("injected", "used") if row[k])
        injected = f" v{row['injected_version']}" if row["injected_version"] is not None else ""
        current = row["current"]
        if current is None:
            lines.append(f"  {_text(row['id'])}{injected} [{how}]  (no longer in the knowledge store)")
        else:
            lines.append(
                f"  {_text(row['id'])}{injected} [{how}]  now v{current['version']} {current['status']}: "
                f"{_text(current['text'])}"
            )
    lines.append(f"history: {HISTORY_NOT_STORED}")
    lines.append(f"feedback applied ({len(report['feedback'])}):")
    for entry in report["feedback"]:
        corrected = entry.get("corrected") or {}
        changes = ", ".join(
            f"{name}: {_text((c or {}).get('old'))} -> {_text((c or {}).get('new'))}"
            for name, c in corrected.items()
        )
        lines.append(
            f"  {_text(entry.get('at'))} {_text(entry.get('channel'))} {_text(entry.get('kind'))} "
            f"{_text(entry.get('signal_id'))}: {changes or 'nothing changed'}"
        )
    return lines


def _all_products(products: Any) -> Iterable[Any]:
    for page in products.scan():
        yield from page


def list_rows(products: Iterable[Any], status: str | None, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Rows for `product list` (sorted by id, filtered by status, at most `limit`) and how many matched."""
    matching = sorted(
        (p for p in products if status is None or p.status.value == status.upper()),
        key=lambda p: p.product_id,
    )
    rows = [
        {
            "product_id": p.product_id,
            "version": p.version,
            "status": p.status.value,
            "decision": (p.provenance or {}).get("decision"),
            "attributes": len((p.enrichment or {}).get("attributes") or {}),
            "title": p.listing.title,
        }
        for p in matching[: max(limit, 0)]
    ]
    return rows, len(matching)


def cmd_product(args: argparse.Namespace) -> int:
    from cataloop import wiring

    with local_cloud(args.state_dir, save=False) as cloud:
        config = cloud.settings()
        products = wiring.product_store(config)
        if args.product_command == "list":
            rows, total = list_rows(_all_products(products), args.status, args.limit)
            if total == 0 and args.status is None:
                print(EMPTY_HINT)
            for row in rows:
                print(
                    f"{_text(row['product_id']):<24} v{row['version']:<3} {row['status']:<12} "
                    f"{_text(row['decision'] or '-'):<10} {row['attributes']:>2} attrs  {_text(row['title'][:60])}"
                )
            if total > len(rows):
                print(f"... {total - len(rows)} more (--limit)")
            print(f"{total} products" + (f" with status {args.status.upper()}" if args.status else ""))
            write_json(args.json, {"products": rows, "total": total})
            return 0
        stored = products.get(args.product_id)
        if stored is None:
            empty = next(iter(_all_products(products)), None) is None
            message = EMPTY_HINT if empty else LIST_HINT
            print(f"error: no product {printable(args.product_id)!r}; {message}")
            return 1
        report = product_report(stored, wiring.knowledge_store(config))
    for line in format_report(report):
        print(line)
    write_json(args.json, report)
    return 0


def add_product_parser(commands: Any) -> None:
    product = commands.add_parser(
        "product", help="what happened to a product: its attributes, decision, workers, learnings, feedback"
    )
    sub = product.add_subparsers(dest="product_command", required=True)
    show = sub.add_parser(
        "show",
        help="a product's current version: attributes, consensus, workers, evaluator, supervisor, "
        "learnings (current text) and feedback applied",
    )
    show.set_defaults(handler=cmd_product)
    show.add_argument("product_id")
    show.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")
    listing = sub.add_parser("list", help="the stored products with their status and decision")
    listing.set_defaults(handler=cmd_product)
    listing.add_argument("--status", type=str.upper, choices=["PENDING", "ENRICHED", "NEEDS_REVIEW"])
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")


__all__: Sequence[str] = (
    "HISTORY_NOT_STORED",
    "add_product_parser",
    "format_report",
    "list_rows",
    "product_report",
)
