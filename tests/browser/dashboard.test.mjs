// dashboard.test.mjs - the dashboard in a real browser (label `browser`).
//
// Starts real `scripthut serve` processes (local backend, temp config and data
// dir, a port the kernel picks on 127.0.0.1) and drives Debian's chromium
// through playwright-core, as a user would: watch a run submitted from the CLI
// appear without a reload, open it, read a task's log, follow a running task's
// log, cancel a long run, install a stack, look at the backends, see a broken
// config and an API error, and sign in to a server that has a token.
//
//   SCRIPTHUT_BIN=build/scripthut node tests/browser/dashboard.test.mjs
//
// Environment: SCRIPTHUT_BIN (required); SCRIPTHUT_PLAYWRIGHT_DIR, a dir whose
// node_modules holds playwright-core (default: this dir, after `npm ci`);
// SCRIPTHUT_BROWSER_ARTIFACTS, where screenshots go (default
// $SCRIPTHUT_BUILD_DIR/tests/browser-artifacts); CHROMIUM (/usr/bin/chromium).
// Every wait has a deadline, and a watchdog ends the whole file after
// WATCHDOG_MS, so a broken server or browser fails the test, never hangs it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.SCRIPTHUT_BIN;
if (!BIN) throw new Error('set SCRIPTHUT_BIN to the scripthut binary');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.SCRIPTHUT_BROWSER_ARTIFACTS ||
  path.join(process.env.SCRIPTHUT_BUILD_DIR || path.resolve(HERE, '../../build'), 'tests', 'browser-artifacts');
const TOKEN = 'browser-test-token-7f3a';
const WAIT_MS = 20000;      // any one wait for the page
const TEST_MS = 90000;      // any one test
const WATCHDOG_MS = 170000; // the whole file (ctest's TIMEOUT is 180 s)

const requireFrom = createRequire(path.join(process.env.SCRIPTHUT_PLAYWRIGHT_DIR || HERE, 'package.json'));
const { chromium } = requireFrom('playwright-core');

const ROOT = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'scripthut-browser.')));
const servers = [];
let context = null;
let page = null;

// --- the watchdog ------------------------------------------------------------

const watchdog = setTimeout(() => {
  console.error(`# watchdog: the browser test ran past ${WATCHDOG_MS / 1000} s; stopping everything`);
  killEverything();
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

// --- servers -----------------------------------------------------------------

const CONFIG = (dataDir, stackDir) => `
settings { data_dir = "${dataDir}", poll_interval = 1 }

workflow "sweep" {
  backend = "local",
  tasks = function()
    local t = {}
    for i = 1, 3 do
      t[#t + 1] = { id = "sweep.a" .. i, command = "echo sweep output " .. i }
    end
    t[#t + 1] = { id = "report", deps = { "sweep.*" },
                  command = "echo 'report: all sweeps done'; echo 'report warning' >&2" }
    return t
  end,
}

workflow "long" {
  backend = "local",
  tasks = {
    { id = "sleep.1", command = "echo long task started; sleep 600" },
    { id = "sleep.2", command = "sleep 600" },
    { id = "after", deps = { "sleep.*" }, command = "echo never" },
  },
}

stack "tools" { cache_dir = "${stackDir}", prep = "echo building tools" }
`;

// A home, work dir and data dir of its own per server: one engine per data dir.
function makeSite(name, config) {
  const site = path.join(ROOT, name);
  const home = path.join(site, 'home');
  const work = path.join(site, 'work');
  fs.mkdirSync(path.join(home, '.config'), { recursive: true });
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(work, 'scripthut.lua'),
    config ?? CONFIG(path.join(site, 'data'), path.join(site, 'stacks')));
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share') };
  for (const k of ['SCRIPTHUT_SERVER', 'SCRIPTHUT_API_TOKEN', 'SCRIPTHUT_LUA_PATH']) delete env[k];
  return { site, home, work, env };
}

// Starts a server.  Without `token` it makes its own in the data dir (the
// default): s.token is read from the file it names, and s.loginUrl is the
// one-time login link it prints.
async function startServer(name, { token, config } = {}) {
  const s = makeSite(name, config);
  if (token) s.env.SCRIPTHUT_API_TOKEN = token;
  s.proc = spawn(BIN, ['serve', '--port', '0'], { cwd: s.work, env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  s.stderr = '';
  s.proc.stderr.on('data', (d) => { s.stderr += d; });
  servers.push(s);
  let out = '';
  s.url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: server did not come up in 15 s: ${s.stderr}`)), 15000);
    s.proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/serving (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    s.proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${name}: server exited (${code}): ${s.stderr}`)); });
  });
  s.loginUrl = (out.match(/^Dashboard login[^:]*: (http:\S+)$/m) || [])[1];
  const tokenFile = (out.match(/^API token: (\S+\/api_token)/m) || [])[1];
  s.token = token || (tokenFile && fs.readFileSync(tokenFile, 'utf8').trim());
  return s;
}

// The server's API, as a script would call it, with the server's token.
async function apiCall(s, method, p, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (s.token) headers.Authorization = `Bearer ${s.token}`;
  const r = await fetch(`${s.url}/api/v1${p}`, { method, headers, body: body && JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS) });
  const json = await r.json();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

// The CLI in server mode, with a deadline.
function cli(s, ...args) {
  return execFileSync(BIN, ['--server', s.url, ...args],
    { cwd: s.work, env: s.env, timeout: WAIT_MS, encoding: 'utf8' });
}

async function stopServer(s) {
  // Cancel what still runs, so the server hands nothing to a detached engine.
  try {
    const { runs } = await apiCall(s, 'GET', '/runs?limit=0');
    for (const r of runs.filter((x) => !['completed', 'failed', 'cancelled'].includes(x.status)))
      await apiCall(s, 'POST', `/runs/${r.id}/cancel?wait=10`).catch(() => {});
  } catch (_) { /* degraded or gone: nothing to cancel */ }
  if (s.proc.exitCode === null && s.proc.signalCode === null) {
    const exit = new Promise((resolve) => s.proc.once('exit', () => resolve(true)));
    s.proc.kill('SIGTERM');
    const exited = await Promise.race([exit, new Promise((resolve) => setTimeout(() => resolve(false), 10000))]);
    if (!exited) s.proc.kill('SIGKILL');
    await exit;
  }
  try {
    execFileSync(BIN, ['daemon', 'stop'], { cwd: s.work, env: s.env, timeout: 10000, stdio: 'ignore' });
  } catch (_) { /* no engine left */ }
}

// Processes still working inside ROOT (a server, an engine, a task): found by
// their cwd, never by a name pattern.
function killEverything() {
  for (const s of servers) if (s.proc && s.proc.exitCode === null) s.proc.kill('SIGKILL');
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    let cwd;
    try { cwd = fs.readlinkSync(`/proc/${pid}/cwd`); } catch (_) { continue; }
    if (cwd === ROOT || cwd.startsWith(ROOT + '/')) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch (_) { /* already gone */ }
    }
  }
}

// --- the browser ---------------------------------------------------------------

async function shot(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function open(s, hash) {
  await page.goto(`${s.url}/${hash}`, { waitUntil: 'domcontentloaded' });
}

// Runs fn; on failure, saves a screenshot named after the test before failing.
function browserTest(name, fn) {
  test(name, { timeout: TEST_MS }, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      await shot(`FAILED-${name.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => {});
      throw err;
    }
  });
}

let plain; // the server without a token
let sweepRun;
const pageErrors = [];

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of fs.readdirSync(ARTIFACTS)) if (f.endsWith('.png')) fs.rmSync(path.join(ARTIFACTS, f));
  plain = await startServer('plain');
  const userDataDir = fs.mkdtempSync(path.join(ROOT, 'chromium-profile.'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 860 },
    timeout: WAIT_MS,
  });
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  // The server made its own token: sign in as its owner does, through the
  // one-time login link it printed.
  assert.ok(plain.loginUrl, 'the server printed no login link');
  await page.goto(plain.loginUrl, { waitUntil: 'domcontentloaded' });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  // The server's CSP forbids inline script and style: a violation is a bug.
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push(m.text());
  });
});

after(async () => {
  if (context) await context.close().catch(() => {});
  for (const s of servers) await stopServer(s).catch(() => {});
  killEverything();
  fs.rmSync(ROOT, { recursive: true, force: true });
  clearTimeout(watchdog);
});

// --- what a user does ------------------------------------------------------------

browserTest('a run submitted from the CLI appears on the open runs page without a reload', async () => {
  await open(plain, '#/runs');
  await page.getByText('No runs yet.').waitFor();
  await page.locator('#live:not(.off)').waitFor(); // the event stream is open
  await page.evaluate(() => { window.__sameDocument = true; });

  sweepRun = JSON.parse(cli(plain, '--json', 'workflow', 'run', 'sweep')).id;
  assert.match(sweepRun, /^[0-9a-f]+$/);

  const row = page.locator(`tr[data-run-id="${sweepRun}"]`);
  await row.waitFor();
  await page.locator(`tr[data-run-id="${sweepRun}"][data-status="completed"]`).waitFor();
  assert.match(await row.innerText(), /sweep/);
  assert.match(await row.innerText(), /4\/4/);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  await shot('runs');
});

browserTest('the run page groups tasks by id prefix and draws their timeline', async () => {
  await page.locator(`tr[data-run-id="${sweepRun}"] a`).first().click();
  await page.waitForURL(`**/#/runs/${sweepRun}`);
  const table = page.locator('#task-table');
  await table.waitFor();
  const group = table.locator('tr.group[data-group="sweep"]');
  assert.match(await group.innerText(), /sweep\.\*\s+3 tasks/);
  for (const id of ['sweep.a1', 'sweep.a2', 'sweep.a3'])
    await table.locator(`tr.in-group[data-task-id="${id}"][data-status="completed"]`).waitFor();
  await table.locator('tr:not(.in-group)[data-task-id="report"][data-status="completed"]').waitFor();
  assert.equal(await page.locator('#run-status').innerText(), 'completed');
  assert.equal(await page.locator('#gantt rect.bar.run').count(), 4);
  await shot('run');

  // Folding the group hides its tasks and keeps the others.
  await group.locator('button.fold').click();
  await table.locator('tr[data-task-id="sweep.a1"]').waitFor({ state: 'detached' });
  await table.locator('tr[data-task-id="report"]').waitFor();
  await group.locator('button.fold').click();
  await table.locator('tr[data-task-id="sweep.a1"]').waitFor();
});

browserTest("a task's log page shows its output and its error log", async () => {
  await page.locator('#task-table tr[data-task-id="report"] a').click();
  await page.waitForURL(`**/#/runs/${sweepRun}/tasks/report/log`);
  await page.locator('#log-text', { hasText: 'report: all sweeps done' }).waitFor();
  await shot('log');
  await page.locator('#tab-error').click();
  await page.locator('#log-text', { hasText: 'report warning' }).waitFor();
  assert.doesNotMatch(await page.locator('#log-text').innerText(), /all sweeps done/);
});

browserTest("a running task's log is followed live, and Cancel ends the run as cancelled", async () => {
  const run = await apiCall(plain, 'POST', '/workflows/long/run');
  await open(plain, `#/runs/${run.id}/tasks/sleep.1/log`);
  await page.locator('#log-status', { hasText: 'following' }).waitFor();
  await page.locator('#log-text', { hasText: 'long task started' }).waitFor();
  await shot('log-follow');

  await page.locator('a.crumb', { hasText: run.id }).click();
  await page.locator('#task-table tr[data-task-id="sleep.1"][data-status="running"]').waitFor();
  await page.locator('#cancel').click();
  await page.locator('#cancel', { hasText: 'Confirm cancel' }).click();
  await page.locator('#run-status', { hasText: 'cancelled' }).waitFor({ state: 'attached' });
  for (const id of ['sleep.1', 'sleep.2', 'after'])
    await page.locator(`#task-table tr[data-task-id="${id}"][data-status="cancelled"]`).waitFor();
  assert.equal(await page.locator('#cancel').count(), 0, 'Cancel is still offered on a cancelled run');
  assert.equal((await apiCall(plain, 'GET', `/runs/${run.id}`)).status, 'cancelled');
  await shot('run-cancelled');
});

browserTest('the stacks page installs a stack and shows it ready', async () => {
  await open(plain, '#/stacks');
  const row = page.locator('tr[data-stack="tools"][data-backend="local"]');
  await row.locator('.badge.s-missing').waitFor();
  await row.getByRole('button', { name: 'Install' }).click();
  const link = page.locator('#flash a', { hasText: 'run ' });
  await link.waitFor();
  await link.click();
  await page.locator('#run-status', { hasText: 'completed' }).waitFor({ state: 'attached' });
  await open(plain, '#/stacks');
  await row.locator('.badge.s-ready').waitFor();
  await shot('stacks');
});

browserTest('the backends page shows the local backend and its fields', async () => {
  await open(plain, '#/backends');
  const card = page.locator('section.card[data-backend="local"]');
  await card.locator('.badge', { hasText: 'connected' }).waitFor();
  await card.locator('dd[data-field="max_concurrent"]').waitFor();
  await shot('backends');
});

browserTest("an API error is shown with the server's detail", async () => {
  await open(plain, '#/runs/nosuchrun');
  const box = page.locator('.error-box');
  await box.waitFor();
  assert.match(await box.innerText(), /nosuchrun/);
  await shot('api-error');
});

browserTest('a server whose config is broken shows the error prominently', async () => {
  const broken = await startServer('broken', { config: 'workflow "x" { tasks = 5 }\n' });
  await page.goto(broken.loginUrl, { waitUntil: 'domcontentloaded' });
  await open(broken, '#/runs');
  const banner = page.locator('#config-error');
  await banner.waitFor();
  assert.match(await banner.innerText(), /scripthut\.lua:1: .*tasks must be/);
  await shot('degraded');
});

browserTest('with a token: the token form signs in, and pages and live updates work', async () => {
  const locked = await startServer('locked', { token: TOKEN });
  const first = await apiCall(locked, 'POST', '/workflows/sweep/run');
  await context.clearCookies();
  await open(locked, '#/runs');
  const form = page.locator('#login-form');
  await form.waitFor();
  await shot('login');

  await form.locator('#token').fill('not-the-token');
  await form.getByRole('button', { name: 'Sign in' }).click();
  await form.locator('.error-box', { hasText: 'wrong token' }).waitFor();

  await form.locator('#token').fill(TOKEN);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.locator(`tr[data-run-id="${first.id}"]`).waitFor();
  await page.locator('#live:not(.off)').waitFor();
  const second = await apiCall(locked, 'POST', '/workflows/sweep/run');
  await page.locator(`tr[data-run-id="${second.id}"]`).waitFor();
  await shot('runs-with-token');

  await page.locator(`tr[data-run-id="${first.id}"] a`).first().click();
  await page.locator('#task-table tr[data-task-id="report"]').waitFor();

  await page.locator('#logout').click();
  await form.waitFor();
  await open(locked, '#/runs'); // the cookie is gone: the form again
  await form.waitFor();
});

test('the dashboard raised no JavaScript errors and broke no CSP rule', () => {
  assert.deepEqual(pageErrors, []);
});

// Under ASan/UBSan a report lands on the server's stderr: a clean stop proves
// the server survived everything the browser did.
test('every server stops cleanly on SIGTERM', { timeout: TEST_MS }, async () => {
  for (const s of servers) {
    await stopServer(s);
    assert.equal(s.proc.exitCode, 0, `${path.basename(s.site)}: exit ${s.proc.exitCode}/${s.proc.signalCode}: ${s.stderr}`);
    assert.doesNotMatch(s.stderr, /Sanitizer|runtime error:/, `${path.basename(s.site)}: ${s.stderr}`);
  }
});
