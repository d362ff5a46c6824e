"""Guardrail verdicts on text entering or leaving a model (shopper queries, generated comments).

Both the Bedrock ApplyGuardrail adapter and the offline guardrail return the same verdict, so the search
service can act on it without knowing which one ran.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GuardrailSource = Literal["INPUT", "OUTPUT"]
"""INPUT: text a user sent (a query). OUTPUT: text a model produced (a comment)."""

GuardrailAction = Literal["none", "masked", "blocked"]
"""none: passed untouched. masked: allowed, personal data replaced in `masked_text`. blocked: refused."""


class GuardrailVerdict(BaseModel):
    """What a guardrail decided about one text, and why (`reasons` are short, human-readable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed: bool
    action: GuardrailAction
    reasons: list[str] = Field(default_factory=list)
    masked_text: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GuardrailVerdict:
        if self.allowed != (self.action != "blocked"):
            raise ValueError(f"allowed={self.allowed} contradicts action '{self.action}'")
        if (self.action == "masked") != (self.masked_text is not None):
            raise ValueError("masked_text is required for action 'masked' and only for it")
        if self.action != "none" and not self.reasons:
            raise ValueError(f"action '{self.action}' needs at least one reason")
        return self

    @classmethod
    def passed(cls) -> GuardrailVerdict:
        """A verdict for text the guardrail let through unchanged."""
        return cls(allowed=True, action="none")

    def text_to_use(self, original: str) -> str | None:
        """The text to pass on: the masked text, the original, or None when blocked."""
        if self.action == "blocked":
            return None
        return self.masked_text if self.masked_text is not None else original


# A masked span as the guardrails write it: "{PHONE}", "{EMAIL}", "{NAME}" (Bedrock's and the offline one's).
_MASK = re.compile(r"\{[A-Z][A-Z_]*\}")


def without_masks(text: str) -> str:
    """The text with its masked spans taken out ("{PHONE} 유산균" -> "유산균"): a placeholder is no word a
    product has. The text itself when nothing else is left."""
    remaining = " ".join(_MASK.sub(" ", text).split())
    return remaining or text
