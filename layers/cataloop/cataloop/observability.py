"""The Powertools logger, tracer and metrics every handler uses, created once per process.

    from cataloop.observability import logger, metrics, tracer

- `tracer` patches only the libraries the functions call out through: botocore (every boto3 client) at import,
  and requests (opensearch-py's RequestsHttpConnection, see adapters/opensearch_index.py) when something
  first imports it, so a function that never searches does not import requests at cold start. Powertools'
  default patches every library X-Ray supports, which costs cold-start time for nothing. Tracing is off where
  no X-Ray daemon listens: POWERTOOLS_TRACE_DISABLED (set by the local cloud) or outside Lambda. Off, the
  tracer gets a provider that records nothing (`_NoTracing`, on Powertools' `BaseProvider`) instead of the
  X-Ray SDK's recorder, which outside Lambda builds a boto3 X-Ray client for sampling (1.1 of 12.6 py-spy
  sampled s of a local `cataloop events put`; 17.7 MiB of `cataloop serve`, bench/serve_memory.py --analyse).
- `logger` is named by POWERTOOLS_SERVICE_NAME (the template sets `cataloop`), so the layer's module loggers
  (`logging.getLogger(__name__)` under `cataloop.`) write through its JSON handler too.
- `metrics` writes EMF to stdout under POWERTOOLS_METRICS_NAMESPACE; an invocation with no metric to flush
  (one that raised first) does not warn about it.

The fallbacks below equal the template's Globals, so what this module builds does not depend on which
environment imported it first (a test, a script, or one function of the local cloud, which runs every
function in one process). For the same reason the log handler writes to the stdout of the moment rather than
the one it was created under: the local cloud points stdout at the running function's log.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

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


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class _NoTracing(BaseProvider):
    """The tracer's provider where tracing is off: segments that record nothing, no X-Ray SDK."""

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


logger = Logger(service=SERVICE_NAME, logger_handler=logging.StreamHandler(_CurrentStdout()))
# Powertools' own rule for "tracing is off" (the env var, outside Lambda, SAM local), read before building it.
_TRACING_OFF = bool(Tracer._is_tracer_disabled())
tracer = Tracer(
    service=SERVICE_NAME, patch_modules=PATCHED_AT_IMPORT, provider=_NoTracing() if _TRACING_OFF else None
)


def _patch_on_import(module: ModuleType) -> None:
    tracer.patch([module.__name__])


if not tracer.disabled:
    import wrapt  # aws_xray_sdk's own dependency, already imported by the tracer

    for _name in PATCHED_WHEN_IMPORTED:
        wrapt.register_post_import_hook(_patch_on_import, _name)  # runs at once if already imported
metrics = Metrics(service=SERVICE_NAME, namespace=METRICS_NAMESPACE)
# An invocation that raises before it adds a metric (a malformed event, a product not in the catalog) has
# nothing to flush; Powertools then warns "No application metrics to publish" on stderr, beside the error
# the function already logged and returned. Powertools' documented way to silence that warning:
warnings.filterwarnings("ignore", "No application metrics to publish*")
