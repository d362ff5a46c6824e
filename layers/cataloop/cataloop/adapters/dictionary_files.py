"""The analyzer dictionaries as files: one reader and writer for the shipped base and approved versions.

Layout of a dictionary directory: `user_dictionary.txt`, `synonyms.txt`, `typos.txt` (the base) and
`versions/vNNNN/` (each approved version is a full copy of the files). The newest version is in force.
Lines are Solr/OpenSearch rules: `a, b` synonyms, `wrong => right` (or `w1, w2 => right`) typo mappings;
`#` starts a comment. Implements the `DictionaryStore` port.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from cataloop.errors import Conflict

VERSIONS_DIR = "versions"
_VERSION_NAME = re.compile(r"^v(\d{4,})$")
SHIPPED = Path(__file__).resolve().parents[1] / "config" / "dictionaries"


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


class DictionaryFiles:
    """Dictionaries under `directory` (default: the ones shipped in the package)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else SHIPPED

    def versions(self) -> list[Path]:
        """Approved version directories, oldest first."""
        root = self.directory / VERSIONS_DIR
        if not root.is_dir():
            return []
        found = [(int(m.group(1)), path) for path in root.iterdir() if (m := _VERSION_NAME.match(path.name))]
        return [path for _, path in sorted(found)]

    def current(self) -> Path:
        """The directory holding the dictionaries in force: the newest approved version, else the base."""
        versions = self.versions()
        return versions[-1] if versions else self.directory

    def version(self) -> str:
        versions = self.versions()
        return versions[-1].name if versions else "base"

    def raw_lines(self, name: str, base: Path | None = None) -> list[str]:
        """Every line of `<name>.txt` in `base` (default: the version in force), comments included."""
        path = (base or self.current()) / f"{name}.txt"
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []

    def lines(self, name: str) -> list[str]:
        return rule_lines(self.raw_lines(name))

    def typo_corrections(self) -> dict[str, str]:
        return typo_mappings(self.raw_lines("typos"))

    def search_time_rules(self) -> list[str]:
        """Synonyms plus typo corrections (`wrong => right` is a Solr mapping), applied at search time."""
        return self.lines("synonyms") + self.lines("typos")

    @staticmethod
    def next_number(versions: Sequence[Path]) -> int:
        """The number after the newest of `versions` (1 when there is none)."""
        match = _VERSION_NAME.match(versions[-1].name) if versions else None
        return int(match.group(1)) + 1 if match else 1

    def write_version(self, number: int, base: Path, files: Mapping[str, Sequence[str]]) -> Path:
        """Version `vNNNN` = `number`: a copy of `base`'s files with `files` ({name: lines}) replaced. Atomic:
        the version appears whole or not at all; Conflict when another writer took that number first."""
        root = self.directory / VERSIONS_DIR
        root.mkdir(parents=True, exist_ok=True)
        target = root / f"v{number:04d}"
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        try:
            for path in base.iterdir():
                if path.is_file() and path.suffix == ".txt":
                    shutil.copy2(path, staging / path.name)
            for name, lines in files.items():
                (staging / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
            try:
                # rename of a directory onto a missing name is atomic; onto an existing one it fails.
                os.rename(staging, target)
            except OSError as error:
                raise Conflict(
                    f"dictionary version {target.name} was written meanwhile; review and approve again"
                ) from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target
