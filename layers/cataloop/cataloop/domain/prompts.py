"""Every prompt a model receives, behind one loader: versioned templates in cataloop/prompts/<role>.<version>.txt.

The part of a template before the line '=== user ===' is the system prompt, the rest the user prompt. Slots
are `$name` (string.Template): a value put into a slot is never read again as a template, so `$` or braces in
product or learning text stay text. Text that comes from sellers or the knowledge base goes into a slot that
the template places inside a delimited data block (see `domain.enrichment.prompting.data_block`).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from cataloop.domain.model_calls import PromptText

USER_MARKER = "=== user ==="


@dataclass(frozen=True)
class PromptTemplate:
    """One template file: its role (the template id recorded with each call), version and two parts."""

    role: str
    version: str
    system: string.Template
    user: string.Template

    def render(self, slots: Mapping[str, str]) -> PromptText:
        """Fill every slot of both parts; KeyError names a slot the caller did not give."""
        return PromptText(
            template_id=self.role,
            template_version=self.version,
            system=self.system.substitute(slots),
            user=self.user.substitute(slots),
        )


@lru_cache(maxsize=32)
def load_template(role: str, version: str) -> PromptTemplate:
    """The template `<role>.<version>.txt` (read once per process); ValueError if the file or the marker
    line is missing."""
    path = resources.files("cataloop").joinpath(f"prompts/{role}.{version}.txt")
    if not path.is_file():
        raise ValueError(f"no prompt template {role}.{version}.txt in cataloop/prompts")
    system, marker, user = path.read_text(encoding="utf-8").partition(USER_MARKER)
    if not marker:
        raise ValueError(f"prompt template {role}.{version}.txt lacks the '{USER_MARKER}' line")
    return PromptTemplate(role, version, string.Template(system.strip()), string.Template(user.strip()))
