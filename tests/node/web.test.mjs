// The page at GET / in a real headless browser (Debian's chromium, driven by
// puppeteer-core): with --api-key set, type the key, pick a sample image,
// ask its question, wait for the default model's expected answer to stream
// in, check the timings, attempts and the live workers table, then a typed
// error (a file that is no image). Saves docs/img/web-page.png.
//   CHROMIUM: the browser (default /usr/bin/chromium).
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import puppeteer from "puppeteer-core";
import { questions, repo, startServer } from "./harness.mjs";

const KEY = "web-test-key";
let server, browser;

before(async () => {
  server = await startServer(["--workers", "1", "--threads", "2", "--api-key", KEY]);
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("GET / serves the page to browsers and a line to everything else", async () => {
  const html = await fetch(server.url + "/", { headers: { Accept: "text/html" } });
  assert.equal(html.status, 200);
  assert.match(html.headers.get("content-type"), /^text\/html/);
  assert.match(html.headers.get("content-security-policy"), /default-src 'none'/);
  const body = await html.text();
  assert.doesNotMatch(body, /(src|href)="https?:/, "the page fetches nothing from elsewhere");
  const plain = await fetch(server.url + "/");
  assert.match(plain.headers.get("content-type"), /^text\/plain/);
});

test("upload a sample, ask, see the expected answer stream in", async () => {
  const file = "02-corners.jpg";
  const [question, expected] = questions[file][0];
  const page = await browser.newPage();
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(server.url) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) external.push(r.url()); });
  await page.setViewport({ width: 1200, height: 820 });
  await page.goto(server.url + "/", { waitUntil: "load" });
  // Without the key the workers panel says so.
  await page.waitForFunction(() => /API key/.test(document.getElementById("workers-note").textContent));
  await page.type("#key", KEY);
  await page.keyboard.press("Tab");  // change event: the key is used from now on
  await page.waitForFunction(() => document.querySelectorAll("#workers tr").length > 0, { timeout: 10000 });
  const input = await page.$("#file");
  await input.uploadFile(path.join(repo, "samples", file));
  await page.waitForFunction(() => /KiB/.test(document.getElementById("imginfo").textContent));
  await page.$eval("#prompt", (el) => { el.value = ""; });
  await page.type("#prompt", question);
  await page.keyboard.down("Control");
  await page.keyboard.press("Enter");  // keyboard: Ctrl+Enter asks
  await page.keyboard.up("Control");
  await page.waitForFunction(() => document.getElementById("status").textContent === "done", { timeout: 30000 });
  const answer = await page.$eval("#answer", (el) => el.textContent.trim());
  assert.equal(answer, expected);
  const attempts = await page.$eval('#timings dd[data-k="attempts"]', (el) => el.textContent);
  assert.equal(attempts, "1");
  assert.match(await page.$eval('#timings dd[data-k="total"]', (el) => el.textContent), /ms$/);
  // The workers table follows /v1/workers live: the worker is idle again.
  await page.waitForFunction(() => [...document.querySelectorAll("#workers td:nth-child(2)")]
    .some((td) => td.textContent === "idle"), { timeout: 10000 });
  await page.screenshot({ path: path.join(repo, "docs/img/web-page.png") });
  // Phone width: nothing wider than the screen.
  await page.setViewport({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, "page overflows a phone screen by " + overflow + " px");
  assert.deepEqual(external, []);
  await page.close();
});

test("a file that is no image gets its typed message", async () => {
  const page = await browser.newPage();
  await page.goto(server.url + "/", { waitUntil: "load" });
  await page.evaluate((k) => localStorage.setItem("vigil-key", k), KEY);
  await page.reload({ waitUntil: "load" });
  const junk = path.join(mkdtempSync(path.join(tmpdir(), "vigil-web-")), "junk.png");
  writeFileSync(junk, "this is not a png, whatever its name says");
  await (await page.$("#file")).uploadFile(junk);
  await page.waitForFunction(() => /KiB/.test(document.getElementById("imginfo").textContent));
  await page.click("#ask");
  await page.waitForFunction(() => document.getElementById("error").style.display === "block", { timeout: 15000 });
  assert.equal(await page.$eval("#error", (el) => el.dataset.type), "unsupported_image_format");
  await page.close();
});
