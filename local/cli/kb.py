"""`cataloop kb ...`: audit and edit the knowledge base of the local cloud (same services as the API)."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cataloop_local.cli.common import local_cloud, printable, write_json


def _store() -> Any:
    from cataloop import wiring
    from cataloop.settings import settings

    return wiring.knowledge_store(settings())


def _actor(args: argparse.Namespace) -> str:
    return args.actor or f"{getpass.getuser()}@cli"


def cmd_kb(args: argparse.Namespace) -> int:
    from cataloop.errors import CataloopError
    from cataloop.services import knowledge_admin as kb

    with local_cloud(args.state_dir) as cloud:
        try:
            result = _run(args, kb)
        except CataloopError as error:
            print(f"error: {printable(error)}")
            return 2
        cloud.pump_streams()
    write_json(getattr(args, "json", None), result)
    return 0


def _run(args: argparse.Namespace, kb: Any) -> Any:
    store = _store()
    action = args.kb_command
    if action == "tree":
        nodes = sorted(kb.knowledge_tree(store), key=lambda n: n.path)
        if not nodes:
            print(
                "the knowledge base is empty: run `cataloop demo`, or `cataloop kb import FILE` to load a snapshot"
            )
        shown = []
        for node in nodes:
            learnings = store.node_partition(node.path)[1]
            for line in tree_lines(node, learnings, show_all=args.all):
                print(line)
            shown.append(
                node.model_dump(mode="json")
                | {"learnings": [learning_row(learning) for learning in sorted_learnings(learnings)]}
            )
        return shown
    if action == "show":
        detail = kb.show_learning(store, args.learning_id)
        for line in learning_lines(detail.learning, detail.influenced):
            print(line)
        return detail.model_dump(mode="json")
    if action in ("approve", "retire"):
        operation = kb.approve if action == "approve" else kb.retire
        learning = operation(store, args.learning_id, _actor(args), args.reason)
        print(f"{printable(learning.id)} is now {learning.status} (v{learning.version})")
        return learning.model_dump(mode="json")
    if action == "edit":
        directive = kb.parse_directive(args.directive) if args.directive else None
        learning = kb.edit(store, args.learning_id, args.text, _actor(args), args.reason, directive)
        print(
            f"{printable(args.learning_id)} replaced by {printable(learning.id)} v{learning.version}: "
            f"{printable(learning.text)}"
        )
        print(f"  directive (what extraction follows): {printable(learning.directive.model_dump_json())}")
        if directive is None:
            print("  the directive is unchanged; pass --directive JSON to change what the learning does")
        return learning.model_dump(mode="json")
    if action == "export":
        snapshot = kb.export_snapshot(store)
        Path(args.file).write_text(snapshot.model_dump_json(indent=2), encoding="utf-8")
        print(f"exported {len(snapshot.learnings)} learnings and {len(snapshot.nodes)} nodes to {args.file}")
        return {"learnings": len(snapshot.learnings), "nodes": len(snapshot.nodes), "file": args.file}
    if action == "import":
        outcome = kb.import_snapshot(store, Path(args.file).read_text(encoding="utf-8"), _actor(args))
        print(f"imported from {printable(args.file)}: {printable(outcome.model_dump_json())}")
        return outcome.model_dump(mode="json")
    raise SystemExit(f"unknown kb command {action}")


TREE_CAP = 5
STATUS_ORDER = {"active": 0, "proposed": 1, "retired": 2}


def sorted_learnings(learnings: Iterable[Any]) -> list[Any]:
    """Active first, then proposed, then retired; within a status the best supported first."""
    return sorted(
        learnings,
        key=lambda item: (STATUS_ORDER.get(_status(item), 3), -item.support_count, -item.votes, item.id),
    )


def _status(learning: Any) -> str:
    return str(getattr(learning.status, "value", learning.status))


def learning_row(learning: Any) -> dict[str, Any]:
    return {
        "id": learning.id,
        "version": learning.version,
        "status": _status(learning),
        "support": learning.support_count,
        "votes": learning.votes,
        "helpful": learning.helpful,
        "harmful": learning.harmful,
        "text": learning.text,
    }


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def tree_lines(node: Any, learnings: Sequence[Any], show_all: bool = False, cap: int = TREE_CAP) -> list[str]:
    """A node and, under it, its learnings (id, status, support, votes, helpful/harmful, text): live ones,
    at most `cap` of them, unless `show_all` (then every learning, retired ones too)."""
    depth = len(node.path)
    label = printable(" > ".join(node.path) or "(root)")
    lines = [f"{'  ' * depth}{label}  [{node.learning_count} learnings]"]
    ordered = sorted_learnings(learnings)
    listed = ordered if show_all else [item for item in ordered if _status(item) != "retired"]
    hidden_retired = len(ordered) - len(listed)
    kept = listed if show_all else listed[:cap]
    indent = "  " * (depth + 1)
    for learning in kept:
        lines.append(
            f"{indent}- {printable(learning.id)} v{learning.version} {_status(learning):<8} "
            f"support {learning.support_count} votes {learning.votes} "
            f"+{learning.helpful}/-{learning.harmful}  {printable(_short(learning.text))}"
        )
    more = len(listed) - len(kept)
    if more or hidden_retired:
        parts = [f"{more} more"] if more else []
        if hidden_retired:
            parts.append(f"{hidden_retired} retired")
        lines.append(f"{indent}... {', '.join(parts)} (--all shows them)")
    return lines


def _influence_field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def learning_lines(learning: Any, influenced: Sequence[Any], limit: int = 20) -> list[str]:
    """`kb show`: the learning, its provenance (source products, evidence, models), the audit trail and
    the product versions it influenced as a table."""
    lines = [
        f"{printable(learning.id)} v{learning.version}  {_status(learning)}  votes={learning.votes}  "
        f"helpful={learning.helpful}  harmful={learning.harmful}  support={learning.support_count}",
        f"  scope: {printable(' > '.join(learning.scope_path) or '(root)')}   kind: {learning.kind}   "
        f"source: {printable(learning.source_channel)}",
        f"  attributes: {printable(', '.join(learning.attributes))}",
        f"  text: {printable(learning.text)}",
        f"  directive: {printable(learning.directive.model_dump_json())}",
        f"  valid from {learning.valid_from.isoformat()}"
        + (f" to {learning.valid_to.isoformat()}" if learning.valid_to else "")
        + (f"; supersedes {printable(', '.join(learning.supersedes))}" if learning.supersedes else "")
        + (f"; superseded by {printable(learning.superseded_by)}" if learning.superseded_by else ""),
        "provenance:",
    ]
    source = learning.provenance
    lines.append(f"  source products: {printable(', '.join(source.product_ids) or '-')}")
    lines.append(f"  models: {printable(', '.join(source.model_ids) or '-')}")
    lines.append(f"  executions: {len(source.execution_ids)}")
    for evidence in source.evidence or ["-"]:
        lines.append(f"  evidence: {printable(_short(evidence, 200))}")
    lines.append(f"audit trail ({len(learning.audit)}):")
    for entry in learning.audit[-10:]:
        lines.append(
            f"  {entry.at.isoformat(timespec='seconds')}  {printable(entry.actor)}  {printable(entry.action)}: "
            f"{printable(entry.reason)}"
        )
    if len(learning.audit) > 10:
        lines.append(f"  ... {len(learning.audit) - 10} earlier entries (--json has them all)")
    lines.append(f"influenced {len(influenced)} product versions:")
    if influenced:
        lines.append(f"  {'product':<28} {'version':>7}  {'learning v':>10}  when")
        for item in influenced[:limit]:
            at = _influence_field(item, "at")
            when = at.isoformat(timespec="seconds") if hasattr(at, "isoformat") else str(at)
            lines.append(
                f"  {printable(_influence_field(item, 'product_id')):<28} "
                f"{_influence_field(item, 'product_version')!s:>7}  "
                f"{_influence_field(item, 'learning_version')!s:>10}  {printable(when)}"
            )
        if len(influenced) > limit:
            lines.append(f"  ... {len(influenced) - limit} more (--json has them all)")
    return lines


def add_kb_parser(commands: Any) -> None:
    kb = commands.add_parser(
        "kb", help="audit and edit the knowledge base (tree, show, approve, retire, edit, export, import)"
    )
    sub = kb.add_subparsers(dest="kb_command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.set_defaults(handler=cmd_kb)
        parser.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")
        return parser

    add(
        "tree",
        f"the category tree with its learnings (id, status, support, votes, helpful/harmful; at most "
        f"{TREE_CAP} live ones per node)",
    ).add_argument("--all", action="store_true", help="every learning of every node, retired ones too")
    add("show", "a learning with its provenance, audit trail and influenced products").add_argument(
        "learning_id"
    )
    for name in ("approve", "retire"):
        parser = add(name, f"{name} a learning (recorded in its audit trail)")
        parser.add_argument("learning_id")
        parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        parser.add_argument("--actor", help="who (default: the OS user)")
    edit = add(
        "edit",
        "replace a learning with a new version (the old one is kept, invalidated): its directive, its text, "
        "or both",
    )
    edit.add_argument("learning_id")
    edit.add_argument(
        "--directive",
        help='what extraction follows, as JSON, e.g. \'{"type": "value_lexicon", "attribute": "Flavor", '
        '"values": ["딸기"]}\' (also not_value, pattern, attribute_fact; `kb show` prints the current one); '
        "without --text the text is written from it",
    )
    edit.add_argument("--text", help="the new wording; it must name what the directive is about")
    edit.add_argument("--reason", required=True)
    edit.add_argument("--actor")
    add("export", "write a knowledge snapshot (JSON)").add_argument("file")
    imported = add(
        "import", "load a knowledge snapshot as proposed learnings; a malformed snapshot changes nothing"
    )
    imported.add_argument("file")
    imported.add_argument("--actor", help="who imports (default: the OS user; kept in each audit trail)")
