"""`make soak`: 500 products from 4 concurrent producers through the local cloud (see cataloop_eval.soak).

Writes bench/results/soak.json and exits non-zero unless every execution succeeded and every product was
persisted exactly once. SOAK_PRODUCTS and SOAK_PRODUCERS change the size (defaults 500 and 4).
"""

from __future__ import annotations

import os
import sys

from bench.common import print_table, write_result


def main() -> dict[str, object]:
    from cataloop_eval.soak import run_soak

    products = int(os.environ.get("SOAK_PRODUCTS", "500"))
    producers = int(os.environ.get("SOAK_PRODUCERS", "4"))
    report = run_soak(products=products, producers=producers)
    path = write_result("soak", report)
    print_table(
        f"Soak: {products} products, {producers} producers ({report['seconds']} s)",
        [(key, report[key]) for key in ("sent", "succeeded", "failed", "persisted_once", "lost")],
    )
    for failure in report["failures"]:
        print(f"  FAILED {failure['name']}: {failure['error']}: {failure['cause']}")
    print(f"written to {path}")
    return report


if __name__ == "__main__":
    result = main()
    healthy = result["failed"] == 0 and result["lost"] == 0 and result["persisted_once"] == result["sent"]
    sys.exit(0 if healthy else 1)
