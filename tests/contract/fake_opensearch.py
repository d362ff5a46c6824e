"""A fake opensearch-py client for contract tests: it records every request (method, path, params, body)
and answers with responses shaped like OpenSearch 2.x's, applying the semantics the adapters rely on.

What it models, as OpenSearch does:
- indices, aliases (`_alias`, `_aliases` with atomic add/remove, `is_write_index`), `allow_no_indices`;
- `_bulk` with external versions: a version not greater than the stored one (or than a delete's tombstone)
  is a 409 `version_conflict_engine_exception` item; a delete of an absent document is a 404 `not_found`
  item that still records its version; the response carries `errors` and per-item `status`;
- `_search` for the bodies the adapters build: `bool` (`should` of `multi_match`, `filter`, `must_not`),
  top-level `knn`, and `hybrid` fused by the registered search pipeline (with the domain's fusion
  functions, which is what the pipeline body configures); `_source.excludes`, `from`/`size`, totals;
- single documents (`GET`/`PUT /<index>/_doc/<id>`, external versions with 409 conflicts), `HEAD /<index>`,
  `GET /_search/pipeline/<id>`, and `_analyze` with a named analyzer (the analyzers are functions the test
  passes, e.g. the `KoreanAnalyzer` that mirrors nori; any other name splits words and lowercases).

Lexical scoring is deliberately simple (count of query words found in a field, times boosts; `best_fields`
takes the best field, `should` clauses add up): enough to say which document matches best, not BM25.
Anything the fake does not understand raises `NotImplementedError`, so a test cannot pass by accident.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opensearchpy.exceptions import ConflictError, NotFoundError, RequestError

from cataloop.domain.search.plan import combine_sub_queries, rank_by_score

_WORD = re.compile(r"\w+")
# Fields the adapters map with the edge_ngram prefix analyzer: a query word matches a stored word it starts.
_PREFIX_FIELDS = frozenset({"name_chosung", "name_qwerty"})


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [word for item in value for word in _words(item)]
    return [word.lower() for word in _WORD.findall(str(value))]


@dataclass
class _Index:
    body: dict[str, Any]
    docs: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)


class _Indices:
    def __init__(self, cluster: FakeOpenSearch) -> None:
        self._cluster = cluster

    def get(self, index: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self._cluster.record("GET", f"/{index}", params=params)
        pattern = re.compile("^" + ".*".join(re.escape(part) for part in index.split("*")) + "$")
        found = {
            name: self._cluster.describe(name) for name in self._cluster.indices_state if pattern.match(name)
        }
        if not found and "*" not in index and not (params or {}).get("allow_no_indices"):
            raise NotFoundError(404, "index_not_found_exception", {"error": {"index": index}})
        return found

    def create(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._cluster.record("PUT", f"/{index}", body=body)
        if index in self._cluster.indices_state or index in self._cluster.aliases:
            raise RequestError(
                400,
                "resource_already_exists_exception",
                {"error": {"type": "resource_already_exists_exception", "index": index}},
            )
        self._cluster.indices_state[index] = _Index(body=copy.deepcopy(dict(body)))
        return {"acknowledged": True, "shards_acknowledged": True, "index": index}

    def exists(self, index: str) -> bool:
        self._cluster.record("HEAD", f"/{index}")
        return bool(self._cluster.resolve(index, write=False))

    def analyze(self, body: Mapping[str, Any], index: str | None = None) -> dict[str, Any]:
        self._cluster.record("POST", f"/{index}/_analyze" if index else "/_analyze", body=body)
        if index is not None and not self._cluster.resolve(index, write=False):
            raise NotFoundError(404, "index_not_found_exception", {"error": {"index": index}})
        texts = body["text"] if isinstance(body["text"], list) else [body["text"]]
        analyzer = self._cluster.analyzers.get(body["analyzer"], _words)
        tokens = [
            {"token": token, "position": position, "type": "word"}
            for position, token in enumerate(term for text in texts for term in analyzer(text))
        ]
        return {"tokens": tokens}

    def get_alias(self, name: str) -> dict[str, Any]:
        self._cluster.record("GET", f"/_alias/{name}")
        targets = self._cluster.aliases.get(name)
        if not targets:
            raise NotFoundError(
                404, f"alias [{name}] missing", {"error": f"alias [{name}] missing", "status": 404}
            )
        return {index: {"aliases": {name: {"is_write_index": write}}} for index, write in targets.items()}

    def update_aliases(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._cluster.record("POST", "/_aliases", body=body)
        staged = copy.deepcopy(self._cluster.aliases)
        for action in body["actions"]:
            ((kind, spec),) = action.items()
            if spec["index"] not in self._cluster.indices_state:
                raise NotFoundError(
                    404, "index_not_found_exception", {"error": {"type": "index_not_found_exception"}}
                )
            targets = staged.setdefault(spec["alias"], {})
            if kind == "add":
                targets[spec["index"]] = bool(spec.get("is_write_index", False))
            elif kind == "remove":
                targets.pop(spec["index"], None)
            else:
                raise NotImplementedError(f"alias action {kind}")
        self._cluster.aliases = {alias: targets for alias, targets in staged.items() if targets}
        return {"acknowledged": True}


class _SearchPipelines:
    def __init__(self, cluster: FakeOpenSearch) -> None:
        self._cluster = cluster

    def put(self, id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._cluster.record("PUT", f"/_search/pipeline/{id}", body=body)
        self._cluster.pipelines[id] = copy.deepcopy(dict(body))
        return {"acknowledged": True}

    def get(self, id: str) -> dict[str, Any]:
        self._cluster.record("GET", f"/_search/pipeline/{id}")
        if id not in self._cluster.pipelines:
            raise NotFoundError(404, "resource_not_found_exception", {"error": f"pipeline [{id}] missing"})
        return {id: copy.deepcopy(self._cluster.pipelines[id])}


class FakeOpenSearch:
    """The subset of `opensearchpy.OpenSearch` the adapters call, over in-memory indices."""

    def __init__(self, analyzers: Mapping[str, Callable[[str], list[str]]] | None = None) -> None:
        self.analyzers: dict[str, Callable[[str], list[str]]] = dict(analyzers or {})
        self.requests: list[dict[str, Any]] = []
        self.indices_state: dict[str, _Index] = {}
        self.aliases: dict[str, dict[str, bool]] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.indices = _Indices(self)
        self.search_pipeline = _SearchPipelines(self)
        # Injected item failures for the next bulk calls: document id -> (status, error type, reason).
        self.fail_items: dict[str, tuple[int, str, str]] = {}

    # -- bookkeeping

    def record(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> None:
        request: dict[str, Any] = {"method": method, "path": path}
        if params:
            request["params"] = dict(params)
        if body is not None:
            request["body"] = copy.deepcopy(body)
        self.requests.append(request)

    def describe(self, name: str) -> dict[str, Any]:
        aliases = {alias: {} for alias, targets in self.aliases.items() if name in targets}
        return {"aliases": aliases, **copy.deepcopy(self.indices_state[name].body)}

    def resolve(self, target: str, *, write: bool) -> list[str]:
        if target in self.indices_state:
            return [target]
        targets = self.aliases.get(target, {})
        if write:
            writers = [name for name, is_writer in targets.items() if is_writer]
            if not writers and len(targets) == 1:
                writers = list(targets)
            return writers[:1]
        return sorted(targets)

    # -- bulk

    def bulk(
        self, body: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        self.record("POST", "/_bulk", params=params, body=list(body))
        items: list[dict[str, Any]] = []
        lines = list(body)
        position = 0
        while position < len(lines):
            ((action, meta),) = lines[position].items()
            position += 1
            source = None
            if action in ("index", "create", "update"):
                source = lines[position]
                position += 1
            items.append({action: self._bulk_item(action, dict(meta), source)})
        return {
            "took": 3,
            "errors": any("error" in next(iter(item.values())) for item in items),
            "items": items,
        }

    def _bulk_item(self, action: str, meta: dict[str, Any], source: Any) -> dict[str, Any]:
        doc_id = str(meta["_id"])
        if meta.get("version_type") != "external":
            raise NotImplementedError("the adapters always write with version_type=external")
        version = int(meta["version"])
        names = self.resolve(meta["_index"], write=True)
        if not names:
            return {
                "_index": meta["_index"],
                "_id": doc_id,
                "status": 404,
                "error": {
                    "type": "index_not_found_exception",
                    "reason": f"no such index [{meta['_index']}]",
                    "index": meta["_index"],
                },
            }
        name = names[0]
        if doc_id in self.fail_items:
            status, kind, reason = self.fail_items.pop(doc_id)
            return {
                "_index": name,
                "_id": doc_id,
                "status": status,
                "error": {"type": kind, "reason": reason},
            }
        index = self.indices_state[name]
        stored = index.docs.get(doc_id)
        current = max(stored[0] if stored else 0, index.tombstones.get(doc_id, 0))
        if version <= current:
            return {
                "_index": name,
                "_id": doc_id,
                "status": 409,
                "error": {
                    "type": "version_conflict_engine_exception",
                    "reason": f"[{doc_id}]: version conflict, current version [{current}] is higher or equal "
                    f"to the one provided [{version}]",
                    "index": name,
                    "shard": "0",
                },
            }
        shards = {"total": 2, "successful": 1, "failed": 0}
        if action == "delete":
            index.tombstones[doc_id] = version
            if stored is None:
                return {"_index": name, "_id": doc_id, "_version": version, "result": "not_found",
                        "_shards": shards, "status": 404}  # fmt: skip
            del index.docs[doc_id]
            return {"_index": name, "_id": doc_id, "_version": version, "result": "deleted",
                    "_shards": shards, "status": 200}  # fmt: skip
        if action != "index":
            raise NotImplementedError(f"bulk action {action}")
        index.docs[doc_id] = (version, copy.deepcopy(dict(source)))
        index.tombstones.pop(doc_id, None)
        created = stored is None
        return {"_index": name, "_id": doc_id, "_version": version, "result": "created" if created else "updated",
                "_shards": shards, "status": 201 if created else 200}  # fmt: skip

    # -- single documents

    def get(self, index: str, id: str) -> dict[str, Any]:
        self.record("GET", f"/{index}/_doc/{id}")
        names = self.resolve(index, write=False)
        if not names:
            raise NotFoundError(404, "index_not_found_exception", {"error": {"index": index}})
        stored = self.indices_state[names[0]].docs.get(id)
        if stored is None:
            raise NotFoundError(404, "not_found", {"_index": names[0], "_id": id, "found": False})
        version, source = stored
        return {
            "_index": names[0],
            "_id": id,
            "_version": version,
            "found": True,
            "_source": copy.deepcopy(source),
        }

    def index(
        self, index: str, body: Mapping[str, Any], id: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        self.record("PUT", f"/{index}/_doc/{id}", params=params, body=body)
        if params is None or params.get("version_type") != "external":
            raise NotImplementedError("the adapters write single documents with version_type=external")
        item = self._bulk_item("index", {"_index": index, "_id": id, "version": params["version"],
                                         "version_type": "external"}, body)  # fmt: skip
        if item["status"] == 409:
            raise ConflictError(409, "version_conflict_engine_exception", {"error": item["error"]})
        if item["status"] >= 300:
            raise NotFoundError(item["status"], item["error"]["type"], {"error": item["error"]})
        return item

    # -- search

    def search(
        self, index: str, body: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        self.record("POST", f"/{index}/_search", params=params, body=body)
        names = self.resolve(index, write=False)
        if not names:
            raise NotFoundError(404, "index_not_found_exception", {"error": {"index": index}})
        docs = {
            doc_id: (name, source)
            for name in names
            for doc_id, (_, source) in self.indices_state[name].docs.items()
        }
        sources = {doc_id: source for doc_id, (_, source) in docs.items()}
        query = body["query"]
        if "hybrid" in query:
            pipeline = self.pipelines.get((params or {}).get("search_pipeline", ""))
            if pipeline is None:
                raise RequestError(400, "illegal_argument_exception", "hybrid query needs a search pipeline")
            scores = self._hybrid(query["hybrid"], pipeline, sources)
        else:
            scores = self._query(query, sources)
        if body.get("sort"):
            raise NotImplementedError("sorted searches")
        ordered = rank_by_score(scores)
        start, size = int(body.get("from", 0)), int(body.get("size", 10))
        excludes = set(body.get("_source", {}).get("excludes", []))
        hits = [
            {
                "_index": docs[doc_id][0],
                "_id": doc_id,
                "_score": scores[doc_id],
                "_source": {key: value for key, value in sources[doc_id].items() if key not in excludes},
            }
            for doc_id in ordered[start : start + size]
        ]
        return {
            "took": 5,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(ordered), "relation": "eq"},
                "max_score": scores[ordered[0]] if ordered else None,
                "hits": hits,
            },
        }

    def _hybrid(
        self, hybrid: Mapping[str, Any], pipeline: Mapping[str, Any], sources: dict[str, dict[str, Any]]
    ) -> dict[str, float]:
        ((processor, spec),) = pipeline["phase_results_processors"][0].items()
        sub_scores = [self._query(query, sources) for query in hybrid["queries"]]
        if processor == "score-ranker-processor":
            combination = spec["combination"]
            return combine_sub_queries(
                sub_scores,
                normalization="min_max",
                combination="rrf",
                weights=combination["parameters"]["weights"],
                rank_constant=combination["rank_constant"],
            )
        return combine_sub_queries(
            sub_scores,
            normalization=spec["normalization"]["technique"],
            combination="arithmetic_mean",
            weights=spec["combination"]["parameters"]["weights"],
        )

    def _query(self, query: Mapping[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, float]:
        ((kind, spec),) = query.items()
        if kind == "bool":
            return self._bool(spec, sources)
        if kind == "knn":
            return self._knn(spec, sources)
        raise NotImplementedError(f"query {kind}")

    def _bool(self, spec: Mapping[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, float]:
        scores: dict[str, float] = {}
        for doc_id, source in sources.items():
            if not all(_matches(clause, doc_id, source) for clause in spec.get("filter", [])):
                continue
            if any(_matches(clause, doc_id, source) for clause in spec.get("must_not", [])):
                continue
            should = [_multi_match(clause, source) for clause in spec.get("should", [])]
            matched = sum(1 for score in should if score > 0)
            if matched < int(spec.get("minimum_should_match", 0 if not should else 1)):
                continue
            scores[doc_id] = float(sum(should))
        return scores

    def _knn(self, spec: Mapping[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, float]:
        ((field_name, knn),) = spec.items()
        query = [float(value) for value in knn["vector"]]
        allowed = knn.get("filter", {}).get("bool", {})
        scores: dict[str, float] = {}
        for doc_id, source in sources.items():
            vector = source.get(field_name)
            if vector is None:
                continue
            if not all(_matches(clause, doc_id, source) for clause in allowed.get("filter", [])):
                continue
            if any(_matches(clause, doc_id, source) for clause in allowed.get("must_not", [])):
                continue
            scores[doc_id] = (1.0 + _cosine(query, vector)) / 2.0  # the cosinesimil score
        top = rank_by_score(scores)[: int(knn["k"])]
        return {doc_id: scores[doc_id] for doc_id in top}


def _cosine(left: Sequence[float], right: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in left)) * math.sqrt(sum(y * y for y in right))
    return sum(x * y for x, y in zip(left, right, strict=True)) / norm if norm else 0.0


def _field_value(source: Mapping[str, Any], path: str) -> Any:
    if path == "attributes_text":  # copy_to target of every attr_* field
        return [value for key, value in source.items() if key.startswith("attr_")]
    if path == "category_path.text":
        return source.get("category_path")
    return source.get(path.split(".", 1)[0])  # name.en, brand.raw, ...: multi-fields of one value


def _multi_match(clause: Mapping[str, Any], source: Mapping[str, Any]) -> float:
    spec = clause.get("multi_match")
    if spec is None:
        raise NotImplementedError(f"should clause {sorted(clause)}")
    if spec.get("type", "best_fields") != "best_fields":
        raise NotImplementedError(f"multi_match type {spec['type']}")
    wanted = _words(spec["query"])
    best = 0.0
    for item in spec["fields"]:
        path, _, boost = item.partition("^")
        stored = _words(_field_value(source, path))
        if path in _PREFIX_FIELDS:
            found = [any(word.startswith(query_word) for word in stored) for query_word in wanted]
        else:
            found = [query_word in stored for query_word in wanted]
        if spec.get("operator", "or") == "and" and not all(found):
            continue
        best = max(best, sum(found) * float(boost or 1.0))
    return best * float(spec.get("boost", 1.0))


def _matches(clause: Mapping[str, Any], doc_id: str, source: Mapping[str, Any]) -> bool:
    ((kind, spec),) = clause.items()
    if kind == "ids":
        return doc_id in spec["values"]
    if kind == "exists":
        return source.get(spec["field"]) not in (None, [])
    ((field_name, expected),) = spec.items()
    value = _field_value(source, field_name)
    values = value if isinstance(value, list) else [value]
    if kind == "term":
        return expected in values
    if kind == "terms":
        return bool(set(map(str, expected)) & set(map(str, values)))
    if kind == "range":
        if value is None:
            return False
        bounds = {"gte": lambda x, b: x >= b, "lte": lambda x, b: x <= b, "gt": lambda x, b: x > b,
                  "lt": lambda x, b: x < b}  # fmt: skip
        return all(bounds[op](float(value), float(bound)) for op, bound in expected.items())
    raise NotImplementedError(f"filter {kind}")
