"""The query classifier's few-shot examples, read from an S3 object and cached with a TTL.

The object has the format of the shipped `config/query_examples.json` (a `QueryVocabulary`), so operators edit
the examples without a deploy. Each read is validated with pydantic; a missing, unreadable or malformed object
keeps the last good version (the shipped one until an object was read) and logs why. After a failed read the
next attempt waits a full `max_age_seconds` too, so a broken object never costs an S3 call per search.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cataloop.adapters.refresh import RefreshClock
from cataloop.domain.search.classification import QueryVocabulary, parse_query_vocabulary
from cataloop.errors import InvalidInput

logger = logging.getLogger(__name__)

# An examples object larger than this is refused (a few hundred examples fit in a few tens of KB).
MAX_OBJECT_BYTES = 1_000_000


class ClassifierExamplesS3:
    """`vocabulary()` returns the examples object's `QueryVocabulary`, re-read at most every `max_age_seconds`."""

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        client: Any,
        fallback: QueryVocabulary,
        max_age_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self._client = client
        self._current = fallback
        self._refresh_clock = RefreshClock(max_age_seconds, clock)
        self._etag: str | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def vocabulary(self) -> QueryVocabulary:
        with self._lock:
            if self._refresh_clock.due():
                self._refresh()
            return self._current

    def _refresh(self) -> None:
        where = f"s3://{self.bucket}/{self.key}"
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key)
            etag = response.get("ETag")
            if etag is not None and etag == self._etag:
                response["Body"].close()
                return
            if int(response.get("ContentLength") or 0) > MAX_OBJECT_BYTES:
                raise InvalidInput(f"the object is larger than {MAX_OBJECT_BYTES} bytes")
            data = json.loads(response["Body"].read().decode("utf-8"))
            if not isinstance(data, dict):
                raise InvalidInput("the object is not a JSON object")
            vocabulary = parse_query_vocabulary(data)
            if not vocabulary.examples:
                raise InvalidInput("the object has no examples")
        except (ClientError, BotoCoreError, OSError) as error:
            self._keep(where, f"cannot read it ({error})")
            return
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self._keep(where, f"it is not UTF-8 JSON ({error})")
            return
        except InvalidInput as error:
            self._keep(where, str(error))
            return
        self._current = vocabulary
        self._etag = etag
        self.last_error = None
        logger.info("classifier examples loaded from %s (%d examples)", where, len(vocabulary.examples))

    def _keep(self, where: str, why: str) -> None:
        self.last_error = why
        logger.warning(
            "classifier examples %s not used, keeping the last good version (%d examples): %s",
            where,
            len(self._current.examples),
            why,
        )
