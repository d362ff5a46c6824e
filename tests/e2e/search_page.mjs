// Drives the local search console in headless Chromium; prints what it saw as one JSON object.
// Usage: node search_page.mjs BASE_URL   (CHROMIUM_PATH selects the browser, default /usr/bin/chromium)
import { chromium } from "playwright-core";

const baseUrl = process.argv[2];
if (!baseUrl) {
  console.error("usage: node search_page.mjs BASE_URL");
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
const report = { requests: [], console_errors: [] };
try {
  const page = await browser.newPage();
  page.on("request", (request) => report.requests.push(["request", new URL(request.url()).pathname]));
  page.on("response", (response) => report.requests.push(["response", new URL(response.url()).pathname]));
  page.on("pageerror", (error) => report.console_errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") report.console_errors.push(message.text());
  });

  await page.goto(baseUrl + "/", { waitUntil: "domcontentloaded" });
  report.title = await page.title();

  // 1. A food query: results and the plan, then the comment by its own request.
  await page.fill("#q", "마시는 야쿠르트");
  await page.click("#search-button");
  await page.waitForSelector('#status[data-state="done"]');
  report.food = {
    status: await page.textContent("#status"),
    result_ids: await page.$$eval("#results > li", (items) => items.map((item) => item.dataset.productId)),
    plan: await page.textContent("#plan"),
  };
  await page.waitForSelector('#comment[data-state="loaded"]');
  report.food.comment = await page.textContent("#comment-text");
  report.food.comment_source = await page.textContent("#comment-source");

  // 2. Initial consonants: the plan shows the variant.
  await page.fill("#q", "ㅇㅋㄹㅌ");
  await page.click("#search-button");
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("ㅇㅋㄹㅌ"));
  report.chosung = {
    result_ids: await page.$$eval("#results > li", (items) => items.map((item) => item.dataset.productId)),
    plan: await page.textContent("#plan"),
  };

  // 3. Markup in the query is shown as text, never run.
  await page.fill("#q", '<img src=x onerror="window.__xss=1">야쿠르트');
  await page.click("#search-button");
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("<img"));
  report.markup = {
    executed: await page.evaluate(() => window.__xss === 1),
    images_in_page: await page.$$eval("img", (images) => images.length),
  };

  // 4. A query the API refuses: the message is shown.
  await page.fill("#q", "🥛🥛🥛");
  await page.click("#search-button");
  await page.waitForSelector("#error:not([hidden])");
  report.refused = { error: await page.textContent("#error"), results: await page.$$eval("#results > li", (i) => i.length) };
  // 5. A product's exact name: page 1 is that product; the keyword results for the name are on page 2.
  await page.fill("#q", "야쿠르트 오리지널 65ml x 5개");
  await page.click("#search-button");
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("정확히 일치"));
  report.exact = {
    status: await page.textContent("#status"),
    result_ids: await page.$$eval("#results > li", (items) => items.map((item) => item.dataset.productId)),
    reasons: await page.$$eval(".result-reasons li", (items) => items.map((item) => item.textContent)),
    plan: await page.textContent("#plan"),
    pager_hidden: await page.$eval("#pager", (pager) => pager.hidden),
    next_disabled: await page.$eval("#next-page", (button) => button.disabled),
  };
  await page.click("#next-page");
  await page.waitForFunction(() => document.querySelector("#pager").dataset.page === "2" && document.querySelector('#status[data-state="done"]'));
  report.exact.page_two = {
    status: await page.textContent("#status"),
    first_number: await page.$eval("#results", (list) => list.start),
    reasons: await page.$$eval(".result-reasons li", (items) => items.map((item) => item.textContent)),
    result_ids: await page.$$eval("#results > li", (items) => items.map((item) => item.dataset.productId)),
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
