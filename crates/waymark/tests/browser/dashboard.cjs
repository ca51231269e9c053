// The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
// browser download). Run by tests/browser.rs with the environment below; prints "ok" and exits 0,
// or prints what failed and exits 1.
//   BASE (http://127.0.0.1:port), TOKEN, CHROMIUM, CID (a correlation id), TRUTH (JSON: its
//   events), HOSTILE_CID, HOSTILE_LOG (a file name part of the hostile ETL log), SHOTS (a folder)
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const os = require("os");
const path = require("path");

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env("BASE");
const failures = [];
const check = (cond, what) => { if (!cond) failures.push(what); };

(async () => {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "waymark-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: env("CHROMIUM"),
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 860 },
    extraHTTPHeaders: { Authorization: `Bearer ${env("TOKEN")}` },
    colorScheme: "light",
  });
  const page = context.pages()[0] || await context.newPage();
  const consoleErrors = [];
  const dialogs = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(`${page.url()}: ${m.text()}`); });
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  page.on("dialog", async (d) => { dialogs.push(`${page.url()}: ${d.type()} ${d.message()}`); await d.dismiss(); });

  async function open(url) {
    const resp = await page.goto(BASE + url, { waitUntil: "load" });
    check(resp && resp.status() === 200, `${url}: status ${resp && resp.status()}`);
    const csp = resp ? (await resp.allHeaders())["content-security-policy"] || "" : "";
    check(csp.includes("default-src 'self'") && csp.includes("script-src 'self'"), `${url}: CSP missing (${csp})`);
    return resp;
  }
  const rows = (sel) => page.locator(sel).count();

  // Every page loads with data.
  const pages = [["/", "main table tbody tr"], ["/flows", "main table tbody tr"],
    ["/runs", "main table.runs tbody tr"], ["/scan-results", "main table tbody tr"],
    ["/dead-letters", "main table tbody tr"], ["/orphans", "main table tbody tr"],
    [`/flows/${encodeURIComponent(env("CID"))}`, "svg.swimlane g.ev"]];
  for (const [url, sel] of pages) {
    await open(url);
    check(await rows(sel) > 0, `${url}: no data (${sel})`);
  }
  await open("/");
  await page.screenshot({ path: path.join(env("SHOTS"), "overview.png") });

  // Searching a correlation id opens its flow; the swimlane shows every event of the truth.
  await open("/flows");
  await page.fill("input[name=q]", env("CID"));
  await Promise.all([page.waitForURL(`**/flows/${encodeURIComponent(env("CID"))}`), page.click("form.filters button")]);
  const marks = await page.$$eval("svg.swimlane g.ev", (gs) => gs.map((g) =>
    [g.dataset.system, g.dataset.checkpoint, g.dataset.timestamp, g.dataset.status].join("|")).sort());
  const truth = JSON.parse(env("TRUTH")).map((e) =>
    [e.system_id, e.checkpoint_id, e.timestamp, e.status].join("|")).sort();
  check(JSON.stringify(marks) === JSON.stringify(truth),
    `swimlane of ${env("CID")}: ${JSON.stringify(marks)} is not the truth ${JSON.stringify(truth)}`);
  check(await page.locator("p.verdict").count() === 1, "flow page: no verdict on top");
  await page.locator("svg.swimlane").screenshot({ path: path.join(env("SHOTS"), "flow-swimlane.png") });

  // A failed run's page shows its first error (the API says which).
  const api = await page.request.get(`${BASE}/api/v1/runs?status=FAILURE&limit=1000`);
  const failed = (await api.json()).items.find((r) => r.error_message && !r.log_file?.includes(env("HOSTILE_LOG")));
  check(failed, "no failed run with an error message in the store");
  if (failed) {
    await open(`/runs/${encodeURIComponent(failed.run_key)}`);
    const shown = (await page.locator(".first-error pre").textContent()) || "";
    const firstLine = failed.error_message.split("\n")[0].trim();
    check(shown.includes(firstLine), `run ${failed.run_key}: first error ${JSON.stringify(firstLine)} not shown (${JSON.stringify(shown.slice(0, 200))})`);
    await page.screenshot({ path: path.join(env("SHOTS"), "failed-run.png") });
  }

  // A run with steps draws them as a Gantt chart: one row per step, in the API's order, the
  // failed ones marked.
  const all = (await (await page.request.get(`${BASE}/api/v1/runs?limit=1000`)).json()).items;
  const stepped = all.filter((r) => r.steps && r.steps.length > 1 && r.steps.some((s) => s.start_time));
  check(stepped.length > 0, "no run with timed steps in the store (the dbt fixtures have some)");
  for (const r of stepped.slice(0, 3)) {
    await open(`/runs/${encodeURIComponent(r.run_key)}`);
    const drawn = await page.$$eval("svg.gantt g.step", (gs) => gs.map((g) => [g.dataset.name, g.dataset.status]));
    const want = r.steps.slice(0, 200).map((s) => [s.name, s.status]);
    check(JSON.stringify(drawn) === JSON.stringify(want), `run ${r.run_key}: gantt ${JSON.stringify(drawn)} is not ${JSON.stringify(want)}`);
    const bad = await page.locator("svg.gantt g.step.bad").count();
    check(bad === want.filter(([, st]) => st === "FAILURE").length, `run ${r.run_key}: ${bad} failed steps marked`);
  }
  if (stepped[0]) {
    await open(`/runs/${encodeURIComponent(stepped[0].run_key)}`);
    await page.locator("svg.gantt").screenshot({ path: path.join(env("SHOTS"), "run-steps.png") });
  }
  await open("/alerts");
  check(await page.locator("main h1").textContent() === "Alerts", "the alerts page");

  // Filters change the URL, and a reload restores them.
  await open("/runs");
  await page.selectOption("select[name=status]", "FAILURE");
  await page.check("input[name=flagged]").catch(() => {});
  await page.uncheck("input[name=flagged]");
  await Promise.all([page.waitForURL(/status=FAILURE/), page.click("form.filters button")]);
  check(new URL(page.url()).searchParams.get("status") === "FAILURE", `filter not in the URL: ${page.url()}`);
  await page.reload({ waitUntil: "load" });
  check(await page.inputValue("select[name=status]") === "FAILURE", "reload lost the status filter");
  const statuses = await page.$$eval("table.runs tbody tr td:nth-child(3)", (tds) => tds.map((t) => t.textContent.trim()));
  check(statuses.length > 0 && statuses.every((s) => s === "FAILURE"), `filtered runs: ${statuses}`);
  await open("/flows?system=cmf");
  check(await page.inputValue("input[name=system]") === "cmf", "deep link lost the system filter");

  // Hostile content is text: no dialog, no injected element, the payload visible as text.
  const hostileRuns = (await (await page.request.get(`${BASE}/api/v1/runs?limit=1000`)).json()).items
    .filter((r) => (r.log_file || "").includes(env("HOSTILE_LOG")));
  check(hostileRuns.length > 0, "the hostile run is not in the store");
  const hostileUrls = [`/flows/${encodeURIComponent(env("HOSTILE_CID"))}`, "/flows", "/",
    `/scan-results?file_path=${encodeURIComponent(hostileRuns[0] ? hostileRuns[0].log_file : "")}`,
    ...hostileRuns.map((r) => `/runs/${encodeURIComponent(r.run_key)}`)];
  for (const url of hostileUrls) {
    await open(url);
    await page.waitForTimeout(300);
    const injected = await page.evaluate(() => ({
      img: document.querySelectorAll("img").length,
      scripts: [...document.scripts].map((s) => s.src || "inline"),
      js: [...document.querySelectorAll("a[href]")].filter((a) => a.href.trim().toLowerCase().startsWith("javascript:")).length,
      text: document.body.innerText,
    }));
    check(injected.img === 0, `${url}: an <img> was injected`);
    check(injected.scripts.length === 1 && injected.scripts[0].endsWith("/assets/app.js"), `${url}: scripts ${injected.scripts}`);
    check(injected.js === 0, `${url}: a javascript: link was injected`);
  }
  await open(`/flows/${encodeURIComponent(env("HOSTILE_CID"))}`);
  const text = await page.evaluate(() => document.body.innerText);
  for (const s of ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", 'href="javascript:alert(3)"']) {
    check(text.includes(s), `hostile flow: ${s} not shown as text`);
  }
  if (hostileRuns[0]) {
    await open(`/scan-results?file_path=${encodeURIComponent(hostileRuns[0].log_file)}`);
    const t = await page.evaluate(() => document.body.innerText);
    check(t.includes("<script>alert(1)</script>") && t.includes("<img src=x onerror=alert(2)>"), "hostile scanned line not shown as text");
  }
  check(dialogs.length === 0, `dialogs opened: ${dialogs}`);
  check(consoleErrors.length === 0, `console errors: ${consoleErrors}`);

  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
  if (failures.length) { console.log(failures.join("\n")); process.exit(1); }
  console.log("ok");
})().catch((e) => { console.log(`error: ${e.stack || e}`); process.exit(1); });
