"""Tantivy queries for the embedded product index: a `SearchPlan`'s lexical clauses and hard filters as
tantivy queries with OpenSearch's semantics (best field per clause with boosts, synonym groups, phrases
for multi-word alternatives, filters that never change a score).

`embedded_search.py` runs these queries and fuses them with the vector side.
"""

from __future__ import annotations

import tantivy

from cataloop.adapters.embedded_search_storage import ENGLISH_FIELDS, JOINED_FIELDS, KOREAN_FIELDS
from cataloop.adapters.korean_analyzer import KoreanAnalyzer, SynonymRules
from cataloop.domain.search.documents import CATEGORY_SEPARATOR, attribute_field
from cataloop.domain.search.plan import (
    FieldBoost,
    LexicalClause,
    SearchFilters,
    SearchPlan,
    required_matches,
)


class PlanQueries:
    """Builds the lexical side of a plan with the index's analyzers: Korean fields get the `KoreanAnalyzer`
    query groups (with synonyms), `.en` fields the English stemmer, prefix fields the lowercased words."""

    def __init__(
        self, analyzer: KoreanAnalyzer, synonyms: SynonymRules, english: tantivy.TextAnalyzer
    ) -> None:
        self._analyzer = analyzer
        self._synonyms = synonyms
        self._english = english

    def lexical(self, schema: tantivy.Schema, plan: SearchPlan) -> tantivy.Query | None:
        """The plan's lexical side: any clause may match (scores add up); None when no clause has a term."""
        clauses = [query for clause in plan.clauses if (query := self.clause(schema, clause)) is not None]
        if not clauses:
            return None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, query) for query in clauses])

    def clause(self, schema: tantivy.Schema, clause: LexicalClause) -> tantivy.Query | None:
        """One clause as the best of its boosted fields (a disjunction max, as OpenSearch's best_fields)."""
        korean: list[list[str]] | None = None
        english: list[list[str]] | None = None
        joined: list[list[str]] | None = None
        prefix = [[term] for term in clause.text.lower().split()]
        per_field: list[tantivy.Query] = []
        for item in clause.fields:
            tantivy_field: str = ENGLISH_FIELDS.get(item.field) or JOINED_FIELDS.get(item.field, item.field)
            if item.field in JOINED_FIELDS:
                if joined is None:
                    # Any of the query's pairs (or its one word) may match.
                    joined = [[term] for term in dict.fromkeys(self._analyzer.joined_query(clause.text))]
                groups = joined
            elif item.field in KOREAN_FIELDS:
                if korean is None:
                    korean = self._analyzer.analyze_query(clause.text, self._synonyms)
                groups = korean
            elif item.field in ENGLISH_FIELDS:
                if english is None:
                    english = [[term] for term in self._english.analyze(clause.text)]
                groups = english
            else:
                groups = prefix
            query = _groups_query(schema, tantivy_field, groups, clause.operator, clause.min_match_percent)
            if query is not None:
                per_field.append(_boosted(query, item))
        if not per_field:
            return None
        best = per_field[0] if len(per_field) == 1 else tantivy.Query.disjunction_max_query(per_field)
        return tantivy.Query.boost_query(best, clause.boost) if clause.boost != 1.0 else best


def filter_queries(
    schema: tantivy.Schema, filters: SearchFilters
) -> list[tuple[tantivy.Occur, tantivy.Query]]:
    """Filters as (occur, query) pairs; required filters score 0 so they never change a ranking."""
    include: list[tantivy.Query] = []
    exclude: list[tantivy.Query] = []
    term = tantivy.Query.term_query
    if filters.category_prefix:
        include.append(term(schema, "category_prefixes", CATEGORY_SEPARATOR.join(filters.category_prefix)))
    if filters.brands:
        include.append(_any_of([term(schema, "brand_raw", brand.lower()) for brand in filters.brands]))
    if filters.is_food is not None:
        include.append(term(schema, "is_food", filters.is_food))
    if filters.price_min is not None or filters.price_max is not None:
        include.append(
            tantivy.Query.range_query(
                schema, "price", tantivy.FieldType.Float, filters.price_min, filters.price_max
            )
        )
    if filters.min_rating is not None:
        include.append(
            tantivy.Query.range_query(schema, "rating", tantivy.FieldType.Float, filters.min_rating)
        )
    for name, values in sorted(filters.attributes.items()):
        field = attribute_field(name)
        include.append(_any_of([term(schema, "attr_filter", f"{field}={value}".lower()) for value in values]))
    exclude.extend(term(schema, "id", doc_id) for doc_id in filters.exclude_ids)
    if filters.top_level_only:
        exclude.append(term(schema, "has_parent", True))
    pairs = [(tantivy.Occur.Must, tantivy.Query.const_score_query(query, 0.0)) for query in include]
    pairs.extend((tantivy.Occur.MustNot, query) for query in exclude)
    return pairs


def _any_of(queries: list[tantivy.Query]) -> tantivy.Query:
    if len(queries) == 1:
        return queries[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, query) for query in queries])


def _boosted(query: tantivy.Query, item: FieldBoost) -> tantivy.Query:
    return tantivy.Query.boost_query(query, item.boost) if item.boost != 1.0 else query


def _groups_query(
    schema: tantivy.Schema,
    field: str,
    groups: list[list[str]],
    operator: str,
    min_match_percent: int | None = None,
) -> tantivy.Query | None:
    """A match query over analysed groups: alternatives within a group are OR-ed (synonyms), groups are
    OR-ed (at least `required_matches` of them) or AND-ed by the clause operator; a multi-word alternative
    is a phrase."""
    group_queries: list[tantivy.Query] = []
    for alternatives in groups:
        options: list[tantivy.Query] = []
        for alternative in alternatives:
            words: list[str | tuple[int, str]] = list(alternative.split())
            if len(words) == 1:
                options.append(tantivy.Query.term_query(schema, field, alternative.strip()))
            elif words:
                options.append(tantivy.Query.phrase_query(schema, field, words))
        if options:
            group_queries.append(_any_of(options))
    if not group_queries:
        return None
    occur = tantivy.Occur.Must if operator == "and" else tantivy.Occur.Should
    if len(group_queries) == 1:
        return group_queries[0]
    required = required_matches(len(group_queries), min_match_percent)
    if occur == tantivy.Occur.Should and required > 1:
        return tantivy.Query.boolean_query(
            [(occur, query) for query in group_queries], minimum_number_should_match=required
        )
    return tantivy.Query.boolean_query([(occur, query) for query in group_queries])
