"""Bootstrap a search domain: create what the functions expect before they first use it (the product and
learnings indices with their aliases, the vocabulary index, the hybrid search pipeline).

Idempotent: a resource that exists is reported and left alone. A dry run sends only read requests and
reports the write requests it would send. The resources come from the adapters
(`adapters/opensearch_bootstrap.py`); this module only orders, checks and reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

BootstrapStatus = Literal["created", "exists", "would create"]


class BootstrapResource(Protocol):
    """One thing bootstrap makes: it can tell whether it exists, which requests create it, and create it."""

    @property
    def name(self) -> str: ...

    def exists(self) -> bool: ...

    def requests(self) -> list[dict[str, Any]]: ...

    def create(self) -> None: ...


class BootstrapStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    resource: str
    status: BootstrapStatus
    requests: list[dict[str, Any]]  # the write requests sent (or, in a dry run, that would be sent)


def bootstrap(resources: Sequence[BootstrapResource], *, dry_run: bool = False) -> list[BootstrapStep]:
    """Create each missing resource in order; with `dry_run` only check and describe."""
    steps: list[BootstrapStep] = []
    for resource in resources:
        if resource.exists():
            steps.append(BootstrapStep(resource=resource.name, status="exists", requests=[]))
            continue
        requests = resource.requests()
        if not dry_run:
            resource.create()
        steps.append(
            BootstrapStep(
                resource=resource.name, status="would create" if dry_run else "created", requests=requests
            )
        )
    return steps
