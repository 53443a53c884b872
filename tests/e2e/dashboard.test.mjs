// End-to-end tests of the dashboard in headless Chromium (Debian's, driven by playwright-core).
// run.sh starts the real daemon and passes AIRLOCK_URL and AIRLOCK_TOKEN; this file opens the
// page and drives it as a person would, saving a screenshot of each view in SCREENSHOTS.
// Each scenario has its own time bound; the first failure is reported with the scenario's name,
// and the run exits non-zero if any failed.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const URL_ = process.env.AIRLOCK_URL;
const TOKEN = process.env.AIRLOCK_TOKEN;
const SHOTS = process.env.SCREENSHOTS || 'build/e2e/screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCENARIO_MS = 40000;
if (!URL_ || !TOKEN) {
  console.error('e2e: AIRLOCK_URL and AIRLOCK_TOKEN must be set (run tests/e2e/run.sh)');
  process.exit(2);
}
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
  timeout: 30000,
});

// Every page: fails the run on a script error or a CSP violation (no inline script or style may
// sneak in), and accepts the confirm() of Cancel and Delete.
const problems = [];
async function newPage(viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (/Content.Security.Policy|Refused to/i.test(t)) problems.push(`CSP: ${t}`);
    else if (m.type() === 'error' && !/status of 40[149]|status of 409/.test(t)) problems.push(`console error: ${t}`);
  });
  page.on('dialog', (d) => d.accept());
  // Nothing but the daemon: any request elsewhere is a failure (air-gapped).
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.origin !== new URL(URL_).origin && u.protocol !== 'blob:' && u.protocol !== 'data:') {
      problems.push(`outside request: ${u.href}`);
      return route.abort();
    }
    return route.continue();
  });
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function login(page, token = TOKEN) {
  await page.goto(`${URL_}/#/jobs`);
  await page.locator('#token-input').fill(token);
  await page.locator('#token-form button[type=submit]').click();
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

// Starts a job from the form and returns its id (the page is then on the job's page).
async function startFromForm(page, { command, policy, labels, file }) {
  await page.goto(`${URL_}/#/new`);
  await page.locator('#nj-policy option[value="pypi"]').waitFor({ state: 'attached' });
  await page.locator('#nj-command').fill(command);
  if (policy) await page.locator('#nj-policy').selectOption(policy);
  if (labels) await page.locator('#nj-labels').fill(labels);
  if (file) {
    await page.getByRole('button', { name: 'Add a file' }).click();
    await page.locator('#nj-file-name-1').fill(file.name);
    await page.locator('#nj-file-content-1').fill(file.content);
  }
  await page.locator('#nj-submit').click();
  await page.waitForURL(/#\/jobs\/j_/);
  return decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
}

async function waitStatus(page, status, timeout = 20000) {
  await page.locator(`.head-badge [data-status="${status}"]`).waitFor({ timeout });
}

const results = [];
async function scenario(name, fn) {
  const t0 = Date.now();
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${SCENARIO_MS / 1000} s`)), SCENARIO_MS); })]);
    const p = problems.splice(0);
    if (p.length) throw new Error(p.join('; '));
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    problems.splice(0);
    results.push({ name, ok: false, ms: Date.now() - t0, err: e.message });
    console.log(`FAIL ${name} (${Date.now() - t0} ms): ${e.message.split('\n')[0]}`);
  } finally {
    clearTimeout(timer);
  }
}

const page = await newPage();
let jobId;

await scenario('the token prompt, then the jobs view', async () => {
  await page.goto(`${URL_}/`);
  await page.locator('#token-panel').waitFor();
  check(!page.url().includes(TOKEN), 'the token is in the URL');
  await shot(page, 'token');
  await login(page);
  await page.locator('h1', { hasText: 'Jobs' }).waitFor();
  check(!page.url().includes(TOKEN), 'the token is in the URL');
  check(await page.evaluate(() => sessionStorage.getItem('airlock.token')) === TOKEN, 'the token is not in sessionStorage');
});

await scenario('a wrong token shows the 401 message and asks again', async () => {
  const p = await newPage();
  await login(p, 'not-the-token-0123456789');
  const msg = p.locator('#token-message');
  await msg.waitFor();
  const text = await msg.textContent();
  check(/401/.test(text) && /refused/.test(text), `the message says: ${text}`);
  check(await p.locator('#token-input').isVisible(), 'the prompt is not shown again');
  await shot(p, 'token-401');
  await p.context().close();
});

await scenario('start a job from the form: it succeeds, its output is shown (ANSI as colour, hostile text as text)', async () => {
  jobId = await startFromForm(page, {
    command: `sh -c 'cat hello.txt; printf "\\033[32mgreen\\033[0m hello from airlock <b>not bold</b>\\n"; echo to-stderr >&2'`,
    labels: 'e2e=yes\nxss=<img src=x onerror=window.__pwned=1>',
    file: { name: 'hello.txt', content: 'file content 42\n' },
  });
  await waitStatus(page, 'succeeded');
  const stdout = page.locator('pre.output[data-stream="stdout"]');
  await stdout.filter({ hasText: 'hello from airlock' }).waitFor();
  const text = await stdout.textContent();
  check(text.includes('file content 42'), `stdout lacks the file's content: ${text}`);
  check(text.includes('<b>not bold</b>'), 'the markup in the output was not shown as text');
  check(!/\x1b|\[32m/.test(text), `raw escape bytes in the output: ${JSON.stringify(text)}`);
  check(await stdout.locator('span.ansi-32', { hasText: 'green' }).count() === 1, 'the green span is missing');
  check(await stdout.locator('b').count() === 0, 'markup from the output became an element');
  await page.locator('pre.output[data-stream="stderr"]', { hasText: 'to-stderr' }).waitFor();
  check(await page.locator('dd', { hasText: 'exit 0' }).count() > 0, 'exit 0 is not shown');
  await shot(page, 'job');
});

await scenario('the jobs table: the job is there, live, filterable by status and label', async () => {
  await page.goto(`${URL_}/#/jobs`);
  const row = page.locator(`table.jobs tr[data-id="${jobId}"]`);
  await row.waitFor();
  check((await row.locator('td[data-label="status"]').textContent()).includes('succeeded'), 'the status text is not succeeded');
  check(await page.locator('table.jobs img').count() === 0, 'a label became markup');
  check(await page.evaluate(() => window.__pwned) === undefined, 'a label ran script');
  check((await row.textContent()).includes('xss=<img src=x'), 'the hostile label is not shown as text');
  await page.locator('#f-status').selectOption('running');
  await page.waitForURL(/status=running/);
  await page.locator('p.empty').or(page.locator('table.jobs tbody tr')).first().waitFor();
  check(await page.locator(`table.jobs tr[data-id="${jobId}"]`).count() === 0, 'the succeeded job is listed as running');
  await page.goto(`${URL_}/#/jobs?label=e2e%3Ayes`);
  await page.locator(`table.jobs tr[data-id="${jobId}"]`).waitFor();
  await page.goto(`${URL_}/#/jobs`);
  await row.waitFor();
});

await scenario('a denied request: the egress table highlights the denial and its reason', async () => {
  await startFromForm(page, { command: 'curl -s -S --max-time 10 http://example.com/', labels: 'e2e=egress' });
  await page.locator('.head-badge .badge:not([data-status="running"]):not([data-status="queued"])').waitFor({ timeout: 25000 });
  const deny = page.locator('table.egress tr.deny');
  await deny.first().waitFor();
  const text = await deny.first().textContent();
  check(text.includes('example.com') && text.includes('no_rule'), `the denial row says: ${text}`);
  check(await deny.first().locator('strong.reason', { hasText: 'no_rule' }).count() === 1, 'the reason is not highlighted');
  await page.locator('strong.denied-count', { hasText: '1 denied' }).first().waitFor();
  await shot(page, 'job-egress');
});

await scenario('a long output: the page keeps its last part and stays responsive', async () => {
  await startFromForm(page, { command: "sh -c 'sleep 1; seq 1 200000; sleep 0.5; seq 200001 400000'", labels: 'e2e=long' });
  await waitStatus(page, 'succeeded');
  const stdout = page.locator('pre.output[data-stream="stdout"]');
  await stdout.filter({ hasText: '400000' }).waitFor();
  await page.locator('.output-pane p.note', { hasText: 'are not shown' }).first().waitFor();
  const t0 = Date.now();
  const len = await stdout.evaluate((el) => el.textContent.length);
  check(Date.now() - t0 < 2000, 'the page is slow to answer');
  check(len <= 210 * 1024, `the pane holds ${len} characters`);
  const atBottom = await stdout.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 8);
  check(atBottom, 'the pane is not scrolled to the end');
});

await scenario('cancel a long job', async () => {
  await startFromForm(page, { command: 'sleep 600', labels: 'e2e=cancel' });
  await waitStatus(page, 'running');
  await page.locator('#cancel-job').click();
  await waitStatus(page, 'canceled', 15000);
  check(await page.locator('dd', { hasText: 'canceled' }).count() > 0, 'the reason is not shown');
  await page.locator('#delete-job').waitFor();
  await shot(page, 'job-canceled');
  await page.goto(`${URL_}/#/jobs`);
  await page.locator('table.jobs tbody tr').nth(2).waitFor();
  await page.locator('table.jobs tbody tr').nth(2).locator('[data-status]').waitFor();
  await shot(page, 'jobs');
});

await scenario('check URLs against the pypi policy', async () => {
  await page.goto(`${URL_}/#/policies`);
  await page.locator('a.card-title', { hasText: 'pypi' }).click();
  await page.locator('h1', { hasText: 'pypi' }).waitFor();
  await page.locator('#check-url').fill('https://pypi.org/simple/');
  await page.locator('#check-go').click();
  const v = page.locator('#check-result .verdict');
  await v.and(page.locator('[data-decision="allow"]')).waitFor();
  check((await v.textContent()).includes('allow[0]'), 'the rule allow[0] is not shown');
  await page.locator('#check-url').fill('https://example.com');
  await page.locator('#check-go').click();
  await page.locator('#check-result .verdict[data-decision="deny"]').waitFor();
  check(await page.locator('#check-result strong.reason', { hasText: 'no_rule' }).count() === 1, 'the reason no_rule is not shown');
  await shot(page, 'policy');
  await page.goto(`${URL_}/#/policies`);
  await page.locator('a.card-title').first().waitFor();
  await shot(page, 'policies');
});

await scenario('a workspace: create, upload, list, download', async () => {
  await page.goto(`${URL_}/#/workspaces`);
  await page.locator('#ws-labels').fill('e2e=files');
  await page.locator('#ws-create').click();
  await page.waitForURL(/#\/workspaces\/w_/);
  const content = `uploaded by the e2e test ${Date.now()}\n`;
  await page.locator('#ws-upload').setInputFiles({ name: 'notes <1>.txt', mimeType: 'text/plain', buffer: Buffer.from(content) });
  await page.locator('#ws-upload-go').click();
  const row = page.locator('table.files tr[data-name="notes <1>.txt"]');
  await row.waitFor();
  const [dl] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: /Download/ }).click()]);
  const got = readFileSync(await dl.path(), 'utf8');
  check(got === content, `the download is ${JSON.stringify(got)}`);
  // Chromium replaces < and > in a download's name.
  check(/^notes .1.\.txt$/.test(dl.suggestedFilename()), `the download is named ${dl.suggestedFilename()}`);
  await shot(page, 'workspace');
  await page.goto(`${URL_}/#/workspaces`);
  await page.locator('table.workspaces tbody tr').first().waitFor();
  await shot(page, 'workspaces');
});

await scenario('health', async () => {
  await page.goto(`${URL_}/#/health`);
  await page.locator('dd', { hasText: '0.1.0' }).or(page.locator('dl.kv dd').nth(1)).first().waitFor();
  await page.locator('pre.metrics', { hasText: 'airlock_jobs_started_total' }).waitFor();
  await shot(page, 'health');
});

await scenario('the new job form and a narrow window', async () => {
  await page.goto(`${URL_}/#/new`);
  await page.locator('#nj-policy option[value="pypi"]').waitFor({ state: 'attached' });
  await shot(page, 'new');
  const narrow = await newPage({ width: 390, height: 800 });
  await narrow.goto(`${URL_}/`);
  await narrow.evaluate((t) => sessionStorage.setItem('airlock.token', t), TOKEN);
  await narrow.goto(`${URL_}/#/jobs?label=e2e%3Ayes`);
  await narrow.reload();
  await narrow.locator('table.jobs tbody tr').first().waitFor();
  const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the page is ${overflow} px wider than a 390 px window`);
  await shot(narrow, 'jobs-narrow');
  await narrow.context().close();
});

await scenario('keyboard: the nav and the token form work without a mouse', async () => {
  const p = await newPage();
  await p.goto(`${URL_}/`);
  await p.locator('#token-input').waitFor();
  await p.keyboard.type(TOKEN); // the prompt has focus
  await p.keyboard.press('Enter');
  await p.locator('h1', { hasText: 'Jobs' }).waitFor();
  await p.locator('a[data-nav="policies"]').focus();
  await p.keyboard.press('Enter');
  await p.locator('h1', { hasText: 'Policies' }).waitFor();
  await p.goto(`${URL_}/#/jobs`);
  await p.reload(); // a fresh load: the focus starts at the top
  await p.locator('h1', { hasText: 'Jobs' }).waitFor();
  await p.keyboard.press('Tab');
  check(await p.evaluate(() => document.activeElement.classList.contains('skip')), 'the first Tab does not reach "Skip to content"');
  await p.keyboard.press('Enter');
  check(await p.evaluate(() => document.activeElement.tagName) === 'H1', 'the skip link does not move the focus to the heading');
  check(new URL(p.url()).hash === '#/jobs', `the skip link changed the route: ${p.url()}`);
  await p.context().close();
});

await browser.close();
const failed = results.filter((r) => !r.ok);
console.log(`e2e: ${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${SHOTS}`);
for (const f of failed) console.error(`e2e: FAILED: ${f.name}: ${f.err}`);
process.exit(failed.length ? 1 : 0);
