"""Which of OpenSearch's test stories the local server runs, and why the others are skipped.

``RUN`` names the stories copied under ``tests/`` here (paths relative to the upstream ``tests/`` folder).
Every other upstream story matches a pattern in ``SKIPPED``, with the reason. ``SKIPPED_CHAPTERS`` skips
single chapters of stories that otherwise run.
"""

from __future__ import annotations

import fnmatch

RUN = (
    "_core/analyze.yaml",
    "_core/analyze/filter/uppercase.yaml",
    "_core/bulk.yaml",
    "_core/count.yaml",
    "_core/info.yaml",
    "_core/mapping.yaml",
    "_core/refresh.yaml",
    "_core/search.yaml",
    "_core/search/_source.yaml",
    "_core/search/cancel_after_time_interval.yaml",
    "_core/search/knn/on_disk.yaml",
    "_core/search/knn/search/search_filter.yaml",
    "_core/search/knn/search/search_k.yaml",
    "_core/search/knn/search/search_max_distance.yaml",
    "_core/search/knn/search/search_min_score.yaml",
    "_core/search/match.yaml",
    "_core/search/multi_match.yaml",
    "_core/search/phase_took.yaml",
    "_core/search/pipeline.yaml",
    "_core/search/query/terms/array_terms.yaml",
    "_core/search/query/terms/array_terms_with_boost.yaml",
    "_core/search/query/terms/terms_lookup.yaml",
    "_core/search/rest_total_hits_as_int.yaml",
    "_core/search/search_after.yaml",
    "_core/search/seq_no_primary_term.yaml",
    "_core/search/size.yaml",
    "_core/search/sort_by_field.yaml",
    "indices/bulk.yaml",
    "indices/count.yaml",
    "indices/create.yaml",
    "indices/delete_by_query.yaml",
    "indices/doc.yaml",
    "indices/index.yaml",
    "indices/mapping/mapping.yaml",
    "indices/refresh.yaml",
    "indices/search.yaml",
    "indices/source.yaml",
    "indices/update.yaml",
    "search_pipeline/search_phase_results_processors/normalization.yaml",
    "search_pipeline/search_phase_results_processors/score_ranker.yaml",
)

SKIPPED_CHAPTERS: dict[str, dict[str, str]] = {
    "indices/update.yaml": {
        "Update a document in the index using a script.": "painless scripts are not implemented",
    },
}

_ADMIN = "cluster and shard administration: one in-memory node has no shards, segments, caches, tasks or recovery"
SKIPPED: dict[str, str] = {
    "_core/alias.yaml": "index aliases are not implemented",
    "_core/aliases.yaml": "index aliases are not implemented",
    "indices/alias/*": "index aliases are not implemented",
    "indices/aliases/*": "index aliases are not implemented",
    "_core/analyze/filter/lowercase.yaml": "char filters (html_strip) are not implemented",
    "_core/analyze/filter/*": "token filters other than lowercase and uppercase are not implemented",
    "indices/analyze.yaml": "custom analysis settings (index.analysis) are not implemented",
    "_core/dangling.yaml": _ADMIN,
    "_core/list.yaml": _ADMIN,
    "_core/recovery.yaml": _ADMIN,
    "indices/recovery.yaml": _ADMIN,
    "_core/remote/info.yaml": _ADMIN,
    "_core/search_shards.yaml": _ADMIN,
    "indices/search_shards.yaml": _ADMIN,
    "_core/shard_stores.yaml": _ADMIN,
    "indices/shard_stores.yaml": _ADMIN,
    "_core/stats.yaml": _ADMIN,
    "indices/stats.yaml": _ADMIN,
    "indices/segments.yaml": _ADMIN,
    "_core/tasks.yaml": _ADMIN,
    "_core/tasks/*": _ADMIN,
    "_core/upgrade.yaml": _ADMIN,
    "indices/upgrade.yaml": _ADMIN,
    "indices/cache/*": _ADMIN,
    "indices/flush.yaml": _ADMIN,
    "indices/forcemerge.yaml": _ADMIN,
    "indices/block.yaml": _ADMIN,
    "indices/close.yaml": _ADMIN,
    "indices/open.yaml": _ADMIN,
    "indices/clone.yaml": _ADMIN,
    "indices/shrink.yaml": _ADMIN,
    "indices/split.yaml": _ADMIN,
    "_core/field_caps.yaml": "field capabilities are not implemented",
    "_core/mapping/field.yaml": "field mapping lookup (_mapping/field) is not implemented",
    "indices/mapping/field.yaml": "field mapping lookup (_mapping/field) is not implemented",
    "_core/mget.yaml": "_mget is not implemented",
    "indices/mget.yaml": "_mget is not implemented",
    "_core/msearch.yaml": "multi-search is not implemented",
    "_core/msearch/*": "multi-search and search templates are not implemented",
    "indices/msearch/*": "multi-search and search templates are not implemented",
    "_core/render/template.yaml": "search templates (mustache) are not implemented",
    "indices/search/template.yaml": "search templates (mustache) are not implemented",
    "_core/mtermvectors.yaml": "term vectors are not implemented",
    "indices/mtermvectors.yaml": "term vectors are not implemented",
    "indices/termvectors.yaml": "term vectors are not implemented",
    "_core/rank_eval.yaml": "ranking evaluation is not implemented",
    "indices/rank_eval.yaml": "ranking evaluation is not implemented",
    "_core/reindex.yaml": "reindex is not implemented",
    "_core/reindex/*": "reindex is not implemented",
    "_core/update_by_query/*": "update by query and task rethrottling are not implemented",
    "indices/update_by_query.yaml": "update by query (it needs painless scripts) is not implemented",
    "indices/delete_by_query/rethrottle.yaml": "delete by query runs synchronously: no tasks, no rethrottling",
    "_core/script_context.yaml": "scripting (painless) is not implemented",
    "_core/script_language.yaml": "scripting (painless) is not implemented",
    "_core/scripts.yaml": "scripting (painless) is not implemented",
    "_core/scripts/*": "scripting (painless) is not implemented",
    "_core/search/query/script.yaml": "scripting (painless) is not implemented",
    "_core/search/aggregations/*": "aggregations are not implemented",
    "_core/search/hybrid_query_pagination.yaml": (
        "runs a hybrid query without a search pipeline, where OpenSearch returns its unprocessed per-sub-query "
        "result format; this server answers 400 instead of imitating it (hybrid with a pipeline is tested in "
        "tests/integration/test_opensearch_adapter.py and tests/unit/test_opensearch_engine.py)"
    ),
    "_core/search/pipeline/request_processor/*": "request search processors are not implemented",
    "_core/search/pipeline/response_processor/*": "response search processors are not implemented",
    "_core/search/pipeline/agentic_processors.yaml": "agentic search (OpenSearch 3.2, ML Commons) is not implemented",
    "_core/search/agentic_query.yaml": "agentic search (OpenSearch 3.2, ML Commons) is not implemented",
    "_core/search/pipeline/verbose_pipeline.yaml": "verbose_pipeline (OpenSearch 3.0) is not implemented",
    "_core/search/knn/search/search_pipeline.yaml": "needs ML Commons (model registration, ml_inference processor)",
    "_core/search/point_in_time.yaml": "point in time is not implemented",
    "_core/search/point_in_time/*": "point in time is not implemented",
    "indices/search/point_in_time.yaml": "point in time is not implemented",
    "_core/search/scroll.yaml": "scroll is not implemented",
    "_core/search/query/fuzzy.yaml": "fuzzy queries are not implemented",
    "_core/search/query/geo_*": "geo queries are not implemented",
    "_core/search/query/xy_shape_*": "xy_shape queries are not implemented",
    "_core/search/query/terms_set.yaml": "terms_set queries are not implemented",
    "_core/settings.yaml": "index settings APIs (_settings) are not implemented",
    "indices/settings.yaml": "index settings APIs (_settings) are not implemented",
    "_core/template.yaml": "index templates are not implemented",
    "indices/component_template.yaml": "index templates are not implemented",
    "indices/index_template.yaml": "index templates are not implemented",
    "indices/index_template/*": "index templates are not implemented",
    "indices/data_stream/*": "data streams are not implemented",
    "_core/validate/query.yaml": "query validation (_validate/query) is not implemented",
    "indices/validate/query.yaml": "query validation (_validate/query) is not implemented",
    "indices/explain.yaml": "explain is not implemented",
    "indices/resolve/index.yaml": "resolve index is not implemented",
}


def skip_reason(story: str) -> str | None:
    """Why ``story`` (relative to the upstream ``tests/`` folder) is not run, or None when it is."""
    if story in RUN:
        return None
    for pattern, reason in SKIPPED.items():
        if fnmatch.fnmatchcase(story, pattern):
            return reason
    return None
