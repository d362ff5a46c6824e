"""The Powertools logger, tracer and metrics every handler uses, created once per process.

    from cataloop.observability import logger, metrics, tracer

- `tracer` patches only the libraries the functions call out through: botocore (every boto3 client) at import,
  and requests (opensearch-py's RequestsHttpConnection, see adapters/opensearch_index.py) when something
  first imports it, so a function that never searches does not import requests at cold start. Powertools'
  default patches every library X-Ray supports, which costs cold-start time for nothing. Tracing is off where
  no X-Ray daemon listens: POWERTOOLS_TRACE_DISABLED (set by the local cloud) or outside Lambda.
- `logger` is named by POWERTOOLS_SERVICE_NAME (the template sets `cataloop`), so the layer's module loggers
  (`logging.getLogger(__name__)` under `cataloop.`) write through its JSON handler too.
- `metrics` writes EMF to stdout under POWERTOOLS_METRICS_NAMESPACE.

The fallbacks below equal the template's Globals, so what this module builds does not depend on which
environment imported it first (a test, a script, or one function of the local cloud, which runs every
function in one process). For the same reason the log handler writes to the stdout of the moment rather than
the one it was created under: the local cloud points stdout at the running function's log.
"""

from __future__ import annotations

import logging
import os
import sys
from types import ModuleType

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME") or "cataloop"
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Cataloop"
# X-Ray module names: botocore covers boto3 (patched at import, every function uses it); requests covers
# opensearch-py's HTTP connection (patched when first imported: only the functions that search import it).
PATCHED_AT_IMPORT = ("botocore",)
PATCHED_WHEN_IMPORTED = ("requests",)
TRACED_MODULES = PATCHED_AT_IMPORT + PATCHED_WHEN_IMPORTED


class _CurrentStdout:
    """`sys.stdout` as it is when a record is written (in Lambda, always the same stream)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(service=SERVICE_NAME, logger_handler=logging.StreamHandler(_CurrentStdout()))
tracer = Tracer(service=SERVICE_NAME, patch_modules=PATCHED_AT_IMPORT)


def _patch_on_import(module: ModuleType) -> None:
    tracer.patch([module.__name__])


if not tracer.disabled:
    import wrapt  # aws_xray_sdk's own dependency, already imported by the tracer

    for _name in PATCHED_WHEN_IMPORTED:
        wrapt.register_post_import_hook(_patch_on_import, _name)  # runs at once if already imported
metrics = Metrics(service=SERVICE_NAME, namespace=METRICS_NAMESPACE)
