"""`cataloop kb ...`: audit and edit the knowledge base of the local cloud (same services as the API)."""

from __future__ import annotations

import argparse
import getpass
import json
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
        nodes = kb.knowledge_tree(store)
        for node in sorted(nodes, key=lambda n: n.path):
            depth = len(node.path)
            label = printable(" > ".join(node.path) or "(root)")
            print(f"{'  ' * depth}{label}  [{node.learning_count} learnings]")
        return [node.model_dump(mode="json") for node in nodes]
    if action == "show":
        detail = kb.show_learning(store, args.learning_id)
        learning = detail.learning
        print(
            f"{printable(learning.id)} v{learning.version}  {learning.status}  votes={learning.votes}  "
            f"helpful={learning.helpful}  harmful={learning.harmful}  support={learning.support_count}"
        )
        print(
            f"  scope: {printable(' > '.join(learning.scope_path) or '(root)')}   kind: {learning.kind}   source: {printable(learning.source_channel)}"
        )
        print(f"  text: {printable(learning.text)}")
        for entry in learning.audit[-10:]:
            print(
                f"  audit: {entry.at} {printable(entry.actor)} {printable(entry.action)}: {printable(entry.reason)}"
            )
        print(f"  influenced {len(detail.influenced)} product versions")
        for item in detail.influenced[:20]:
            dumped = item.model_dump(mode="json") if hasattr(item, "model_dump") else item
            print(f"    {printable(json.dumps(dumped, ensure_ascii=False, default=str))}")
        return detail.model_dump(mode="json")
    if action in ("approve", "retire"):
        operation = kb.approve if action == "approve" else kb.retire
        learning = operation(store, args.learning_id, _actor(args), args.reason)
        print(f"{printable(learning.id)} is now {learning.status} (v{learning.version})")
        return learning.model_dump(mode="json")
    if action == "edit":
        learning = kb.edit(store, args.learning_id, args.text, _actor(args), args.reason)
        print(
            f"{printable(args.learning_id)} replaced by {printable(learning.id)} v{learning.version}: "
            f"{printable(learning.text)}"
        )
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

    add("tree", "print the category tree with learning counts")
    add("show", "a learning with its provenance, audit trail and influenced products").add_argument(
        "learning_id"
    )
    for name in ("approve", "retire"):
        parser = add(name, f"{name} a learning (recorded in its audit trail)")
        parser.add_argument("learning_id")
        parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        parser.add_argument("--actor", help="who (default: the OS user)")
    edit = add("edit", "replace a learning's text with a new version (the old one is kept, invalidated)")
    edit.add_argument("learning_id")
    edit.add_argument("--text", required=True)
    edit.add_argument("--reason", required=True)
    edit.add_argument("--actor")
    add("export", "write a knowledge snapshot (JSON)").add_argument("file")
    imported = add(
        "import", "load a knowledge snapshot as proposed learnings; a malformed snapshot changes nothing"
    )
    imported.add_argument("file")
    imported.add_argument("--actor", help="who imports (default: the OS user; kept in each audit trail)")
