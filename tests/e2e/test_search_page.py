"""The search page end to end: local cloud + HTTP server + headless Chromium driven by Playwright (node).

Needs `node`, `tests/e2e/node_modules/playwright-core` (`npm ci --prefix tests/e2e`) and Chromium at
/usr/bin/chromium (Debian package `chromium`; or set CHROMIUM_PATH). No browser is ever downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import serving_catalog

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PRODUCT_IDS = ("km-0001", "km-0007", "km-0097", "km-0360", "km-0363")


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (npm ci --prefix tests/e2e)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reason = _missing()
    if reason is not None:
        # `make test` installs all three; a missing one is a broken setup, not a reason to pass silently.
        if os.environ.get("CATALOOP_ALLOW_NO_BROWSER") == "1":
            pytest.skip(reason)
        pytest.fail(f"browser test prerequisites missing: {reason} (run `make e2e-deps`)")
    with serving_catalog(tmp_path_factory.mktemp("search-page") / "state", PRODUCT_IDS) as url:
        yield url


@pytest.fixture(scope="module")
def report(base_url: str) -> dict[str, Any]:
    completed = subprocess.run(
        ["node", str(HERE / "search_page.mjs"), base_url],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "CHROMIUM_PATH": CHROMIUM},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_results_and_plan_are_shown_then_the_comment_arrives_by_its_own_request(report) -> None:
    food = report["food"]
    assert food["result_ids"] and set(food["result_ids"]) <= set(PRODUCT_IDS)
    assert food["result_ids"][0] in {"km-0001", "km-0007"}
    # A descriptive query ("마시는 ..."): hybrid, with the food intent and the ranking explained in Korean.
    assert (
        "hybrid" in food["plan"]
        and "식품 의도: true" in food["plan"]
        and "판매자 키워드 가점" in food["plan"]
    )
    assert "상위" in food["comment"] and "오프라인 템플릿" in food["comment_source"]
    events = report["requests"]
    first_comment_request = events.index(["request", "/search/comment"])
    assert events.index(["response", "/search"]) < first_comment_request


def test_initial_consonants_show_the_variant_in_the_plan(report) -> None:
    assert "chosung variant" in report["chosung"]["plan"]
    assert {"km-0001", "km-0007"} & set(report["chosung"]["result_ids"])


def test_markup_in_a_query_is_never_executed(report) -> None:
    assert report["markup"] == {"executed": False, "images_in_page": 0}


def test_a_refused_query_shows_the_api_message(report) -> None:
    assert "no letters or digits" in report["refused"]["error"]
    assert report["refused"]["results"] == 0
    # The browser reports the refused request itself; nothing else may fail (no missing file, no JS error).
    assert all("status of 400" in error for error in report["console_errors"]), report["console_errors"]


def test_an_exact_name_shows_that_product_then_the_keyword_results_on_the_next_page(report) -> None:
    exact = report["exact"]
    assert exact["result_ids"] == ["km-0001"]
    assert "정확히 일치" in exact["status"] and "다음 페이지" in exact["status"]
    assert exact["pager_hidden"] is False and exact["next_disabled"] is False
    # The ranking is explained in Korean on the Korean page.
    assert exact["reasons"] == ["검색어가 이 상품의 이름"]
    assert "상품명이 일치하는 상품 먼저: 1개" in exact["plan"]
    page_two = exact["page_two"]
    assert page_two["result_ids"] and "km-0001" not in page_two["result_ids"]
    assert "(2–" in page_two["status"] and page_two["first_number"] == 2  # numbered after the named product
    assert any(reason.startswith("판매자 키워드가 검색어") for reason in page_two["reasons"])
    assert not any("query terms" in reason for reason in page_two["reasons"])
