// The knowledge tree: GET /kb/tree (the categories) and GET /kb/export (the learnings, grouped by scope);
// a learning opens with GET /kb/learnings/{id}; approve / retire are POST .../approve and .../retire.
import { element, kbCall, learningHref, link, productHref, showError } from "/common.js";

const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const treeList = document.getElementById("tree");
const showRetired = document.getElementById("show-retired");
const detail = document.getElementById("learning");
const learningTitle = document.getElementById("learning-title");
const learningText = document.getElementById("learning-text");
const facts = document.getElementById("learning-facts");
const decisionForm = document.getElementById("decision-form");
const reasonInput = document.getElementById("reason");
const approveButton = document.getElementById("approve-button");
const retireButton = document.getElementById("retire-button");
const decisionStatus = document.getElementById("decision-status");
const influencedBody = document.querySelector("#influenced tbody");
const influencedEmpty = document.getElementById("influenced-empty");
const auditList = document.getElementById("audit");

const STATUS_LABELS = { proposed: "제안됨", active: "활성", retired: "은퇴" };
let current = null; // the learning shown

const pathKey = (path) => JSON.stringify(path);
const pathLabel = (path) => (path.length ? path.join(" > ") : "(전체)");

function statusBadge(status) {
  return element("span", STATUS_LABELS[status] || status, `badge status-${status}`);
}

function renderTree(nodes, learnings) {
  const byNode = new Map();
  for (const learning of learnings) {
    if (learning.status === "retired" && !showRetired.checked) continue;
    const key = pathKey(learning.scope_path);
    if (!byNode.has(key)) byNode.set(key, []);
    byNode.get(key).push(learning);
  }
  const byPath = new Map(nodes.map((node) => [pathKey(node.path), node]));
  const rendered = new Set();

  function nodeItem(node) {
    rendered.add(pathKey(node.path));
    const item = element("li", null, "tree-node");
    item.dataset.path = node.path.join("/");
    const details = element("details");
    details.open = nodes.length <= 30 || node.path.length < 2; // a small tree opens fully
    const summary = element("summary");
    summary.append(element("span", node.path.length ? node.path[node.path.length - 1] : "(전체)", "node-name"));
    summary.append(element("span", ` 학습 ${node.learning_count}`, "muted"));
    details.append(summary);
    const own = byNode.get(pathKey(node.path)) || [];
    if (own.length) {
      const list = element("ul", null, "learnings");
      for (const learning of own) {
        const entry = element("li", null, "learning-entry");
        entry.dataset.learningId = learning.id;
        const anchor = link(learningHref(learning.id), learning.text, "learning-link");
        anchor.addEventListener("click", (event) => {
          event.preventDefault();
          openLearning(learning.id);
        });
        entry.append(statusBadge(learning.status), " ", anchor);
        list.append(entry);
      }
      details.append(list);
    }
    const children = element("ul", null, "children");
    for (const name of node.children) {
      const child = byPath.get(pathKey([...node.path, name]));
      if (child) children.append(nodeItem(child));
    }
    if (children.childElementCount) details.append(children);
    item.append(details);
    return item;
  }

  treeList.replaceChildren();
  const roots = nodes.filter((node) => node.path.length === 0);
  const tops = roots.length ? roots : nodes.filter((node) => node.path.length === 1);
  for (const node of tops) treeList.append(nodeItem(node));
  // A node no parent lists (an inconsistent import) is still shown, at the top level.
  for (const node of nodes) if (!rendered.has(pathKey(node.path))) treeList.append(nodeItem(node));
}

async function loadTree() {
  statusLine.textContent = "지식 트리를 불러오는 중…";
  delete statusLine.dataset.state;
  errorBox.hidden = true;
  try {
    const [nodes, snapshot] = await Promise.all([kbCall("GET", "/kb/tree"), kbCall("GET", "/kb/export")]);
    renderTree(nodes, snapshot.learnings);
    const live = snapshot.learnings.filter((l) => l.status !== "retired").length;
    statusLine.textContent = nodes.length
      ? `카테고리 ${nodes.length}개, 학습 ${snapshot.learnings.length}개 (활성·제안 ${live}개)`
      : "지식 베이스가 비어 있습니다. 상품이 처리되면 감독자가 학습을 제안합니다.";
    statusLine.dataset.state = "done";
  } catch (error) {
    statusLine.textContent = "";
    statusLine.dataset.state = "error";
    showError(errorBox, error);
  }
}

function fact(term, value) {
  facts.append(element("dt", term));
  const dd = element("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === null || value === undefined || value === "" ? "없음" : String(value);
  facts.append(dd);
}

function directiveText(directive) {
  const parts = [directive.type];
  if (directive.attribute) parts.push(`속성 ${directive.attribute}`);
  for (const [key, value] of Object.entries(directive)) {
    if (key === "type" || key === "attribute") continue;
    parts.push(`${key}: ${Array.isArray(value) ? value.join(", ") : JSON.stringify(value)}`);
  }
  return parts.join(" · ");
}

function renderLearning(shown) {
  const learning = shown.learning;
  current = learning;
  detail.hidden = false;
  detail.dataset.learningId = learning.id;
  detail.dataset.status = learning.status;
  learningTitle.textContent = `학습 ${learning.id} (v${learning.version})`;
  learningText.textContent = learning.text;
  facts.replaceChildren();
  fact("상태", statusBadge(learning.status));
  fact("지시(directive)", directiveText(learning.directive));
  fact("범위", pathLabel(learning.scope_path));
  fact("속성", learning.attributes.join(", "));
  fact("도움 / 해로움", `${learning.helpful} / ${learning.harmful}`);
  fact("지지 횟수", learning.support_count);
  fact("출처 채널", learning.source_channel);
  const provenance = element("div");
  const products = learning.provenance.product_ids;
  if (products.length) {
    const line = element("div", "상품: ");
    products.forEach((id, index) => {
      if (index) line.append(", ");
      line.append(link(productHref(id), id));
    });
    provenance.append(line);
  }
  if (learning.provenance.model_ids.length) provenance.append(element("div", `모델: ${learning.provenance.model_ids.join(", ")}`));
  for (const evidence of learning.provenance.evidence) provenance.append(element("div", `근거: ${evidence}`, "muted"));
  if (!provenance.childElementCount) provenance.textContent = "없음";
  fact("출처(provenance)", provenance);
  fact("유효 기간", `${learning.valid_from} ~ ${learning.valid_to ?? "현재"}`);
  if (learning.supersedes.length) fact("대체한 학습", learning.supersedes.join(", "));
  if (learning.superseded_by) fact("대체된 학습", learning.superseded_by);

  approveButton.disabled = learning.status !== "proposed";
  retireButton.disabled = learning.status === "retired";
  reasonInput.disabled = learning.status === "retired";

  influencedBody.replaceChildren();
  for (const influence of shown.influenced) {
    const row = element("tr");
    const cell = element("td");
    cell.append(link(productHref(influence.product_id), influence.product_id));
    row.append(cell, element("td", influence.product_version), element("td", influence.learning_version), element("td", influence.at));
    influencedBody.append(row);
  }
  influencedEmpty.hidden = shown.influenced.length > 0;

  auditList.replaceChildren();
  for (const entry of learning.audit) auditList.append(element("li", `${entry.at} ${entry.actor} ${entry.action}: ${entry.reason}`));
  if (!learning.audit.length) auditList.append(element("li", "기록 없음", "muted"));
}

async function openLearning(learningId) {
  decisionStatus.textContent = "";
  errorBox.hidden = true;
  const url = new URL(window.location.href);
  url.searchParams.set("learning", learningId);
  history.replaceState(null, "", url);
  try {
    renderLearning(await kbCall("GET", `/kb/learnings/${encodeURIComponent(learningId)}`));
  } catch (error) {
    detail.hidden = true;
    showError(errorBox, error);
  }
}

decisionForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!current) return;
  const action = event.submitter && event.submitter.value === "retire" ? "retire" : "approve";
  decisionStatus.textContent = action === "approve" ? "승인하는 중…" : "은퇴시키는 중…";
  delete decisionStatus.dataset.state;
  try {
    const changed = await kbCall("POST", `/kb/learnings/${encodeURIComponent(current.id)}/${action}`, null, {
      reason: reasonInput.value,
    });
    reasonInput.value = "";
    await openLearning(changed.id);
    decisionStatus.textContent = action === "approve" ? "승인했습니다. 이제 프롬프트에 사용됩니다." : "은퇴시켰습니다.";
    decisionStatus.dataset.state = "done";
    loadTree();
  } catch (error) {
    decisionStatus.textContent = error.message;
    decisionStatus.dataset.state = "error";
  }
});

showRetired.addEventListener("change", loadTree);

await loadTree();
const initial = new URL(window.location.href).searchParams.get("learning");
if (initial) openLearning(initial);
