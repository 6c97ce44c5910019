#!/usr/bin/env node
// Drives headless Chromium (the system browser, through playwright-core) for wstool's browser
// tests: opens pages, waits for DOM conditions, and prints one JSON document of what each page
// saw. Bounded: every wait has a deadline and the browser is always closed.
//
// Usage:
//   node drive_page.js --chromium PATH --playwright DIR [--timeout-ms N] [--done-timeout-ms N]
//        --page URL [--ready EXPR] [--page URL [--ready EXPR] ...]
//        [--done EXPR] [--report EXPR]
// Pages open one after another in separate browser contexts (separate storage, like separate
// users); each page's --ready condition must hold before the next page opens (e.g. "joined the
// room"). Then --done must hold on every page, and --report is evaluated on every page. EXPR
// is a JavaScript expression evaluated in the page. --timeout-ms bounds the whole run (starting
// the browser included); --done-timeout-ms, when given, bounds the wait for --done once every
// page is ready, so a test of giving up need not guess how long a busy host takes to get there.
//
// Output on stdout: {"ok": bool, "error": string|null, "pages": [{"url", "report",
// "console": [{"type", "text"}], "pageErrors": [string]}]}. Exit status: 0 when every
// condition held; 1 when one did not in time (the document says which); 2 for bad usage or a
// browser that cannot be started (the reason on stderr).
'use strict';

const kDefaultTimeoutMs = 20000;
// How often a condition is evaluated again.
const kPollMs = 25;
// Closing the browser gets this long before the process exits anyway.
const kCloseGraceMs = 5000;

function usage(message) {
  process.stderr.write(`drive_page: error: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { chromium: null, playwright: null, timeoutMs: kDefaultTimeoutMs, doneTimeoutMs: null, pages: [],
                    done: 'true', report: '({title: document.title, text: document.body.innerText})' };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    i += 1;
    switch (flag) {
      case '--chromium': options.chromium = value; break;
      case '--playwright': options.playwright = value; break;
      case '--timeout-ms':
        options.timeoutMs = Number(value);
        if (!Number.isInteger(options.timeoutMs) || options.timeoutMs <= 0) usage('--timeout-ms must be a positive integer');
        break;
      case '--done-timeout-ms':
        options.doneTimeoutMs = Number(value);
        if (!Number.isInteger(options.doneTimeoutMs) || options.doneTimeoutMs <= 0) {
          usage('--done-timeout-ms must be a positive integer');
        }
        break;
      case '--page': options.pages.push({ url: value, ready: 'true' }); break;
      case '--ready':
        if (options.pages.length === 0) usage('--ready must follow a --page');
        options.pages[options.pages.length - 1].ready = value;
        break;
      case '--done': options.done = value; break;
      case '--report': options.report = value; break;
      default: usage(`unknown option ${flag}`);
    }
  }
  if (!options.chromium) usage('--chromium PATH is required');
  if (!options.playwright) usage('--playwright DIR (the playwright-core package) is required');
  if (options.pages.length === 0) usage('at least one --page URL is required');
  return options;
}

// Waits until `expression` is truthy in `page` or the deadline passes. Polls with page.evaluate
// (DevTools evaluation, which the page's Content-Security-Policy does not govern) rather than
// waitForFunction, whose string predicates are eval'd in the page and so refused by a strict CSP.
async function waitFor(page, expression, deadline) {
  for (;;) {
    let value = false;
    try {
      value = await page.evaluate(expression);
    } catch (error) {
      // A navigation in progress or a page script not yet run: try again until the deadline.
    }
    if (value) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, kPollMs));
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  let playwright;
  try {
    playwright = require(options.playwright);
  } catch (error) {
    usage(`cannot load playwright-core from ${options.playwright}: ${error.message}`);
  }

  const deadline = Date.now() + options.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const result = { ok: false, error: null, pages: [] };
  let browser = null;

  // Whatever happens, the process ends by the deadline plus the grace period, and Playwright's
  // exit handler kills a browser still running then.
  const watchdog = setTimeout(() => {
    process.stdout.write(JSON.stringify({ ...result, ok: false, error: 'drive_page: overall deadline passed' }) + '\n');
    process.exit(1);
  }, options.timeoutMs + kCloseGraceMs);

  try {
    try {
      browser = await playwright.chromium.launch({
        executablePath: options.chromium,
        headless: true,
        chromiumSandbox: false,  // root in a container: no setuid sandbox
        timeout: remaining(),
        args: ['--disable-background-networking', '--disable-component-update', '--disable-sync',
               '--no-first-run', '--disable-default-apps', '--disable-gpu', '--disable-dev-shm-usage'],
      });
    } catch (error) {
      process.stderr.write(`drive_page: error: cannot start ${options.chromium}: ${error.message}\n`);
      clearTimeout(watchdog);
      process.exitCode = 2;
      return;
    }

    const pages = [];
    for (const spec of options.pages) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const seen = { url: spec.url, report: null, console: [], pageErrors: [] };
      result.pages.push(seen);
      page.on('console', (message) => seen.console.push({ type: message.type(), text: message.text() }));
      page.on('pageerror', (error) => seen.pageErrors.push(String(error && error.message || error)));
      pages.push({ page, spec, seen });
      await page.goto(spec.url, { timeout: remaining(), waitUntil: 'load' });
      if (!await waitFor(page, spec.ready, deadline)) {
        throw new Error(`page ${pages.length} (${spec.url}) was not ready in time: ${spec.ready}`);
      }
    }
    const doneDeadline = options.doneTimeoutMs === null ? deadline
                                                        : Math.min(deadline, Date.now() + options.doneTimeoutMs);
    for (const [index, { page, spec }] of pages.entries()) {
      if (!await waitFor(page, options.done, doneDeadline)) {
        throw new Error(`page ${index + 1} (${spec.url}) was not done in time: ${options.done}`);
      }
    }
    result.ok = true;
  } catch (error) {
    result.error = error.message;
  } finally {
    // Reports are taken whatever happened: they show how far a failing run got.
    for (const [index, seen] of result.pages.entries()) {
      try {
        const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
        if (pages[index]) seen.report = await pages[index].evaluate(options.report);
      } catch (error) {
        seen.report = { reportError: error.message };
      }
    }
    if (browser) await browser.close().catch(() => {});
    clearTimeout(watchdog);
  }
  if (process.exitCode === 2) return;
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(`drive_page: error: ${error.stack || error}\n`);
  process.exit(2);
});
