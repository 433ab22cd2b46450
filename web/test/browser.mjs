// Drives the composer page in headless Chromium (Debian's package) with playwright-core,
// as an agent would: types `!ref`, picks the match with the keyboard, reads the rendered
// reply, then breaks the editor's template and reads the error's line and column.
//
//   node web/test/browser.mjs http://127.0.0.1:50051/ target/composer.png
//
// Prints one JSON line of what it read; exits non-zero (with the reason) when the page
// does not behave. Run by tests/e2e/web.rs against a server it starts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node browser.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const WAIT = { timeout: 10_000 };
const profile = mkdtempSync(join(tmpdir(), "composer-chromium-"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // playwright's own default flags assume its bundled build; Debian's needs only these.
  ignoreDefaultArgs: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profile}`,
    "--remote-debugging-pipe",
    "about:blank",
  ],
});
const outside = [];
try {
  const context = browser.contexts()[0] ?? (await browser.newContext());
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  const origin = new URL(url).origin;
  page.on("request", (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith("data:")) {
      outside.push(request.url());
    }
  });
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  await page.goto(url, WAIT);
  // The script ran and the editor's first preview (RenderTemplate) came back.
  await page.waitForFunction(() => document.querySelector("#preview")?.textContent, null, WAIT);
  const preview = await page.locator("#preview").innerText();

  // Typeahead: `!ref`, then ↓ and Enter.
  const message = page.locator("#message");
  await message.click();
  await message.pressSequentially("!ref", { delay: 30 });
  const option = page.locator('#suggestions [role="option"]').first();
  await option.waitFor({ state: "visible", ...WAIT });
  // Answers to `!r` and `!re` may be shown first; wait for the one to the whole query.
  await page.waitForFunction(
    () => document.querySelector('#suggestions [role="option"] mark')?.textContent === "ref",
    null,
    WAIT,
  );
  const optionText = await option.innerText();
  const highlighted = await option.locator("mark").first().innerText();
  await message.press("ArrowDown");
  const selected = await option.getAttribute("aria-selected");
  await message.press("Enter");
  await page.waitForFunction(
    () => document.querySelector("#reply")?.textContent?.startsWith("Hi "),
    null,
    WAIT,
  );
  const reply = await page.locator("#reply").innerText();
  const inserted = await message.inputValue();
  const origins = await page.locator("#origins tbody").innerText();

  // Editor: a syntax error on line 2.
  const editor = page.locator("#editor-body");
  await editor.fill("Hi <<contact.first_name>>,\nyour order {% if %} is late");
  const error = page.locator("#editor-errors li").first();
  await error.waitFor({ state: "visible", ...WAIT });
  const editorError = await error.innerText();

  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(
    JSON.stringify({
      preview,
      optionText,
      highlighted,
      selected,
      reply,
      inserted,
      origins,
      editorError,
      outside,
      consoleErrors,
    }),
  );
} catch (error) {
  console.error(`the composer page did not behave: ${error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
