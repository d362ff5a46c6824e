"""Regenerate the sample events in events/ from real invocations on the local cloud.

Runs one ProductCreated product through EnrichProduct (a disagreement, so every state runs), delivers the
streams, and writes the first event each function received to `events/<function>.json` — so the samples
always have the shapes the handlers really get. Usage: `.venv/bin/python scripts/capture_events.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

from cataloop_local.emulator.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[1]
# Hand-written samples: the events that start the workflows.
SKIP = {"PrepareContextFunction", "LearnTriageFunction"}


def main() -> int:
    cloud = LocalCloud(ROOT / "template.yaml").start()
    try:
        sample = json.loads((ROOT / "events" / "product_created.json").read_text(encoding="utf-8"))
        cloud.put_events(
            [{"Source": sample["source"], "DetailType": sample["detail-type"], "Detail": sample["detail"]}]
        )
        cloud.pump_streams()
        # The sample dispute is about the sample product: LearnFromFeedback's states get real inputs too.
        dispute = json.loads((ROOT / "events" / "seller_dispute_filed.json").read_text(encoding="utf-8"))
        # A claim the listing supports and the extraction missed, so Resolve and Apply run as well.
        dispute["detail"].update(
            {
                "attribute": "Specialty",
                "claimed_value": "Bold",
                "evidence": "The description says: Bold, smooth dark roast coffee.",
            }
        )
        cloud.put_events(
            [{"Source": dispute["source"], "DetailType": dispute["detail-type"], "Detail": dispute["detail"]}]
        )
        cloud.pump_streams()
        server = cloud.http_server()
        server.start()
        try:
            import urllib.request

            urllib.request.urlopen(f"{server.url}/health", timeout=30).read()
            request = urllib.request.Request(f"{server.url}/kb/tree", headers=server.authorization)
            urllib.request.urlopen(request, timeout=30).read()
        finally:
            server.stop()
        written = []
        for invocation in cloud.functions.invocations:
            name = invocation.function
            target = ROOT / "events" / f"{_snake(name)}.json"
            if name in SKIP or target in written:
                continue
            target.write_text(
                json.dumps(invocation.event, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
            written.append(target)
            print(f"wrote {target.relative_to(ROOT)}")
    finally:
        cloud.stop(save=False)
    return 0


def _snake(logical_id: str) -> str:
    base = logical_id.removesuffix("Function")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in base).lstrip("_")


if __name__ == "__main__":
    raise SystemExit(main())
