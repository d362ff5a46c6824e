"""Local cloud: start-up time, overhead of one EnrichProduct execution, stream delivery latency.

Run: `.venv/bin/python -m bench.platform_bench`. Start-up is measured in a fresh process (imports
included) and again warm in the same process; executions use the real template, handlers and ASL with
OA-Mine train titles.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import percentiles, print_table, time_ms, write_result

ROOT = Path(__file__).resolve().parents[1]
COLD_START = (
    "import time; t=time.perf_counter(); from cataloop_local.emulator.cloud import LocalCloud; "
    "c=LocalCloud('template.yaml').start(); print((time.perf_counter()-t)*1000); c.stop(save=False)"
)


def main(products: int = 60) -> dict:
    cold = [
        float(subprocess.check_output([sys.executable, "-c", COLD_START], cwd=ROOT, text=True).split()[-1])
        for _ in range(3)
    ]
    from cataloop_eval.extraction import read_oa_mine
    from cataloop_local.emulator.cloud import LocalCloud

    warm = []
    for _ in range(3):
        started = time.perf_counter()
        cloud = LocalCloud(ROOT / "template.yaml").start()
        warm.append((time.perf_counter() - started) * 1000)
        cloud.stop(save=False)

    records = read_oa_mine(ROOT / "data" / "oa-mine" / "train.jsonl")[:products]
    cloud = LocalCloud(ROOT / "template.yaml").start()
    try:
        execution_ms, stream_ms = [], []
        for record in records:
            entry = {
                "Source": "cataloop.catalog",
                "DetailType": "ProductCreated",
                "Detail": json.dumps(
                    {"product": record.listing().model_dump(mode="json", exclude_none=True)}
                ),
            }
            execution_ms.append(time_ms(lambda entry=entry: cloud.put_events([entry])))
            stream_ms.append(time_ms(cloud.pump_streams))
        statuses = [
            cloud.describe_execution(e["executionArn"])["status"]
            for e in cloud.executions("EnrichProductStateMachine")
        ]
    finally:
        cloud.stop(save=False)

    result = {
        "data": f"OA-Mine train, first {len(records)} titles, one ProductCreated each",
        "startup_cold_process_ms": percentiles(cold),
        "startup_warm_ms": percentiles(warm),
        "put_event_to_execution_end_ms": percentiles(execution_ms[1:]),  # the first includes handler imports
        "first_execution_ms": round(execution_ms[0], 1),
        "stream_delivery_ms": percentiles(stream_ms[1:]),
        "executions_succeeded": statuses.count("SUCCEEDED"),
        "executions": len(statuses),
    }
    write_result("platform", result)
    print_table(
        "Local cloud (bench/results/platform.json)",
        [
            ("start-up, fresh process (p50)", f"{result['startup_cold_process_ms']['p50_ms']:.0f} ms"),
            ("start-up, warm (p50)", f"{result['startup_warm_ms']['p50_ms']:.0f} ms"),
            (
                "PutEvents -> execution end (p50/p95)",
                f"{result['put_event_to_execution_end_ms']['p50_ms']:.1f} / {result['put_event_to_execution_end_ms']['p95_ms']:.1f} ms",
            ),
            (
                "stream delivery incl. indexing (p50/p95)",
                f"{result['stream_delivery_ms']['p50_ms']:.1f} / {result['stream_delivery_ms']['p95_ms']:.1f} ms",
            ),
            ("executions succeeded", f"{result['executions_succeeded']}/{result['executions']}"),
        ],
    )
    return result


if __name__ == "__main__":
    main()
