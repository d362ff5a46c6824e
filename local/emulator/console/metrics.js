// The north star: GET /kb/metrics, drawn as hand-made SVG line charts (no chart library: works offline).
import { element, kbCall, percent, showError, usd } from "/common.js";

const SVG = "http://www.w3.org/2000/svg";
const form = document.getElementById("metrics-form");
const groupSelect = document.getElementById("group");
const sizeInput = document.getElementById("batch-size");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const overallSection = document.getElementById("overall-section");
const overall = document.getElementById("overall");
const charts = document.getElementById("charts");
const chartList = document.getElementById("chart-list");
const categorySection = document.getElementById("category-section");
const categoryBody = document.querySelector("#categories tbody");

const SERIES = [
  { key: "disagreement_rate", title: "불일치율", rate: true },
  { key: "supervisor_rate", title: "감독자 호출률", rate: true },
  { key: "agreed_path_precision", title: "합의 경로 정밀도 (감사 표본 추정)", rate: true },
  { key: "cost_per_product", title: "상품당 비용 (USD)", rate: false },
];

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function format(spec, value) {
  return spec.rate ? percent(value) : usd(value);
}

// A line chart of one series: a circle per point with a value, lines between consecutive points.
function lineChart(spec, points) {
  const width = 560;
  const height = 220;
  const pad = { left: 56, right: 16, top: 16, bottom: 40 };
  const values = points.map((point) => point[spec.key]);
  const known = values.filter((value) => value !== null && value !== undefined);
  const top = spec.rate ? 1 : Math.max(...known, 0) * 1.15 || 1;
  const x = (index) =>
    pad.left + (points.length === 1 ? (width - pad.left - pad.right) / 2 : (index * (width - pad.left - pad.right)) / (points.length - 1));
  const y = (value) => pad.top + (1 - value / top) * (height - pad.top - pad.bottom);

  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `${spec.title}: ${points.length}개 구간`,
    class: "chart",
    "data-series": spec.key,
  });
  chart.append(svg("title", {}, spec.title));
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: "grid-line" }));
    chart.append(svg("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis" }, format(spec, value)));
  }
  const labels = points.length > 1 ? [0, points.length - 1] : [0];
  for (const index of labels) {
    chart.append(svg("text", { x: x(index), y: height - 14, "text-anchor": "middle", class: "axis" }, points[index].label));
  }
  let previous = null;
  values.forEach((value, index) => {
    if (value === null || value === undefined) {
      previous = null;
      return;
    }
    if (previous !== null) {
      chart.append(svg("line", { x1: x(previous[0]), y1: y(previous[1]), x2: x(index), y2: y(value), class: "series-line" }));
    }
    previous = [index, value];
  });
  values.forEach((value, index) => {
    if (value === null || value === undefined) return;
    const point = svg("circle", { cx: x(index), cy: y(value), r: 4, class: "point", "data-label": points[index].label });
    point.append(svg("title", {}, `${points[index].label}: ${format(spec, value)} (상품 ${points[index].products}개)`));
    chart.append(point);
  });
  const figure = element("figure", null, "chart-figure");
  figure.dataset.series = spec.key;
  figure.append(chart);
  const missing = values.length - known.length;
  figure.append(element("figcaption", missing ? `${spec.title} · 값이 없는 구간 ${missing}개` : spec.title));
  return figure;
}

function card(term, value) {
  const box = element("div", null, "card");
  box.append(element("dt", term), element("dd", value));
  overall.append(box);
}

function render(metrics) {
  const all = metrics.overall;
  overall.replaceChildren();
  card("처리된 상품", `${all.products}개` + (metrics.undecided_products ? ` (대기 ${metrics.undecided_products}개 제외)` : ""));
  card("불일치율", percent(all.disagreement_rate));
  card("감독자 호출률", percent(all.supervisor_rate));
  card("합의 경로 정밀도", all.audited_values ? `${percent(all.agreed_path_precision)} (감사 값 ${all.audited_values}개)` : "알 수 없음 (감사 표본 없음)");
  card("상품당 비용", usd(all.cost_per_product));
  overallSection.hidden = false;

  chartList.replaceChildren();
  charts.hidden = false;
  charts.dataset.points = String(metrics.series.length);
  if (!metrics.series.length) {
    chartList.append(element("p", "아직 처리된 상품이 없습니다. `cataloop demo` 를 실행해 보세요.", "muted"));
  } else {
    for (const spec of SERIES) chartList.append(lineChart(spec, metrics.series));
  }

  categoryBody.replaceChildren();
  for (const category of metrics.by_category) {
    const row = element("tr");
    row.dataset.category = category.category;
    row.append(
      element("td", category.category),
      element("td", category.products),
      element("td", percent(category.disagreement_rate)),
      element("td", percent(category.supervisor_rate)),
      element("td", percent(category.agreed_path_precision)),
      element("td", usd(category.cost_per_product)),
    );
    categoryBody.append(row);
  }
  categorySection.hidden = metrics.by_category.length === 0;
}

async function load() {
  const params = { group: groupSelect.value, size: sizeInput.value || "50" };
  const url = new URL(window.location.href);
  url.search = new URLSearchParams(params).toString();
  history.replaceState(null, "", url);
  errorBox.hidden = true;
  statusLine.textContent = "지표를 계산하는 중…";
  delete statusLine.dataset.state;
  try {
    const metrics = await kbCall("GET", "/kb/metrics", params);
    render(metrics);
    const unit = metrics.group === "day" ? "날짜별" : `처리 순서 ${metrics.batch_size}개씩`;
    statusLine.textContent = `${unit} · 구간 ${metrics.series.length}개`;
    statusLine.dataset.state = "done";
  } catch (error) {
    statusLine.textContent = "";
    statusLine.dataset.state = "error";
    showError(errorBox, error);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
sizeInput.disabled = groupSelect.value === "day";
groupSelect.addEventListener("change", () => {
  sizeInput.disabled = groupSelect.value === "day";
});

const initial = new URL(window.location.href).searchParams;
if (initial.get("group") === "day") groupSelect.value = "day";
if (initial.get("size")) sizeInput.value = initial.get("size");
sizeInput.disabled = groupSelect.value === "day";
load();
