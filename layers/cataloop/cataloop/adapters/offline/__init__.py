"""The offline model baseline: a deterministic, rule-based ModelClient (not an LLM); see docs/offline-baseline.md.

One module per role: `generators` (strategies A and B), `evaluator`, `supervisor`; `client` holds
`OfflineModelClient`, which dispatches by role; `common`, `lexicons` and `reference` are what the roles share
(the word lists are JSON files in `data/`).
"""

from cataloop.adapters.offline.client import OfflineModelClient

__all__ = ["OfflineModelClient"]
