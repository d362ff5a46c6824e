"""A fake opensearch-py client for contract tests: it records every request (method, path, params, body)
and answers with responses shaped like OpenSearch 2.x's, applying the semantics the adapters rely on.

What it models, as OpenSearch does:
- indices, aliases (`_alias`, `_aliases` with atomic add/remove, `is_write_index`), `allow_no_indices`;
- `_bulk` with external versions: a version not greater than the stored one (or than a delete's tombstone)
  is a 409 `version_conflict_engine_exception` item; a delete of an absent document is a 404 `not_found`
  item that still records its version; the response carries `errors` and per-item `status`;
- `_search` for the bodies the adapters build: `bool` (`should` of `multi_match`, `filter` (also of a
  `bool`), `must_not`),
  top-level `knn` (top `k`, or radial with `min_score`), and `hybrid` fused by the registered search
  pipeline (with the domain's fusion functions, which is what the pipeline body configures), each
  sub-query cut to `pagination_depth` first; field sorts (`order`, `missing`, `unmapped_type`) then
  `_score`; `_source.excludes` or `_source: false`, `from`/`size`, totals;
- single documents (`GET`/`PUT /<index>/_doc/<id>`, external versions with 409 conflicts), `HEAD /<index>`,
  `GET /_search/pipeline/<id>`, and `_analyze` with a named analyzer (the analyzers are functions the test
  passes, e.g. the `KoreanAnalyzer` that mirrors nori; any other name splits words and lowercases; an
  analyzer function returns terms, or (term, position) pairs when it knows of the gaps stopped words
  leave). An analyzer the index settings define as another one's chain plus a two-term `shingle` filter
  (the `.joined` compound analyzers) runs that analyzer and adds the pairs, typed "shingle" as OpenSearch
  types them, with the `filler_token` ("_" by default) where a position is empty, as Lucene does; with
  `output_unigrams: false` only the pairs (or, with `output_unigrams_if_no_shingles`, the one word).
- `dis_max` (the best sub-query score, plus `tie_breaker` times the others) and `script_score` with the
  k-NN plugin's Painless `cosineSimilarity` scripts the adapters send (cosine of the stored vectors).

`.joined` sub-fields hold a value's words plus each pair of neighbours joined, per value of an array (the
fake's word split knows of no stopped words, so no filler pairs); they are searched with the query's pairs
only, or its one word (the search analyzer's shingle filter without unigrams), each pair a term combined by
the operator, as the embedded engine does. `name_key` is a keyword field: a match on it is one exact term.
Other fields are matched by words, as above.

Lexical scoring is deliberately simple (count of query words found in a field, times boosts; `best_fields`
takes the best field, `should` clauses add up): enough to say which document matches best, not BM25.
Anything the fake does not understand raises `NotImplementedError`, so a test cannot pass by accident.
"""

from __future__ import annotations

import copy
import itertools
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
# Keyword fields a multi_match may name: matched as one exact term.
_KEYWORD_FIELDS = frozenset({"name_key"})
# An `_analyze` analyzer: terms, or (term, position) pairs (a stopped word leaves a position empty).
Analyzer = Callable[[str], Sequence[str | tuple[str, int]]]
# The k-NN plugin's Painless scripts the adapters send, as functions of the cosine: the k-NN score of the
# Lucene engine ((1 + cos) / 2) and of Faiss (1 / (2 - cos)).
_COSINE = "cosineSimilarity(params.query_value, doc[params.field])"
_SIMILARITY_SCRIPTS: dict[str, Callable[[float], float]] = {
    f"(1.0 + {_COSINE}) / 2.0": lambda cosine: (1.0 + cosine) / 2.0,
    f"1.0 / (2.0 - {_COSINE})": lambda cosine: 1.0 / (2.0 - cosine),
}


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [word for item in value for word in _words(item)]
    return [word.lower() for word in _WORD.findall(str(value))]


def _pairs(terms: Sequence[str], separator: str = "") -> list[str]:
    """What a shingle filter (two terms) makes of terms without gaps: each pair of neighbours joined."""
    return [left + separator + right for left, right in itertools.pairwise(terms)]


def _positioned(terms: Sequence[str | tuple[str, int]]) -> dict[int, str]:
    """An analyzer's output as position -> term: (term, position) pairs as given, bare terms in a row."""
    return {
        term[1] if isinstance(term, tuple) else position: term[0] if isinstance(term, tuple) else term
        for position, term in enumerate(terms)
    }


def _shingles(terms: Mapping[int, str], separator: str, filler: str) -> list[str]:
    """The two-term shingles of one text: a position no term holds (a stopped word's) is `filler`, and a
    pair of two fillers is not emitted (Lucene's ShingleFilter, `KoreanAnalyzer.joined`)."""
    if not terms:
        return []
    pairs = []
    for position in range(min(terms), max(terms)):
        left, right = terms.get(position), terms.get(position + 1)
        if left is not None or right is not None:
            pairs.append(
                (left if left is not None else filler) + separator + (right if right is not None else filler)
            )
    return pairs


def _joined_words(value: Any) -> list[str]:
    """A `.joined` field's index terms: the words plus their neighbour pairs, each array value on its own."""
    if isinstance(value, list):
        return [word for item in value for word in _joined_words(item)]
    words = _words(value)
    return [*words, *_pairs(words)]


def _joined_query(text: str) -> list[str]:
    """A `.joined` field's search terms: the query's pairs, or its one word."""
    words = _words(text)
    return list(dict.fromkeys(_pairs(words) if len(words) > 1 else words))


@dataclass(frozen=True)
class _Shingle:
    """A compound analyzer: its base analyzer and its shingle filter's options."""

    base: str
    separator: str
    filler: str
    unigrams: bool
    unigrams_if_no_shingles: bool


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
        name = body["analyzer"]
        shingle = self._cluster.shingle_analyzer(index, name)
        analyzer = self._cluster.analyzers.get(shingle.base if shingle else name, _words)
        typed: list[tuple[str, str]] = []
        for text in texts:  # each text is analysed on its own: no shingle spans two of them
            terms = _positioned(analyzer(text))
            if shingle is None:
                typed.extend((term, "word") for _, term in sorted(terms.items()))
                continue
            pairs = _shingles(terms, shingle.separator, shingle.filler)
            if shingle.unigrams or (shingle.unigrams_if_no_shingles and not pairs):
                typed.extend((term, "word") for _, term in sorted(terms.items()))
            typed.extend((term, "shingle") for term in pairs)
        tokens = [
            {"token": token, "position": position, "type": kind}
            for position, (token, kind) in enumerate(typed)
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

    def __init__(self, analyzers: Mapping[str, Analyzer] | None = None) -> None:
        self.analyzers: dict[str, Analyzer] = dict(analyzers or {})
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

    def shingle_analyzer(self, target: str | None, name: str) -> _Shingle | None:
        """How `target`'s settings define analyzer `name` when it is another analyzer's tokenizer and filters
        plus a two-term shingle filter; None for any other analyzer."""
        names = self.resolve(target, write=False) if target else []
        if not names:
            return None
        analysis = self.indices_state[names[0]].body.get("settings", {}).get("analysis", {})
        analyzers, filters = analysis.get("analyzer", {}), analysis.get("filter", {})
        spec = analyzers.get(name)
        chain = list(spec.get("filter", [])) if spec else []
        if not chain or filters.get(chain[-1], {}).get("type") != "shingle":
            return None
        shingle = filters[chain[-1]]
        known = {"type", "min_shingle_size", "max_shingle_size", "output_unigrams",
                 "output_unigrams_if_no_shingles", "token_separator", "filler_token"}  # fmt: skip
        sizes = (shingle.get("min_shingle_size", 2), shingle.get("max_shingle_size", 2))
        if set(shingle) - known or sizes != (2, 2):
            raise NotImplementedError(f"shingle filter {shingle}")
        for base, candidate in analyzers.items():
            if (
                candidate.get("tokenizer") == spec["tokenizer"]
                and list(candidate.get("filter", [])) == chain[:-1]
            ):
                return _Shingle(
                    base=base,
                    separator=str(shingle.get("token_separator", " ")),
                    filler=str(shingle.get("filler_token", "_")),
                    unigrams=bool(shingle.get("output_unigrams", True)),
                    unigrams_if_no_shingles=bool(shingle.get("output_unigrams_if_no_shingles", False)),
                )
        raise NotImplementedError(f"shingle analyzer {name} without a base analyzer of the same chain")

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
        ordered = _sorted(body["sort"], scores, sources) if body.get("sort") else rank_by_score(scores)
        start, size = int(body.get("from", 0)), int(body.get("size", 10))
        source_spec = body.get("_source", {})
        if source_spec is not False and set(source_spec) - {"excludes"}:
            raise NotImplementedError(f"_source {source_spec}")
        hits = []
        for doc_id in ordered[start : start + size]:
            hit = {"_index": docs[doc_id][0], "_id": doc_id, "_score": scores[doc_id]}
            if source_spec is not False:
                excludes = set(source_spec.get("excludes", []))
                hit["_source"] = {key: value for key, value in sources[doc_id].items() if key not in excludes}
            hits.append(hit)
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
        depth = int(hybrid.get("pagination_depth", len(sources)))
        sub_scores = []
        for query in hybrid["queries"]:  # each sub-query contributes at most pagination_depth hits
            scores = self._query(query, sources)
            sub_scores.append({doc_id: scores[doc_id] for doc_id in rank_by_score(scores)[:depth]})
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
        if kind == "dis_max":
            return self._dis_max(spec, sources)
        if kind == "script_score":
            return self._script_score(spec, sources)
        raise NotImplementedError(f"query {kind}")

    def _dis_max(self, spec: Mapping[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, float]:
        if set(spec) - {"queries", "tie_breaker"}:
            raise NotImplementedError(f"dis_max with {sorted(spec)}")
        tie_breaker = float(spec.get("tie_breaker", 0.0))
        found: dict[str, list[float]] = {}
        for query in spec["queries"]:
            for doc_id, score in self._query(query, sources).items():
                found.setdefault(doc_id, []).append(score)
        return {
            doc_id: max(scores) + tie_breaker * (sum(scores) - max(scores))
            for doc_id, scores in found.items()
        }

    def _script_score(self, spec: Mapping[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, float]:
        script = spec["script"]
        if set(spec) - {"query", "script"} or set(script) - {"source", "params"}:
            raise NotImplementedError(f"script_score with {sorted(spec)}, script {sorted(script)}")
        similarity = _SIMILARITY_SCRIPTS.get(script["source"])
        params = script.get("params", {})
        if similarity is None or set(params) != {"field", "query_value"}:
            raise NotImplementedError(f"script {script['source']!r} with params {sorted(params)}")
        query = [float(value) for value in params["query_value"]]
        scores: dict[str, float] = {}
        for doc_id in self._query(spec["query"], sources):
            vector = sources[doc_id].get(params["field"])
            if vector is None:  # OpenSearch fails the search: the k-NN functions need a vector
                raise RequestError(400, "script_exception", f"{doc_id} has no {params['field']} vector")
            scores[doc_id] = similarity(_cosine(query, vector))
        return scores

    def _bool(self, spec: Mapping[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, float]:
        scores: dict[str, float] = {}
        for doc_id, source in sources.items():
            score = _bool_score(spec, doc_id, source)
            if score is not None:
                scores[doc_id] = score
        return scores

    def _knn(self, spec: Mapping[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, float]:
        ((field_name, knn),) = spec.items()
        unknown = set(knn) - {"vector", "k", "min_score", "filter"}
        if unknown or ("k" in knn) == ("min_score" in knn):
            raise NotImplementedError(
                f"knn with {sorted(knn)}: the adapters send vector, filter, k or min_score"
            )
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
            scores[doc_id] = (1.0 + _cosine(query, vector)) / 2.0  # the Lucene cosinesimil score
        if "min_score" in knn:  # radial search: every vector scoring at least min_score
            return {doc_id: score for doc_id, score in scores.items() if score >= float(knn["min_score"])}
        top = rank_by_score(scores)[: int(knn["k"])]
        return {doc_id: scores[doc_id] for doc_id in top}


def _sorted(
    sort: Sequence[Mapping[str, Any]], scores: dict[str, float], sources: dict[str, dict[str, Any]]
) -> list[str]:
    """Ids ordered by the sort clauses: numeric field sorts (missing values last or first, as `missing`
    says) and `_score`, then by id as the tie-break."""
    ordered = sorted(scores)
    for clause in reversed(sort):  # stable sorts, least significant key first
        ((field_name, spec),) = clause.items()
        if set(spec) - {"order", "missing", "unmapped_type"}:
            raise NotImplementedError(f"sort {clause}")
        descending = spec.get("order", "desc" if field_name == "_score" else "asc") == "desc"
        if field_name == "_score":
            ordered.sort(key=lambda doc_id: scores[doc_id], reverse=descending)
            continue
        if "." in field_name or spec.get("missing", "_last") not in ("_last", "_first"):
            raise NotImplementedError(f"sort {clause}")
        present = [doc_id for doc_id in ordered if sources[doc_id].get(field_name) is not None]
        absent = [doc_id for doc_id in ordered if sources[doc_id].get(field_name) is None]
        present.sort(key=lambda doc_id: float(sources[doc_id][field_name]), reverse=descending)
        ordered = present + absent if spec.get("missing", "_last") == "_last" else absent + present
    return ordered


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
    best = 0.0
    for item in spec["fields"]:
        path, _, boost = item.partition("^")
        value = _field_value(source, path)
        if path in _KEYWORD_FIELDS:  # not analysed: the query text is one term, equal or not
            found = [spec["query"] in (value if isinstance(value, list) else [value])]
        elif path.endswith(".joined"):
            # Index: words and neighbour pairs; search: the query's pairs only (its one word for a one-word
            # query), each a term of its own, combined by the operator.
            stored = set(_joined_words(value))
            found = [term in stored for term in _joined_query(spec["query"])]
        else:
            wanted, stored_words = _words(spec["query"]), _words(value)
            if path in _PREFIX_FIELDS:
                found = [any(word.startswith(query_word) for word in stored_words) for query_word in wanted]
            else:
                found = [query_word in stored_words for query_word in wanted]
        if spec.get("operator", "or") == "and" and not all(found):
            continue
        best = max(best, sum(found) * float(boost or 1.0))
    return best * float(spec.get("boost", 1.0))


def _bool_score(spec: Mapping[str, Any], doc_id: str, source: Mapping[str, Any]) -> float | None:
    """A `bool` query's score of one document (should clauses add up), None when it does not match."""
    if set(spec) - {"should", "minimum_should_match", "filter", "must_not"}:
        raise NotImplementedError(f"bool with {sorted(spec)}")
    if not all(_matches(clause, doc_id, source) for clause in spec.get("filter", [])):
        return None
    if any(_matches(clause, doc_id, source) for clause in spec.get("must_not", [])):
        return None
    should = [_multi_match(clause, source) for clause in spec.get("should", [])]
    matched = sum(1 for score in should if score > 0)
    if matched < int(spec.get("minimum_should_match", 0 if not should else 1)):
        return None
    return float(sum(should))


def _matches(clause: Mapping[str, Any], doc_id: str, source: Mapping[str, Any]) -> bool:
    ((kind, spec),) = clause.items()
    if kind == "bool":  # a query in filter context: matches or not, its score unused
        return _bool_score(spec, doc_id, source) is not None
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
