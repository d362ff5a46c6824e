"""One logger, tracer and metrics for every handler, yet each function's logs and metrics land in its own log."""

from __future__ import annotations

import pytest

from cataloop_local.emulator.cloud import LocalCloud

pytestmark = pytest.mark.integration


def test_each_function_logs_and_publishes_metrics_in_its_own_log(cloud: LocalCloud) -> None:
    listing = {"product_id": "p-observed", "title": "Tazo Tea, Chai Decaf Tea, Tea Bags, 20 ct"}
    cloud.put_events(
        [
            {
                "Source": "cataloop.catalog",
                "DetailType": "ProductCreated",
                "Detail": {"product": {**listing, "category_path": ["Tea"]}},
            }
        ]
    )
    cloud.pump_streams()

    invoked = {invocation.function for invocation in cloud.functions.invocations}
    assert {"PrepareContextFunction", "SuperviseFunction", "PersistFunction"} <= invoked
    for logical_id in sorted(invoked):
        function = cloud.functions.get(logical_id)
        lines = function.log.json_lines()
        records = [line for line in lines if "level" in line]
        metric_blobs = [line for line in lines if "_aws" in line]
        assert records or metric_blobs, f"{logical_id} wrote nothing to its log"
        # Lines of the running function only (the local cloud runs every function in one process).
        assert all(record.get("function_name", function.name) == function.name for record in records)
        assert all(record["service"] == "cataloop" for record in records)
        for blob in metric_blobs:
            assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Cataloop"
            assert blob["service"] == "cataloop"

    def metric_names(logical_id: str) -> set[str]:
        blobs = [line for line in cloud.functions.get(logical_id).log.json_lines() if "_aws" in line]
        return {m["Name"] for blob in blobs for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}

    assert "ProductsAccepted" in metric_names("PrepareContextFunction")
    assert "DisagreementRate" in metric_names("ConsensusFunction")
    assert "ProductsEnriched" in metric_names("PersistFunction")
    assert "ProductsEnriched" not in metric_names("ConsensusFunction")
    accepted = [
        line
        for line in cloud.functions.get("PrepareContextFunction").log.json_lines()
        if line.get("message") == "product accepted"
    ]
    assert accepted and accepted[0]["correlation_id"] and accepted[0]["product_id"] == "p-observed"
