// The search page: GET /search (a page of results and the plan), then GET /search/comment.
// Everything from the API is written with textContent, never innerHTML: product names are seller text.
import { element, getJson, link, productHref } from "/common.js";

const form = document.getElementById("search-form");
const input = document.getElementById("q");
const sortSelect = document.getElementById("sort");
const sizeSelect = document.getElementById("size");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const emptyBox = document.getElementById("empty");
const resultsList = document.getElementById("results");
const planList = document.getElementById("plan");
const commentBox = document.getElementById("comment");
const commentText = document.getElementById("comment-text");
const commentSource = document.getElementById("comment-source");
const pager = document.getElementById("pager");
const prevButton = document.getElementById("prev-page");
const nextButton = document.getElementById("next-page");
const pageInfo = document.getElementById("page-info");

const MAX_PAGE = 100; // the API's limit (page <= 100)
const VARIANT_KINDS = { chosung: "초성", keyboard: "영문 자판", typo: "오타 교정" };
const SORT_LABELS = {
  relevance: "관련도",
  price_asc: "낮은 가격",
  price_desc: "높은 가격",
  rating: "평점",
  popularity: "인기",
  newest: "최신",
  value: "가성비 (단위 가격 낮은 순)",
  bulk: "대용량",
};

let searchGeneration = 0; // a newer search makes older responses (and their comments) stale
let lastSearch = null; // {query, sort, size, page} of the page on screen

function won(price) {
  return price === null || price === undefined ? "가격 정보 없음" : `${Math.round(price).toLocaleString("ko-KR")}원`;
}

// The API explains its ranking in English (domain/search/ranking.py); the Korean page says the same in Korean.
// A reason no pattern knows is shown as the API wrote it.
const SORTED_BY = {
  "unit price (price per ml, g or piece), low to high": "단위 가격 낮은 순 (ml·g·개당)",
  "total content, largest first": "총 용량 큰 순",
  "price, low to high": "낮은 가격 순",
  "price, high to low": "높은 가격 순",
  "review-weighted rating": "리뷰 수를 반영한 평점 순",
  "purchases, then reviews": "구매 수, 그다음 리뷰 수 순",
  "listing date, newest first": "등록일 최신 순",
};
const REASONS_KO = [
  [/^seller keywords match (\d+) of (\d+) query terms \(\+([\d.]+)\)$/, (m) => `판매자 키워드가 검색어 ${m[2]}개 중 ${m[1]}개와 일치 (+${m[3]})`],
  [/^keyword-field boost on (\d+) results \(weight ([\d.]+)\)$/, (m) => `판매자 키워드 가점: ${m[1]}개 결과 (가중치 ${m[2]})`],
  [/^non-food product for a food query \(x([\d.]+)\)$/, (m) => `식품 검색의 비식품 상품 (x${m[1]})`],
  [/^food product for a non-food query \(x([\d.]+)\)$/, (m) => `비식품 검색의 식품 상품 (x${m[1]})`],
  [/^(non-food|food) results demoted: (\d+)$/, (m) => `${m[1] === "food" ? "식품" : "비식품"} 결과 순위 내림: ${m[2]}개`],
  [/^the query is this product's name$/, () => "검색어가 이 상품의 이름"],
  [/^exact product name first: (\d+) result\(s\)$/, (m) => `상품명이 일치하는 상품 먼저: ${m[1]}개`],
  [/^a set whose products are results too \(x([\d.]+)\)$/, (m) => `구성 상품도 결과에 있는 세트 (x${m[1]})`],
  [/^sets after the products they contain: (\d+)$/, (m) => `세트는 구성 상품 뒤로: ${m[1]}개`],
  [/^not sorted: outside the query's food or non-food intent$/, () => "정렬 제외: 검색의 식품/비식품 의도 밖"],
  [/^below the relevance floor for sorting \((\d+%)\)$/, (m) => `정렬 제외: 관련도 기준(${m[1]}) 미만`],
  [/^newest requested, but no result has a listing date: kept relevance order$/, () => "최신순 요청이지만 등록일이 있는 결과가 없어 관련도 순 유지"],
  [/^sorted by (.+): (\d+) results within (\d+%) of the best relevance; (\d+) weaker results follow$/,
    (m) => `${SORTED_BY[m[1]] || m[1]}: 최고 관련도의 ${m[3]} 이내 ${m[2]}개를 정렬, 그보다 약한 ${m[4]}개는 뒤에`],
  [/^sorted by (.+)$/, (m) => `${SORTED_BY[m[1]] || m[1]}으로 정렬`],
];

function koreanReason(text) {
  for (const [pattern, say] of REASONS_KO) {
    const match = pattern.exec(text);
    if (match) return say(match);
  }
  return text;
}

function renderResults(response) {
  resultsList.replaceChildren();
  // The list is numbered by the results' positions: page 2 of 20 starts at 21 (and after an exact name's
  // page 1, which holds one product, at 2).
  resultsList.start = response.results.length ? response.results[0].position : 1;
  for (const result of response.results) {
    const item = element("li");
    item.dataset.productId = result.id;
    item.className = "result";
    const name = element("div", null, "result-name");
    name.append(link(productHref(result.id), result.name));
    item.append(name);
    const meta = [won(result.price), result.brand, (result.category_path || []).join(" > ")];
    if (result.rating !== null && result.rating !== undefined) meta.push(`평점 ${result.rating} (${result.review_count})`);
    item.append(element("div", meta.filter(Boolean).join(" · "), "result-meta"));
    if (result.reasons && result.reasons.length) {
      const reasons = element("ul", null, "result-reasons");
      for (const reason of result.reasons) reasons.append(element("li", koreanReason(reason)));
      item.append(reasons);
    }
    resultsList.append(item);
  }
}

function planEntry(term, values) {
  planList.append(element("dt", term));
  const dd = element("dd");
  if (Array.isArray(values)) {
    const list = element("ul");
    for (const value of values) list.append(element("li", value));
    dd.append(list);
  } else {
    dd.textContent = String(values);
  }
  planList.append(dd);
}

function renderPlan(plan) {
  planList.replaceChildren();
  planEntry(
    "빠른 경로",
    plan.exact_match ? (plan.deferred ? "상품명 정확히 일치: 그 상품만 (키워드 결과는 다음 페이지)" : "상품명 정확히 일치: 키워드 결과") : "아니오",
  );
  planEntry("검색 방식", plan.mode === "hybrid" ? "hybrid (lexical + k-NN)" : "keyword");
  planEntry("정렬", SORT_LABELS[plan.sort] ? `${SORT_LABELS[plan.sort]} (${plan.sort})` : plan.sort);
  if (plan.guardrail && plan.guardrail.action !== "none") {
    planEntry("가드레일", [plan.guardrail.action, ...plan.guardrail.reasons]);
  }
  if (plan.classification) {
    const c = plan.classification;
    planEntry("분류", [
      `종류: ${c.kind}`,
      `정제된 검색어: ${c.cleaned_query}`,
      `정렬 의도: ${c.sort_intent ?? "없음"}`,
      `식품 의도: ${c.food_intent === null ? "모름" : c.food_intent}`,
      `판단: ${c.decided_by === "rules" ? "규칙만 (검색어 임베딩 없음)" : "few-shot 예시 투표"}`,
      ...c.reasons,
    ]);
  }
  if (plan.variants && plan.variants.length) {
    planEntry(
      "변환",
      plan.variants.map((v) => `${VARIANT_KINDS[v.kind] || v.kind} → ${v.text}: ${v.reason}`),
    );
    planList.lastElementChild.querySelectorAll("li").forEach((li, index) => {
      li.dataset.variantKind = plan.variants[index].kind;
    });
  }
  if (plan.fallback) planEntry("대체 검색", `키워드 결과가 부족해 의미 검색(hybrid)으로 찾았습니다: ${plan.fallback}`);
  planEntry("검색 절", plan.clauses.map((c) => `${c.purpose}: ${c.text}`));
  if (plan.ranking.length) planEntry("재정렬", plan.ranking.map(koreanReason));
  planEntry("후보 수", plan.candidates);
}

async function loadComment(token, generation) {
  commentBox.hidden = false;
  commentText.textContent = "코멘트를 불러오는 중…";
  commentSource.textContent = "";
  try {
    const comment = await getJson("/search/comment", { token });
    if (generation !== searchGeneration) return;
    commentText.textContent = comment.text;
    commentSource.textContent = comment.source === "model" ? `모델: ${comment.model_id}` : "오프라인 템플릿 (모델 아님)";
    commentBox.dataset.state = "loaded";
  } catch (error) {
    if (generation !== searchGeneration) return;
    commentText.textContent = `코멘트를 불러오지 못했습니다: ${error.message}`;
    commentBox.dataset.state = "failed";
  }
}

function renderPager(response) {
  // Page 1 of an exact product name holds that product alone (plan.deferred): the keyword results for the
  // name start on page 2, so there is always a next page and the number of pages is not known yet.
  const deferred = Boolean(response.plan.deferred);
  const pages = Math.max(1, Math.min(MAX_PAGE, Math.ceil(response.total / response.size)));
  pager.hidden = !deferred && response.total <= response.size && response.page === 1;
  pageInfo.textContent = deferred ? `${response.page} 페이지 · 다음 페이지에 더 많은 결과` : `${response.page} / ${pages} 페이지`;
  pager.dataset.page = String(response.page);
  prevButton.disabled = response.page <= 1;
  nextButton.disabled = !deferred && response.page >= pages;
}

async function runSearch(query, sort, page = 1) {
  const generation = ++searchGeneration;
  errorBox.hidden = true;
  emptyBox.hidden = true;
  commentBox.hidden = true;
  delete commentBox.dataset.state;
  delete statusLine.dataset.state;
  statusLine.textContent = "검색 중…";
  const size = sizeSelect.value || "20";
  const params = { q: query, size, page: String(page) };
  if (sort) params.sort = sort;
  try {
    const response = await getJson("/search", params);
    if (generation !== searchGeneration) return;
    lastSearch = { query, sort, page: response.page };
    renderResults(response);
    renderPlan(response.plan);
    renderPager(response);
    if (response.total === 0) {
      statusLine.textContent = `'${response.query}' 검색 결과가 없습니다.`;
      emptyBox.textContent = "검색어의 철자를 확인하거나, 더 짧은 단어·다른 표현(예: 상품 종류나 브랜드)으로 검색해 보세요.";
      emptyBox.hidden = false;
    } else if (response.results.length === 0) {
      statusLine.textContent = `'${response.query}' 결과 ${response.total}개 중 ${response.page} 페이지에는 결과가 없습니다.`;
    } else if (response.plan.deferred) {
      statusLine.textContent = `'${response.query}': 상품명이 정확히 일치하는 상품 ${response.total}개 (같은 이름의 다른 결과는 다음 페이지)`;
    } else {
      // Positions, not page arithmetic: after an exact-name page 1 of one product, page 2 starts at 2.
      const first = response.results[0].position;
      const last = response.results[response.results.length - 1].position;
      statusLine.textContent = `'${response.query}' 결과 ${response.total}개 (${first}–${last})`;
    }
    statusLine.dataset.state = "done";
    // Results are on screen first; the comment arrives by its own request.
    if (response.comment_token) loadComment(response.comment_token, generation);
  } catch (error) {
    if (generation !== searchGeneration) return;
    resultsList.replaceChildren();
    planList.replaceChildren();
    pager.hidden = true;
    statusLine.textContent = "";
    statusLine.dataset.state = "error";
    errorBox.textContent = `검색하지 못했습니다. ${error.message}`;
    errorBox.hidden = false;
  }
}

function remember(query, page) {
  const url = new URL(window.location.href);
  url.searchParams.set("q", query);
  if (page > 1) url.searchParams.set("page", String(page));
  else url.searchParams.delete("page");
  history.replaceState(null, "", url);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = input.value;
  remember(query, 1);
  runSearch(query, sortSelect.value, 1);
});

for (const [button, step] of [
  [prevButton, -1],
  [nextButton, 1],
]) {
  button.addEventListener("click", () => {
    if (!lastSearch) return;
    const page = Math.max(1, lastSearch.page + step);
    remember(lastSearch.query, page);
    runSearch(lastSearch.query, lastSearch.sort, page);
  });
}

const initialParams = new URL(window.location.href).searchParams;
const initial = initialParams.get("q");
if (initial) {
  input.value = initial;
  runSearch(initial, sortSelect.value, Math.max(1, Number(initialParams.get("page")) || 1));
}
