// The human-review queue: GET /kb/review (the products waiting for a reviewer), GET /kb/review/{id} (one of
// them: per attribute the value it holds now, each worker's value, the evaluator's verdict and the candidate
// values) and POST /kb/review/{id}/decide ({decisions: {attribute: value or null}, reason}). The reviewer is
// the caller's identity (IAM in AWS; `local-developer` on the local server).
import { element, kbCall, link, productHref, showError } from "/common.js";

const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const decidedLine = document.getElementById("decided");
const queueList = document.getElementById("queue");
const queueEmpty = document.getElementById("queue-empty");
const itemSection = document.getElementById("item");
const itemTitle = document.getElementById("item-title");
const itemFacts = document.getElementById("item-facts");
const attributesBox = document.getElementById("attributes");
const decideForm = document.getElementById("decide-form");
const reasonInput = document.getElementById("reason");
const decideButton = document.getElementById("decide-button");
const decideStatus = document.getElementById("decide-status");

const SOURCES = {
  generator: "작업자 A",
  generator_b: "작업자 B",
  evaluator: "평가자 제안",
  supervisor: "현재 값(감독자)",
};
const VERDICTS = {
  ok: "정상",
  ambiguous: "모호함",
  missing_context: "맥락 부족",
  misread: "잘못 읽음",
  unsupported: "근거 없음",
};
const DECISIONS = { AGREE: "합의 (AGREE)", DISAGREE: "불일치 (DISAGREE)", AUDIT: "감사 표본 (AUDIT)" };
let current = null; // the item shown

const sourceLabel = (source) => SOURCES[source] || source;

function fact(term, value) {
  itemFacts.append(element("dt", term));
  const dd = element("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === null || value === undefined || value === "" ? "없음" : String(value);
  itemFacts.append(dd);
}

function renderQueue(items) {
  queueList.replaceChildren();
  for (const item of items) {
    const entry = element("li", null, "queue-entry");
    entry.dataset.productId = item.product_id;
    if (current && current.item.product_id === item.product_id) entry.setAttribute("aria-current", "true");
    const anchor = link(`/review.html?${new URLSearchParams({ id: item.product_id })}`, item.title, "queue-link");
    anchor.addEventListener("click", (event) => {
      event.preventDefault();
      openItem(item.product_id);
    });
    const open = [...item.unresolved, ...item.disputed.filter((name) => !item.unresolved.includes(name))];
    entry.append(
      anchor,
      element("div", `${item.product_id} · v${item.version} · ${item.category_path.join(" > ")}`, "muted"),
      element("div", `검토할 속성: ${open.join(", ") || "(지정 없음)"}`, "muted"),
    );
    queueList.append(entry);
  }
  queueEmpty.hidden = items.length > 0;
}

async function loadQueue() {
  statusLine.textContent = "검토 대기열을 불러오는 중…";
  delete statusLine.dataset.state;
  try {
    const items = await kbCall("GET", "/kb/review");
    renderQueue(items);
    statusLine.textContent = items.length ? `검토를 기다리는 상품 ${items.length}개` : "검토를 기다리는 상품이 없습니다.";
    statusLine.dataset.state = "done";
    return items;
  } catch (error) {
    statusLine.textContent = "";
    statusLine.dataset.state = "error";
    showError(errorBox, error);
    return [];
  }
}

function choice(name, value, label, checked) {
  const wrapper = element("label", null, "choice");
  const input = element("input");
  input.type = "radio";
  input.name = name;
  input.value = value;
  input.checked = checked;
  wrapper.append(input, " ", label);
  return { wrapper, input };
}

function attributeFieldset(attribute, index) {
  const fieldset = element("fieldset", null, "review-attribute");
  fieldset.dataset.attribute = attribute.name;
  const legend = element("legend");
  legend.append(element("span", attribute.name, "node-name"));
  if (attribute.unresolved) legend.append(" ", element("span", "미해결", "badge status-proposed"));
  if (attribute.disputed) legend.append(" ", element("span", "불일치", "badge"));
  fieldset.append(legend);

  const facts = element("dl", null, "facts");
  const add = (term, value) => {
    facts.append(element("dt", term), element("dd", value === null || value === undefined || value === "" ? "없음" : value));
  };
  const confidence = typeof attribute.proposal_confidence === "number" ? ` (신뢰도 ${attribute.proposal_confidence.toFixed(2)})` : "";
  add("현재 값(감독자 제안)", attribute.proposal === null ? "없음 (값을 정하지 못함)" : `${attribute.proposal}${confidence}`);
  for (const worker of attribute.workers) {
    const parts = [worker.value ?? "추출 안 함"];
    if (typeof worker.confidence === "number") parts.push(`신뢰도 ${worker.confidence.toFixed(2)}`);
    if (worker.evidence) parts.push(`근거 ${worker.evidence}`);
    add(`${sourceLabel(worker.role)} (${worker.model_id || "?"})`, parts.join(" · "));
  }
  if (attribute.verdict) {
    const suggestion = attribute.suggested_value ? ` · 제안 값 ${attribute.suggested_value}` : "";
    add("평가자 판정", `${VERDICTS[attribute.verdict] || attribute.verdict}${suggestion} · ${attribute.verdict_reason || ""}`);
  }
  fieldset.append(facts);

  const name = `decision-${index}`;
  const choices = element("div", null, "choices");
  choices.append(choice(name, "keep", "그대로 두기 (결정하지 않음)", true).wrapper);
  attribute.candidates.forEach((candidate, position) => {
    const { wrapper, input } = choice(name, "candidate", `${candidate.value} — ${candidate.sources.map(sourceLabel).join(", ")}`, false);
    input.dataset.value = candidate.value;
    wrapper.dataset.candidate = String(position);
    choices.append(wrapper);
  });
  const typed = choice(name, "typed", "직접 입력:", false);
  const text = element("input");
  text.type = "text";
  text.maxLength = 200;
  text.className = "typed-value";
  text.setAttribute("aria-label", `${attribute.name} 값 직접 입력`);
  text.addEventListener("input", () => {
    typed.input.checked = text.value.trim() !== "";
  });
  typed.wrapper.append(" ", text);
  choices.append(typed.wrapper);
  choices.append(choice(name, "clear", "값 지우기", false).wrapper);
  fieldset.append(choices);
  return fieldset;
}

function renderItem(detail) {
  current = detail;
  const item = detail.item;
  itemSection.hidden = false;
  itemSection.dataset.productId = item.product_id;
  itemTitle.textContent = item.title;
  itemFacts.replaceChildren();
  fact("ID", link(productHref(item.product_id), item.product_id));
  fact("버전", `v${item.version}`);
  fact("카테고리", item.category_path.join(" > "));
  fact("합의 결정", detail.decision ? DECISIONS[detail.decision] || detail.decision : null);
  const supervisor = detail.supervisor;
  fact(
    "감독자",
    supervisor ? `${supervisor.model_id || "?"} · 신뢰도 ${supervisor.confidence} · 미해결: ${(supervisor.unresolved || []).join(", ") || "없음"}` : "호출되지 않음",
  );
  fact("감독자 사유", supervisor ? supervisor.reason : null);
  if (detail.consensus_reasons.length) {
    const reasons = element("ul");
    for (const reason of detail.consensus_reasons) reasons.append(element("li", reason));
    fact("합의 사유", reasons);
  }
  attributesBox.replaceChildren(...detail.attributes.map(attributeFieldset));
  if (!detail.attributes.length) attributesBox.append(element("p", "검토할 속성이 없습니다.", "muted"));
  reasonInput.value = "";
  decideStatus.textContent = "";
  delete decideStatus.dataset.state;
  decideButton.disabled = false;
  for (const entry of queueList.children) {
    if (entry.dataset.productId === item.product_id) entry.setAttribute("aria-current", "true");
    else entry.removeAttribute("aria-current");
  }
}

async function openItem(productId) {
  errorBox.hidden = true;
  const url = new URL(window.location.href);
  url.searchParams.set("id", productId);
  history.replaceState(null, "", url);
  try {
    renderItem(await kbCall("GET", `/kb/review/${encodeURIComponent(productId)}`));
  } catch (error) {
    current = null;
    itemSection.hidden = true;
    showError(errorBox, error);
  }
}

function collectDecisions() {
  const decisions = {};
  const problems = [];
  for (const fieldset of attributesBox.querySelectorAll("fieldset[data-attribute]")) {
    const picked = fieldset.querySelector("input[type=radio]:checked");
    if (!picked || picked.value === "keep") continue;
    const name = fieldset.dataset.attribute;
    if (picked.value === "candidate") decisions[name] = picked.dataset.value;
    else if (picked.value === "clear") decisions[name] = null;
    else {
      const typed = fieldset.querySelector(".typed-value").value.trim();
      if (!typed) problems.push(`${name}: 직접 입력할 값을 적으세요`);
      else decisions[name] = typed;
    }
  }
  return { decisions, problems };
}

decideForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!current) return;
  const { decisions, problems } = collectDecisions();
  if (problems.length || !Object.keys(decisions).length) {
    decideStatus.textContent = problems.length ? problems.join("; ") : "결정할 속성을 하나 이상 고르세요 (후보 선택, 직접 입력 또는 값 지우기).";
    decideStatus.dataset.state = "error";
    return;
  }
  decideButton.disabled = true;
  decideStatus.textContent = "결정을 저장하는 중…";
  delete decideStatus.dataset.state;
  const productId = current.item.product_id;
  try {
    const result = await kbCall("POST", `/kb/review/${encodeURIComponent(productId)}/decide`, null, {
      decisions,
      reason: reasonInput.value.trim(),
    });
    const changed = Object.entries(result.changed)
      .map(([name, change]) => `${name}: ${change.old ?? "없음"} → ${change.new ?? "없음"}`)
      .join(", ");
    const learned = result.placed.reduce((count, placed) => count + placed.learning_ids.length, 0);
    current = null;
    itemSection.hidden = true;
    delete itemSection.dataset.productId;
    decidedLine.textContent =
      `상품 ${result.product_id} 결정을 저장했습니다 (버전 v${result.version}, 검토자 ${result.reviewer}). ` +
      `${changed ? `변경: ${changed}` : "바뀐 값 없음"} · 학습 ${learned}개 반영`;
    decidedLine.dataset.productId = result.product_id;
    decidedLine.hidden = false;
    const url = new URL(window.location.href);
    url.searchParams.delete("id");
    history.replaceState(null, "", url);
    await loadQueue();
    decidedLine.dataset.state = "done";
  } catch (error) {
    decideButton.disabled = false;
    decideStatus.textContent = error.message;
    decideStatus.dataset.state = "error";
  }
});

// A refusal shown for an earlier try goes once the reviewer changes the form.
decideForm.addEventListener("input", () => {
  if (decideStatus.dataset.state !== "error") return;
  decideStatus.textContent = "";
  delete decideStatus.dataset.state;
});

const items = await loadQueue();
const initial = new URL(window.location.href).searchParams.get("id");
if (initial) openItem(initial);
else if (items.length) openItem(items[0].product_id);
