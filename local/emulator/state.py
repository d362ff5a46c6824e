"""Local state across runs: tables are saved to `.cataloop/tables/*.json` and restored at start.

Items are stored in DynamoDB's own JSON (the low-level client's AttributeValue shapes), so a restore is
a byte-faithful `BatchWriteItem`. Files are written to a temporary name and renamed, so a crash mid-save
never leaves a half-written table behind.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import boto3

REGION = "us-east-1"


class LocalState:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.tables_dir = self.directory / "tables"

    def save(self, tables: dict[str, str]) -> None:
        """Scan each table (logical id -> physical name) into its file."""
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        client = boto3.client("dynamodb", region_name=REGION)
        for logical, name in tables.items():
            items: list[dict[str, Any]] = []
            for page in client.get_paginator("scan").paginate(TableName=name):
                items.extend(page["Items"])
            target = self.tables_dir / f"{logical}.json"
            temporary = target.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(_encode(items), ensure_ascii=False), encoding="utf-8")
            os.replace(temporary, target)

    def restore(self, tables: dict[str, str]) -> bool:
        """Load saved items into the (new, empty) tables. Returns True when anything was restored."""
        client = boto3.client("dynamodb", region_name=REGION)
        restored = False
        for logical, name in tables.items():
            path = self.tables_dir / f"{logical}.json"
            if not path.is_file():
                continue
            items = _decode(json.loads(path.read_text(encoding="utf-8")))
            for start in range(0, len(items), 25):
                requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                pending: dict[str, Any] = {name: requests}
                while pending:
                    pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            restored = restored or bool(items)
        return restored

    def clear(self) -> None:
        if self.directory.exists():
            shutil.rmtree(self.directory)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value
