"""The Powertools logger, tracer and metrics every handler uses, created once per process.

    from cataloop.observability import logger, metrics, tracer

- `tracer` patches only the libraries the functions call out through: botocore (every boto3 client) and
  requests (opensearch-py's RequestsHttpConnection, see adapters/opensearch_index.py). Powertools' default
  patches every library X-Ray supports, which costs cold-start time for nothing. Tracing is off where no
  X-Ray daemon listens: POWERTOOLS_TRACE_DISABLED (set by the local cloud) or outside Lambda.
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

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME") or "cataloop"
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Cataloop"
# X-Ray module names: botocore covers boto3; requests covers opensearch-py's HTTP connection.
TRACED_MODULES = ("botocore", "requests")


class _CurrentStdout:
    """`sys.stdout` as it is when a record is written (in Lambda, always the same stream)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(service=SERVICE_NAME, logger_handler=logging.StreamHandler(_CurrentStdout()))
tracer = Tracer(service=SERVICE_NAME, patch_modules=TRACED_MODULES)
metrics = Metrics(service=SERVICE_NAME, namespace=METRICS_NAMESPACE)
