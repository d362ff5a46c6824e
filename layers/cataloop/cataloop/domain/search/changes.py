"""Domain change events the search indexes consume: a product or a learning was written or deleted.

An adapter (`adapters/dynamodb_streams.py`) turns the stores' change feeds into these; the indexing service
(`services/indexing.py`) turns them into index writes. Neither the events nor the service know how a store
keys or encodes its items.

`version` is the external version the change carries into an index: the written item's version, or for a
deletion the deleted item's version + 1, so the deletion supersedes every write of that item (an index
applies a change only when its version is newer than what it holds). `sequence_number` identifies the
change in its feed, for partial-failure reports.

A change the adapter could not read (a poison record) carries `problem` and nothing else: the service
reports it as failed, so it is retried and then kept by the on-failure destination rather than lost.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.knowledge.tree import Learning


def _one_state(subject: object | None, deleted: bool, problem: str | None, version: int, kind: str) -> None:
    states = [subject is not None, deleted, problem is not None]
    if sum(states) != 1:
        raise ValueError(f"a {kind} change is exactly one of: written ({kind} given), deleted, or unreadable")
    if problem is None and version < 1:
        raise ValueError(f"a readable {kind} change needs a version of at least 1")


class ProductChanged(BaseModel):
    """A product was written (`product` is the stored version), deleted, or could not be read (`problem`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: str
    version: int = Field(ge=0)
    product: StoredProduct | None = None
    deleted: bool = False
    sequence_number: str
    problem: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _one_state(self.product, self.deleted, self.problem, self.version, "product")
        if self.product is not None and (self.product.product_id, self.product.version) != (
            self.product_id,
            self.version,
        ):
            raise ValueError("product_id and version must be the stored product's")
        return self


class LearningChanged(BaseModel):
    """A learning was written (`learning` is the stored version, any status), deleted, or could not be
    read (`problem`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learning_id: str
    version: int = Field(ge=0)
    learning: Learning | None = None
    deleted: bool = False
    sequence_number: str
    problem: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _one_state(self.learning, self.deleted, self.problem, self.version, "learning")
        if self.learning is not None and (self.learning.id, self.learning.version) != (
            self.learning_id,
            self.version,
        ):
            raise ValueError("learning_id and version must be the stored learning's")
        return self
