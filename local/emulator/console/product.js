// One product: GET /kb/products/{id} (the report `cataloop product show` prints).
import { element, kbCall, learningHref, link, showError, usd } from "/common.js";

const form = document.getElementById("product-form");
const input = document.getElementById("product-id");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const article = document.getElementById("product");
const title = document.getElementById("product-title");
const facts = document.getElementById("product-facts");
const attributesBody = document.querySelector("#attributes tbody");
const decision = document.getElementById("decision");
const learningsBody = document.querySelector("#learnings tbody");
const learningsEmpty = document.getElementById("learnings-empty");
const historyList = document.getElementById("history");

const DECISIONS = { AGREE: "합의 (AGREE)", DISAGREE: "불일치 (DISAGREE)", AUDIT: "감사 표본 (AUDIT)" };
const STATUSES = { PENDING: "처리 대기", ENRICHED: "보강 완료", NEEDS_REVIEW: "사람 검토 필요" };

function entry(list, term, value) {
  list.append(element("dt", term));
  const dd = element("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === null || value === undefined || value === "" ? "없음" : String(value);
  list.append(dd);
}

function evidence(value) {
  const span = value && value.evidence;
  if (!span || !span.text) return "-";
  return `${span.field}[${span.start}:${span.end}] "${span.text}"`;
}

function render(report) {
  article.hidden = false;
  article.dataset.productId = report.product_id;
  title.textContent = report.title;
  facts.replaceChildren();
  entry(facts, "ID", report.product_id);
  entry(facts, "상태", STATUSES[report.status] || report.status);
  entry(facts, "현재 버전", report.version);
  entry(facts, "카테고리", report.category_path.join(" > "));
  entry(facts, "검색용 제목", report.search_title);
  entry(facts, "모델", report.models.join(", "));
  entry(facts, "토큰", report.tokens ? `입력 ${report.tokens.input} / 출력 ${report.tokens.output}` : null);
  entry(facts, "비용(모델 가격 기준)", usd(report.modelled_cost));

  attributesBody.replaceChildren();
  const names = Object.keys(report.attributes).sort();
  for (const name of names) {
    const value = report.attributes[name];
    const row = element("tr");
    row.dataset.attribute = name;
    const confidence = typeof value.confidence === "number" ? value.confidence.toFixed(2) : "-";
    row.append(
      element("td", name),
      element("td", value.value),
      element("td", value.normalised ?? "-"),
      element("td", confidence),
      element("td", evidence(value)),
    );
    attributesBody.append(row);
  }
  if (!names.length) {
    const row = element("tr");
    const cell = element("td", "아직 보강되지 않았습니다 (속성 없음).", "muted");
    cell.colSpan = 5;
    row.append(cell);
    attributesBody.append(row);
  }

  decision.replaceChildren();
  entry(decision, "합의 결정", report.decision ? DECISIONS[report.decision] || report.decision : "아직 없음");
  entry(decision, "불일치 속성", report.disagreed_attributes.join(", "));
  if (report.consensus_reasons.length) {
    const reasons = element("ul");
    for (const reason of report.consensus_reasons) reasons.append(element("li", reason));
    entry(decision, "합의 사유", reasons);
  }
  const supervisor = report.supervisor;
  entry(
    decision,
    "감독자",
    supervisor
      ? `${supervisor.model_id} · 신뢰도 ${supervisor.confidence} · ${supervisor.reason}${supervisor.needs_review ? " · 사람 검토로 보냄" : ""}`
      : "호출되지 않음",
  );

  learningsBody.replaceChildren();
  for (const row of report.learnings) {
    const tr = element("tr");
    tr.dataset.learningId = row.id;
    const idCell = element("td");
    idCell.append(link(learningHref(row.id), row.id));
    const now = row.current;
    tr.append(
      idCell,
      element("td", `v${row.injected_version ?? "-"} → ${now ? `v${now.version}` : "삭제됨"}`),
      element("td", row.used ? "사용" : "주입만"),
      element("td", now ? now.status : "지식 베이스에 없음"),
      element("td", now ? now.text : "-"),
    );
    learningsBody.append(tr);
  }
  learningsEmpty.hidden = report.learnings.length > 0;

  historyList.replaceChildren();
  historyList.append(
    element("li", `v${report.version} (현재) · 생성 ${report.created_at} · 수정 ${report.updated_at} · 이벤트 ${report.source_event_id}`),
  );
  for (const change of report.feedback) {
    const corrected = Object.entries(change.corrected || {})
      .map(([name, c]) => `${name}: ${c && c.old} → ${c && c.new}`)
      .join(", ");
    historyList.append(element("li", `${change.at} ${change.channel} ${change.kind}: ${corrected || "변경 없음"}`));
  }
  historyList.append(
    element("li", "이전 버전의 내용은 저장되지 않습니다 (Products 테이블은 현재 버전만 보관). 위는 기록된 피드백 수정입니다.", "muted"),
  );
}

async function show(productId) {
  const url = new URL(window.location.href);
  url.searchParams.set("id", productId);
  history.replaceState(null, "", url);
  errorBox.hidden = true;
  statusLine.textContent = "상품을 불러오는 중…";
  delete statusLine.dataset.state;
  try {
    const report = await kbCall("GET", `/kb/products/${encodeURIComponent(productId)}`);
    render(report);
    statusLine.textContent = `상품 ${report.product_id} · 버전 v${report.version}`;
    statusLine.dataset.state = "done";
  } catch (error) {
    article.hidden = true;
    statusLine.textContent = "";
    statusLine.dataset.state = "error";
    showError(errorBox, error);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  show(input.value.trim());
});

const initial = new URL(window.location.href).searchParams.get("id");
if (initial) {
  input.value = initial;
  show(initial);
} else {
  statusLine.textContent = "상품 ID 를 입력하거나, 검색 결과·지식 트리에서 상품을 누르세요.";
}
