// The local search console: GET /search, render results and plan, then GET /search/comment.
// Everything from the API is written with textContent, never innerHTML: product names are seller text.

const form = document.getElementById("search-form");
const input = document.getElementById("q");
const sortSelect = document.getElementById("sort");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const resultsList = document.getElementById("results");
const planList = document.getElementById("plan");
const commentBox = document.getElementById("comment");
const commentText = document.getElementById("comment-text");
const commentSource = document.getElementById("comment-source");

let searchGeneration = 0; // a newer search makes older responses (and their comments) stale

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function won(price) {
  return price === null || price === undefined ? "가격 정보 없음" : `${Math.round(price).toLocaleString("ko-KR")}원`;
}

async function getJson(path, params) {
  const response = await fetch(`${path}?${new URLSearchParams(params)}`, { headers: { accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { message: `unexpected response (${response.status})` };
  }
  if (!response.ok) {
    throw new Error(body && body.message ? body.message : `request failed (${response.status})`);
  }
  return body;
}

function renderResults(response) {
  resultsList.replaceChildren();
  for (const result of response.results) {
    const item = element("li");
    item.dataset.productId = result.id;
    item.className = "result";
    item.append(element("div", result.name, "result-name"));
    const meta = [won(result.price), result.brand, (result.category_path || []).join(" > ")];
    if (result.rating !== null && result.rating !== undefined) meta.push(`평점 ${result.rating} (${result.review_count})`);
    item.append(element("div", meta.filter(Boolean).join(" · "), "result-meta"));
    if (result.reasons && result.reasons.length) {
      const reasons = element("ul", null, "result-reasons");
      for (const reason of result.reasons) reasons.append(element("li", reason));
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
  planEntry("빠른 경로", plan.exact_match ? "상품명 정확히 일치: 키워드 결과" : "아니오");
  planEntry("검색 방식", plan.mode === "hybrid" ? "hybrid (lexical + k-NN)" : "keyword");
  planEntry("정렬", plan.sort);
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
      ...c.reasons,
    ]);
  }
  if (plan.variants.length) planEntry("변환", plan.variants.map((v) => v.reason));
  planEntry("검색 절", plan.clauses.map((c) => `${c.purpose}: ${c.text}`));
  if (plan.ranking.length) planEntry("재정렬", plan.ranking);
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

async function runSearch(query, sort) {
  const generation = ++searchGeneration;
  errorBox.hidden = true;
  commentBox.hidden = true;
  delete commentBox.dataset.state;
  statusLine.textContent = "검색 중…";
  const params = { q: query, size: "20" };
  if (sort) params.sort = sort;
  try {
    const response = await getJson("/search", params);
    if (generation !== searchGeneration) return;
    renderResults(response);
    renderPlan(response.plan);
    statusLine.textContent = `'${response.query}' 결과 ${response.total}개`;
    statusLine.dataset.state = "done";
    // Results are on screen first; the comment arrives by its own request.
    if (response.comment_token) loadComment(response.comment_token, generation);
  } catch (error) {
    if (generation !== searchGeneration) return;
    resultsList.replaceChildren();
    planList.replaceChildren();
    statusLine.textContent = "";
    statusLine.dataset.state = "error";
    errorBox.textContent = error.message;
    errorBox.hidden = false;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = input.value;
  const url = new URL(window.location.href);
  url.searchParams.set("q", query);
  history.replaceState(null, "", url);
  runSearch(query, sortSelect.value);
});

const initial = new URL(window.location.href).searchParams.get("q");
if (initial) {
  input.value = initial;
  runSearch(initial, sortSelect.value);
}
