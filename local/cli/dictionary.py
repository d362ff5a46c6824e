"""`cataloop dictionary suggest|approve`: dictionary upkeep from the search log.

suggest: zero- and low-result searches from the local search log -> typo and synonym proposals, checked
against the catalog vocabulary of the local index. approve: a reviewer passes the proposals they accept
(the suggest JSON, edited); they become a new versioned dictionary that both engines load.
"""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cataloop_local.cli.common import local_cloud, write_json


def cmd_suggest(args: argparse.Namespace) -> int:
    from cataloop import wiring
    from cataloop.adapters.search_log_files import SearchLogFiles
    from cataloop.settings import settings
    from cataloop_local.cli.dictionary_upkeep import suggest_dictionary

    with local_cloud(args.state_dir, save=False):
        config = settings()
        index: Any = wiring.search_index(config)
        records = list(SearchLogFiles(Path(config.data_dir) / "search-log").read())
        suggestions = suggest_dictionary(
            records,
            index.vocabulary(),
            known_typos=list(wiring.dictionaries(config).typo_corrections()),
        )
    payload = suggestions.model_dump(mode="json")
    print(f"{len(records)} logged searches examined")
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
    suggest.set_defaults(handler=cmd_suggest)
    approve = sub.add_parser(
        "approve", help="write the accepted proposals (suggest's JSON) as a new dictionary version"
    )
    approve.add_argument("file")
    approve.add_argument("--by", help="who approved (default: the OS user)")
    approve.add_argument("--json", metavar="PATH")
    approve.set_defaults(handler=cmd_approve)
