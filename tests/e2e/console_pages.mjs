// Drives the operator console (search, knowledge tree, product, north star, review queue) in headless
// Chromium; writes a screenshot of each page to ARTIFACTS_DIR and prints what it saw as one JSON object.
// Usage: node console_pages.mjs BASE_URL TOKEN PROPOSED_LEARNING_ID ARTIFACTS_DIR BATCH_SIZE REVIEW_PRODUCT_ID
import { chromium } from "playwright-core";
import path from "node:path";

const [baseUrl, token, proposedId, artifacts, batchSize, reviewId] = process.argv.slice(2);
if (!baseUrl || !token || !proposedId || !artifacts || !batchSize || !reviewId) {
  console.error(
    "usage: node console_pages.mjs BASE_URL TOKEN PROPOSED_LEARNING_ID ARTIFACTS_DIR BATCH_SIZE REVIEW_PRODUCT_ID",
  );
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
const report = { console_errors: [], external_requests: [] };
const origin = new URL(baseUrl).origin;

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "ko-KR" });
  const page = await context.newPage();
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith("data:")) report.external_requests.push(url);
  });
  page.on("pageerror", (error) => report.console_errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") report.console_errors.push(message.text());
  });
  return page;
}

const texts = (page, selector) => page.$$eval(selector, (nodes) => nodes.map((node) => node.textContent.trim()));
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, name), fullPage: true });

try {
  // ------------------------------------------------------------------ knowledge tree -> learning -> approve
  const page = await newPage();
  await page.goto(`${baseUrl}/kb.html#token=${encodeURIComponent(token)}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector('#status[data-state="done"]', { state: "attached" });
  const kb = {
    token_left_in_url: await page.evaluate(() => window.location.href.includes("token")),
    tree_nodes: await texts(page, ".node-name"),
    learning_ids: await page.$$eval(".learning-entry", (items) => items.map((item) => item.dataset.learningId)),
  };

  // Korean text: measured width of '가나다' against tofu, and the platform font Chromium used for the title.
  report.fonts = await page.evaluate(() => {
    const measure = (text) => {
      const span = document.createElement("span");
      span.style.fontSize = "16px";
      span.style.whiteSpace = "nowrap";
      span.textContent = text;
      document.body.append(span);
      const width = span.getBoundingClientRect().width;
      span.remove();
      return width;
    };
    return { korean_width: measure("가나다"), tofu_width: measure("\uFFFF\uFFFF\uFFFF") };
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("DOM.enable");
  await cdp.send("CSS.enable");
  const { root } = await cdp.send("DOM.getDocument");
  const { nodeId } = await cdp.send("DOM.querySelector", { nodeId: root.nodeId, selector: "h1" });
  const { fonts } = await cdp.send("CSS.getPlatformFontsForNode", { nodeId });
  report.fonts.platform_fonts = fonts.map((font) => font.familyName);

  await page.click(`.learning-entry[data-learning-id="${proposedId}"] a`);
  await page.waitForSelector(`#learning[data-learning-id="${proposedId}"]`);
  kb.shown = {
    text: await page.textContent("#learning-text"),
    facts: await page.textContent("#learning-facts"),
    status_before: await page.getAttribute("#learning", "data-status"),
    approve_enabled: await page.isEnabled("#approve-button"),
  };
  await page.fill("#reason", "화면에서 확인함");
  await page.click("#approve-button");
  await page.waitForSelector('#decision-status[data-state="done"]');
  await page.waitForSelector('#learning[data-status="active"]');
  await page.waitForSelector('#status[data-state="done"]', { state: "attached" });
  kb.approved = {
    status: await page.getAttribute("#learning", "data-status"),
    message: await page.textContent("#decision-status"),
    audit: await page.textContent("#audit"),
    approve_enabled: await page.isEnabled("#approve-button"),
  };
  await shot(page, "kb.png");
  // the active learning (the other one) lists the products it influenced
  const activeId = kb.learning_ids.find((id) => id !== proposedId);
  await page.click(`.learning-entry[data-learning-id="${activeId}"] a`);
  await page.waitForSelector(`#learning[data-learning-id="${activeId}"]`);
  kb.active_influenced = await texts(page, "#influenced tbody tr td:first-child");
  report.kb = kb;

  // ------------------------------------------------------------------------------------------ product page
  // Same tab: the token is in sessionStorage already.
  await page.goto(`${baseUrl}/product.html?id=km-0001`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector('#status[data-state="done"]', { state: "attached" });
  report.product = {
    title: await page.textContent("#product-title"),
    attributes: Object.fromEntries(
      await page.$$eval("#attributes tbody tr", (rows) =>
        rows.map((row) => [row.dataset.attribute, row.textContent]),
      ),
    ),
    decision: await page.textContent("#decision"),
    learnings: Object.fromEntries(
      await page.$$eval("#learnings tbody tr", (rows) => rows.map((row) => [row.dataset.learningId, row.textContent])),
    ),
    history: await texts(page, "#history li"),
  };
  await shot(page, "product.png");
  await page.fill("#product-id", "km-0097");
  await page.click("#product-button");
  await page.waitForFunction(() => document.querySelector("#product").dataset.productId === "km-0097");
  report.product_disagree = { decision: await page.textContent("#decision") };
  await page.fill("#product-id", "no-such-product");
  await page.click("#product-button");
  await page.waitForSelector('#status[data-state="error"]', { state: "attached" });
  report.product_missing = { error: await page.textContent("#error") };

  // ------------------------------------------------------------------------------------------- north star
  await page.goto(`${baseUrl}/metrics.html?group=batch&size=${batchSize}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector('#status[data-state="done"]', { state: "attached" });
  report.metrics = {
    points: Object.fromEntries(
      await page.$$eval("figure.chart-figure", (figures) =>
        figures.map((figure) => [figure.dataset.series, figure.querySelectorAll("circle.point").length]),
      ),
    ),
    overall: await page.textContent("#overall"),
    categories: await page.$$eval("#categories tbody tr", (rows) => rows.map((row) => row.dataset.category)),
  };
  await shot(page, "metrics.png");
  await page.selectOption("#group", "day");
  await page.click("#metrics-button");
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("날짜별"));
  report.metrics.day_points = await page.$$eval(
    'figure[data-series="disagreement_rate"] circle.point',
    (points) => points.length,
  );

  // ----------------------------------------------------------------------------------------- review queue
  // Same tab. The page opens the first waiting product (REVIEW_PRODUCT_ID, km-0097: 30 capsules of 500mg);
  // the reviewer picks a worker's candidate for pack_count, types a net_content, and saves: the product
  // leaves the queue.
  await page.goto(`${baseUrl}/review.html`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector('#status[data-state="done"]', { state: "attached" });
  const queued = () => page.$$eval("#queue > li", (items) => items.map((item) => item.dataset.productId));
  if ((await page.getAttribute("#item", "data-product-id")) !== reviewId) {
    await page.click(`#queue > li[data-product-id="${reviewId}"] a`);
  }
  await page.waitForSelector(`#item[data-product-id="${reviewId}"]`);
  const review = {
    queue_before: await queued(),
    title: await page.textContent("#item-title"),
    facts: await page.textContent("#item-facts"),
    attributes: Object.fromEntries(
      await page.$$eval("fieldset[data-attribute]", (sets) => sets.map((set) => [set.dataset.attribute, set.textContent])),
    ),
    nav: await texts(page, ".site-nav a"),
  };
  await page.click("#decide-button"); // nothing chosen yet: refused in the page, nothing sent
  await page.waitForSelector('#decide-status[data-state="error"]', { state: "attached" });
  review.nothing_chosen = await page.textContent("#decide-status");
  await page.check('fieldset[data-attribute="pack_count"] input[data-value="30"]');
  await page.fill('fieldset[data-attribute="net_content"] .typed-value', "15g");
  await page.fill("#reason", "포장에서 확인함");
  await shot(page, "review.png");
  await page.click("#decide-button");
  await page.waitForSelector('#decided[data-state="done"]', { state: "attached" });
  review.decided = {
    message: await page.textContent("#decided"),
    item_hidden: await page.isHidden("#item"),
    queue_after: await queued(),
    status: await page.textContent("#status"),
  };
  await page.goto(`${baseUrl}/product.html?id=${encodeURIComponent(reviewId)}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector('#status[data-state="done"]', { state: "attached" });
  review.product_after = {
    facts: await page.textContent("#product-facts"),
    net_content: await page.textContent('#attributes tbody tr[data-attribute="net_content"]'),
    history: await texts(page, "#history li"),
  };
  report.review = review;

  // -------------------------------------------------------------- a new tab without the token in its URL
  const fresh = await newPage();
  await fresh.goto(`${baseUrl}/metrics.html`, { waitUntil: "domcontentloaded" });
  await fresh.waitForSelector("#token-panel:not([hidden])");
  report.paste = { panel_shown: true };
  await fresh.fill("#token-input", token);
  await fresh.click("#token-save");
  await fresh.waitForSelector('#status[data-state="done"]', { state: "attached" });
  report.paste.loaded = await fresh.isHidden("#token-panel");

  // --------------------------------------------------------------------------------------------- search
  const search = {};
  await fresh.goto(`${baseUrl}/`, { waitUntil: "domcontentloaded" });
  search.sort_options = await fresh.$$eval("#sort option", (options) => options.map((option) => option.value));
  await fresh.evaluate(() => {
    // a page size the select does not offer: 2, so the five products page
    const option = document.createElement("option");
    option.value = "2";
    option.textContent = "2개씩";
    document.querySelector("#size").append(option);
  });
  await fresh.selectOption("#size", "2");
  await fresh.fill("#q", "야쿠르트");
  await fresh.click("#search-button");
  await fresh.waitForSelector('#status[data-state="done"]', { state: "attached" });
  const ids = () => fresh.$$eval("#results > li", (items) => items.map((item) => item.dataset.productId));
  search.page1 = { info: await fresh.textContent("#page-info"), ids: await ids() };
  await fresh.click("#next-page");
  await fresh.waitForFunction(() => document.querySelector("#pager").dataset.page === "2");
  await fresh.waitForSelector('#status[data-state="done"]', { state: "attached" });
  search.page2 = { info: await fresh.textContent("#page-info"), ids: await ids() };

  await fresh.fill("#q", "야구르트");
  await fresh.click("#search-button");
  await fresh.waitForFunction(() => document.querySelector("#status").textContent.includes("야구르트"));
  search.typo = {
    kinds: await fresh.$$eval("#plan li[data-variant-kind]", (items) => items.map((item) => item.dataset.variantKind)),
    plan: await fresh.textContent("#plan"),
  };
  await fresh.waitForSelector("#comment[data-state]", { state: "attached" });
  await shot(fresh, "search.png");

  await fresh.selectOption("#sort", "value");
  await fresh.fill("#q", "야쿠르트 65ml");
  await fresh.click("#search-button");
  await fresh.waitForFunction(() => document.querySelector("#status").textContent.includes("65ml"));
  search.value_sort = {
    state: await fresh.getAttribute("#status", "data-state"),
    plan: await fresh.textContent("#plan"),
  };
  await fresh.waitForSelector("#comment[data-state]", { state: "attached" }); // nothing left in flight
  report.search = { ...search, sort_options: search.sort_options };
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
