"""The analyzer dictionaries as files: the ones shipped in the package (version 0, "base").

A dictionary directory holds `user_dictionary.txt`, `synonyms.txt`, `typos.txt` (and any other `*.txt` rule
file, e.g. stop tags). Lines are Solr/OpenSearch rules: `a, b` synonyms, `wrong => right` (or
`w1, w2 => right`) typo mappings; `#` starts a comment. Read only: approved versions are objects in the stack's
bucket (`DictionaryS3`), never files in the source tree, and these files are their fallback. Implements the
`DictionaryStore` port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "dictionaries"
BASE_VERSION = "base"


def rule_lines(lines: Sequence[str]) -> list[str]:
    """The lines that are rules: stripped, blank lines and comments dropped."""
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def typo_mappings(lines: Sequence[str]) -> dict[str, str]:
    """`wrong => right` rules as {wrong: right}; `w1, w2 => right` maps each source. The one parser of typo
    lines (search-time corrections and the upkeep's 'already known' check both use it)."""
    mappings: dict[str, str] = {}
    for line in rule_lines(lines):
        if "=>" not in line:
            continue
        sources, target = line.split("=>", 1)
        for source in sources.split(","):
            if source.strip() and target.strip():
                mappings[source.strip()] = target.strip()
    return mappings


class DictionaryRules:
    """The rule queries shared by every dictionary store: subclasses give `raw_lines(name)`."""

    def raw_lines(self, name: str) -> list[str]:
        raise NotImplementedError

    def lines(self, name: str) -> list[str]:
        return rule_lines(self.raw_lines(name))

    def typo_corrections(self) -> dict[str, str]:
        return typo_mappings(self.raw_lines("typos"))

    def search_time_rules(self) -> list[str]:
        """Synonyms plus typo corrections (`wrong => right` is a Solr mapping), applied at search time."""
        return self.lines("synonyms") + self.lines("typos")


def read_directory(directory: Path) -> dict[str, list[str]]:
    """{name: every line} of the `*.txt` files in `directory` (name without `.txt`), comments included."""
    if not directory.is_dir():
        return {}
    return {
        path.stem: path.read_text(encoding="utf-8").splitlines()
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix == ".txt"
    }


class DictionaryFiles(DictionaryRules):
    """Dictionaries under `directory` (default: the ones shipped in the package)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else SHIPPED

    def version(self) -> str:
        return BASE_VERSION

    def files(self) -> Mapping[str, list[str]]:
        """{name: every line} of every dictionary file."""
        return read_directory(self.directory)

    def raw_lines(self, name: str) -> list[str]:
        """Every line of `<name>.txt`, comments included (empty when there is no such file)."""
        path = self.directory / f"{name}.txt"
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
