// The web console clicked through in real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) against a real cbengine and
// vaultd, started by tests/e2e/test_console_browser.sh, which passes:
//   CONSOLE_URL   the address `obctl console url` printed (with #token=)
//   CREDS_FILE    a vault-credential file from vaultd; CORRUPT_CREDS_FILE a broken one
//   DATA_DIR      the folder to back up; RESTORE_FILE a file in it to recover
//   RESTORE_DIR   the folder to recover into; PASS_COPY where to save the passphrase
//   SCREENSHOTS   where every page and wizard step is saved as PNG
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, test} from 'node:test';
import {chromium} from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run tests/e2e/test_console_browser.sh)`);
  return v;
};
const CONSOLE_URL = env('CONSOLE_URL');
const DATA_DIR = env('DATA_DIR');
const RESTORE_FILE = env('RESTORE_FILE');
const RESTORE_DIR = env('RESTORE_DIR');
const SHOTS = env('SCREENSHOTS');
const BASE = CONSOLE_URL.replace(/#.*$/, '');

let context, page, shotNumber = 0;
let passphrase = '';  // generated in Register Server
const pageProblems = [];  // console errors and CSP refusals, checked at the end

const tid = (id) => `[data-testid="${id}"]`;
const attr = (name, value) => `[${name}=${JSON.stringify(value)}]`;

async function shot(name) {
  shotNumber++;
  const file = path.join(SHOTS, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
  await page.screenshot({path: file, fullPage: true});
}

async function next(dialog) {
  await page.click(`${dialog} ${tid('wizard-next')}`);
}

// Opens the folders of a lazily loaded tree down to target (an absolute
// path). The machine's tree starts at its roots ("/" here), a recovery
// point's tree at the folders in "/".
async function expandTo(treeSelector, target) {
  await page.locator(`${treeSelector} li[data-testid="tree-item"]`).first().waitFor();
  const parts = target.split('/').filter(Boolean);
  const dirs = parts.slice(0, -1).map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
  if (await page.locator(`${treeSelector} li${attr('data-path', '/')}`).count()) dirs.unshift('/');
  for (const dir of dirs) {
    const item = page.locator(`${treeSelector} li${attr('data-path', dir)}`).first();
    await item.waitFor();
    const twisty = item.locator(':scope > .tree-row > [data-testid="tree-expand"]');
    if ((await twisty.getAttribute('aria-expanded')) !== 'true') await twisty.click();
  }
  const leaf = page.locator(`${treeSelector} li${attr('data-path', target)}`).first();
  await leaf.waitFor();
  return leaf;
}

// The newest job in the history once it has ended, after `before` rows.
async function waitForJobEnd(rowsBefore, timeout = 120000) {
  await page.waitForFunction((n) => {
    const rows = document.querySelectorAll('[data-testid="job-row"]');
    return rows.length > n && !['Running', 'InProgress'].includes(rows[0].dataset.state);
  }, rowsBefore, {timeout});
  return page.locator(tid('job-row')).first();
}
const jobRows = () => page.locator(tid('job-row')).count();

let profile;  // Chromium's fresh user-data folder, removed at the end
before(async () => {
  fs.mkdirSync(SHOTS, {recursive: true});
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'obagent-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: {width: 1400, height: 900},
    acceptDownloads: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('console', (m) => {
    // A failed API request (4xx) is logged by Chromium as a resource error:
    // those are expected where the test provokes errors. Anything else is not.
    if (m.type() === 'error' && !/status of (4|5)\d\d/.test(m.text())) pageProblems.push(m.text());
  });
  page.on('pageerror', (e) => pageProblems.push(String(e)));
});

after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, {recursive: true, force: true});
});

test('a wrong token is refused on the sign-in form', async () => {
  await page.goto(BASE);
  await page.waitForSelector(`${tid('login-form')}:visible`);
  await page.fill(tid('login-token'), 'not-the-token');
  await page.click(tid('login-submit'));
  await page.waitForSelector(`#login-error ${tid('error-panel')}`);
  await shot('login-refused');
});

test('signs in with the #token= of obctl console url and removes it from the address', async () => {
  await page.goto(CONSOLE_URL);
  await page.waitForSelector(`${tid('view-overview')}:visible`);
  assert.ok(!page.url().includes('token='), `token left in the address: ${page.url()}`);
  await page.waitForSelector(tid('not-registered'));
  await shot('overview-not-registered');
});

test('Register Server: validation, a corrupt credential file (34513), then a real one', async () => {
  const W = tid('wizard-register');
  await page.click(tid('action-register'));
  await page.waitForSelector(W);
  await next(W);
  assert.match(await page.textContent(`${W} ${tid('validation-message')}`), /credentials file/);
  await page.setInputFiles(tid('reg-credentials-file'), env('CORRUPT_CREDS_FILE'));
  await page.waitForSelector(`${tid('reg-credentials-file-info')}:has-text("Loaded")`);
  await shot('register-1-vault');
  await next(W);
  await page.check(tid('reg-proxy-use'));
  await page.fill(tid('reg-proxy-url'), 'proxy-without-port');
  await next(W);
  assert.match(await page.textContent(`${W} ${tid('validation-message')}`), /HOST:PORT/);
  await page.uncheck(tid('reg-proxy-use'));
  await shot('register-2-proxy');
  await next(W);
  // Too short: refused before anything is sent.
  await page.fill(tid('passphrase'), 'short one');
  await page.fill(tid('passphrase-confirm'), 'short one');
  await page.click(tid('wizard-finish'));
  assert.match(await page.textContent(`${W} ${tid('validation-message')}`), /at least 16 characters/);
  await page.click(tid('passphrase-generate'));
  passphrase = await page.inputValue(tid('passphrase'));
  assert.ok(passphrase.length >= 16, `generated passphrase has ${passphrase.length} characters`);
  assert.equal(await page.inputValue(tid('passphrase-confirm')), passphrase);
  assert.notEqual(await page.getAttribute(tid('passphrase-meter'), 'value'), '0');
  await page.fill(tid('passphrase-copy-path'), env('PASS_COPY'));
  const download = page.waitForEvent('download');
  await page.click(tid('passphrase-download'));
  const saved = await (await download).path();
  assert.equal(fs.readFileSync(saved, 'utf8').trim(), passphrase, 'downloaded passphrase');
  await shot('register-3-encryption');
  // The corrupt credential file: the engine answers 34513 with the catalogue text.
  await page.click(tid('wizard-finish'));
  const panel = page.locator(`${W} ${tid('error-panel')}`);
  await panel.waitFor();
  assert.equal(await panel.locator(tid('error-id')).textContent(), '34513');
  assert.ok((await panel.locator(tid('error-explanation')).textContent()).length > 20, 'explanation shown');
  assert.ok((await panel.locator(tid('error-action')).textContent()).length > 20, 'action shown');
  await shot('register-error-34513');
  // Back to the first page, the real file, and through again.
  await page.click(tid('wizard-back'));
  await page.click(tid('wizard-back'));
  await page.setInputFiles(tid('reg-credentials-file'), env('CREDS_FILE'));
  await next(W);
  await next(W);
  assert.equal(await page.inputValue(tid('passphrase')), passphrase, 'the wizard keeps what was typed');
  await page.click(tid('wizard-finish'));
  await page.waitForSelector(tid('register-done'));
  await shot('register-done');
  await page.click(tid('wizard-close'));
  assert.equal(fs.readFileSync(env('PASS_COPY'), 'utf8').trim(), passphrase, 'passphrase copy on disk');
  assert.equal(fs.statSync(env('PASS_COPY')).mode & 0o077, 0, 'passphrase copy readable by others');
  await page.waitForSelector(`${tid('overview-machine')}:not(:has-text("—"))`);
});

test('Change Properties: throttling, so the backup takes long enough to watch', async () => {
  const D = tid('dialog-properties');
  await page.click(tid('action-properties'));
  await page.waitForSelector(D);
  await page.check(tid('prop-throttle-enabled'));
  for (let d = 0; d < 7; d++) await page.check(tid(`prop-workday-${d}`));
  await page.fill(tid('prop-work-start'), '00:00');
  await page.fill(tid('prop-work-end'), '23:59');
  await page.fill(tid('prop-work-rate'), process.env.THROTTLE_MBPS || '6');
  await page.fill(tid('prop-nonwork-rate'), process.env.THROTTLE_MBPS || '6');
  await shot('properties-throttling');
  await page.click(tid('prop-save'));
  await page.waitForSelector(tid('properties-saved'));
  for (const tab of ['proxy', 'scratch', 'encryption']) {
    await page.click(tid(`tab-${tab}`));
    await shot(`properties-${tab}`);
  }
  await page.click(`${D} ${tid('dialog-close')}`);
});

test('Schedule Backup: the sample folder picked in the items tree', async () => {
  const W = tid('wizard-schedule');
  await page.click(tid('action-schedule'));
  await page.waitForSelector(W);
  await next(W);
  assert.match(await page.textContent(`${W} ${tid('validation-message')}`), /at least one/);
  const item = await expandTo(tid('fs-tree'), DATA_DIR);
  await item.locator(':scope > .tree-row > [data-testid="tree-check"]').check();
  // Its children are shown ticked too once opened.
  await item.locator(':scope > .tree-row > [data-testid="tree-expand"]').click();
  const child = item.locator(`li${attr('data-path', path.join(DATA_DIR, RESTORE_FILE))}`);
  await child.waitFor();
  assert.ok(await child.locator('[data-testid="tree-check"]').isChecked(), 'child of a ticked folder');
  await page.fill(tid('sched-patterns'), '*.tmp');
  await shot('schedule-1-items');
  await next(W);
  for (let d = 0; d < 7; d++) await page.check(tid(`sched-day-${d}`));
  await page.fill(tid('sched-time-1'), '23:30');
  await shot('schedule-2-schedule');
  await next(W);
  await shot('schedule-3-retention');
  await next(W);
  const summary = await page.textContent(tid('sched-summary'));
  assert.ok(summary.includes(DATA_DIR), summary);
  assert.ok(summary.includes(path.join(DATA_DIR, '*.tmp')), summary);
  await shot('schedule-4-summary');
  await page.click(tid('wizard-finish'));
  await page.waitForSelector(tid('schedule-done'));
  await page.click(tid('wizard-close'));
  await page.waitForSelector(`${tid('overview-schedule')}:has-text("23:30")`);
  await shot('overview-registered');
});

// Waits for the next thing the Jobs view shows of the backup started after
// `rowsBefore` history rows: a view of the running job whose figures differ
// from `last` (a progress report that moved), or {ended: true} once the job
// is in the history with its final state. Both are certain to come (the
// console shows each report it polls; the job ends), so this waits on a
// condition, never on time.
async function nextView(rowsBefore, last, timeout) {
  const handle = await page.waitForFunction(([n, lastKey]) => {
    const bar = document.querySelector('[data-testid="job-progress"]');
    if (bar) {
      const q = (id) => document.querySelector(`[data-testid="${id}"]`);
      const bytes = (id) => (q(id) ? Number(q(id).dataset.bytes) : null);
      const view = {known: bar.dataset.known === 'true', value: bar.hasAttribute('value') ? bar.value : null,
        pct: q('job-percent').textContent, done: bytes('job-bytes'), read: bytes('job-read'),
        uploaded: bytes('job-uploaded'), rate: q('job-rate').textContent};
      return JSON.stringify(view) === lastKey ? null : view;
    }
    const rows = document.querySelectorAll('[data-testid="job-row"]');
    const ended = rows.length > n && !['Running', 'InProgress'].includes(rows[0].dataset.state);
    return ended ? {ended: true} : null;
  }, [rowsBefore, last ? JSON.stringify(last) : ''], {timeout, polling: 'raf'});
  return handle.jsonValue();
}

// Follows the running backup started after `rowsBefore` history rows until
// it has ended, by condition only: each step waits for the view to change
// or the job to end (nextView), and there is no assertion that a figure
// moved within some time. Every view of it must be consistent (check(view)),
// and its figures never go back. The deadline is generous (the job's own
// timeout). Returns {views, partWay}: partWay is the first view that showed
// uploaded > 0 while running (the engine counts an accepted pack's data in
// the vault before its upload, so such a view has bytes in the vault;
// screenshot `shotName`), null when the job ended before a view showed one.
async function followBackup(rowsBefore, shotName, check, deadlineMs = 240000) {
  const views = [];
  let partWay = null;
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const remaining = deadline - Date.now();
    assert.ok(remaining > 0, `the backup did not end: ${JSON.stringify(views.slice(-3))}`);
    const v = await nextView(rowsBefore, views[views.length - 1], remaining);
    if (v.ended) break;
    assert.match(v.pct, v.known ? /^\d+ %$/ : /^—$/);
    assert.match(v.rate, /^\d+\.\d MB\/s$/);
    check(v);
    const last = views[views.length - 1];
    if (last) {
      for (const k of ['done', 'read', 'uploaded']) {
        assert.ok(v[k] >= last[k], `${k} went back: ${last[k]} then ${v[k]}`);
      }
    }
    views.push(v);
    if (!partWay && v.uploaded > 0) {
      partWay = v;
      await shot(shotName);
    }
  }
  return {views, partWay};
}

test('Back Up Now: the first backup shows what is read, uploaded and in the vault, then Completed', async (t) => {
  await page.click(tid('nav-jobs'));
  await page.waitForSelector(`${tid('view-jobs')}:visible`);
  const before = await jobRows();
  await page.click(tid('action-backup'));
  await page.waitForSelector(tid('wizard-backup'));
  await shot('backup-now-confirm');
  await page.click(tid('wizard-finish'));
  await page.waitForSelector(`${tid('view-jobs')}:visible`);
  // No earlier point: the size is not known, the bar is indeterminate.
  const {views, partWay} = await followBackup(before, 'jobs-running-first', (v) => {
    assert.ok(!v.known && v.value === null, JSON.stringify(v));
    assert.ok(v.read !== null && v.uploaded !== null, 'a backup shows read and uploaded bytes');
    // Everything is new: data is in the vault only after it was read.
    assert.ok(v.done <= v.read, JSON.stringify(v));
  });
  if (partWay) {
    assert.ok(partWay.done > 0, `a pack was accepted but nothing is in the vault: ${JSON.stringify(partWay)}`);
  } else {
    t.diagnostic(`the job ended before the view showed an upload (${views.length} views)`);
  }
  const row = page.locator(tid('job-row')).first();
  assert.equal(await row.getAttribute('data-state'), 'Completed');
  await page.waitForSelector(tid('no-running-job'));
  await shot('jobs-completed');
});

test('Vault: the calendar counts the day\'s recovery point and the chart draws', async () => {
  await page.click(tid('nav-vault'));
  await page.waitForSelector(tid('vault-calendar'));
  // The day of the one recovery point, in this browser's time zone (as the
  // calendar counts them).
  const {points} = await page.evaluate(async () => (await fetch('/api/points')).json());
  assert.equal(points.length, 1);
  const d = new Date(points[0].time);
  const key = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const today = page.locator(`${tid('vault-calendar')} ${attr('data-date', key)}`);
  assert.equal(await today.locator('.calendar-count').textContent(), '1');
  assert.equal(await page.textContent(tid('vault-points')), '1');
  assert.match(await page.getAttribute(tid('growth-line'), 'd'), /^M[\d.]+,[\d.]+/);
  assert.notEqual(await page.textContent(tid('vault-storage')), '0 B');
  await shot('vault');
  await page.click(tid('calendar-prev'));
  await page.click(tid('calendar-next'));
});

test('Back Up Now again on changed data: the bar follows what is in the vault', async (t) => {
  // New content in the large files: read and uploaded again, the previous
  // point's size is the estimate.
  for (const name of fs.readdirSync(DATA_DIR).filter((n) => /^part\d+\.bin$/.test(n))) {
    const file = path.join(DATA_DIR, name);
    fs.writeFileSync(file, crypto.randomBytes(fs.statSync(file).size));
  }
  await page.click(tid('nav-jobs'));
  const before = await jobRows();
  await page.click(tid('action-backup'));
  await page.click(tid('wizard-finish'));
  // The bar shows the share of the estimate that is safe in the vault (not
  // what was read, which runs ahead of the throttled upload).
  const {views, partWay} = await followBackup(before, 'jobs-running-percent', (v) => {
    // Unknown only until the job's first report.
    if (!v.known) assert.ok(v.done === 0 && v.read === 0 && v.uploaded === 0, JSON.stringify(v));
    else assert.equal(`${v.value} %`, v.pct);
  });
  if (partWay) {
    assert.ok(partWay.done > 0 && partWay.value > 0, `uploaded but the bar did not move: ${JSON.stringify(partWay)}`);
  } else {
    t.diagnostic(`the job ended before the view showed an upload (${views.length} views)`);
  }
  const row = page.locator(tid('job-row')).first();
  assert.equal(await row.getAttribute('data-state'), 'Completed');
});

test('Recover Data: one file to another folder, byte for byte', async () => {
  const W = tid('wizard-recover');
  await page.click(tid('action-recover'));
  await page.waitForSelector(W);
  await shot('recover-1-start');
  await next(W);
  await page.waitForSelector(`${tid('rec-calendar')} .has-points`);
  assert.ok((await page.locator(`${tid('rec-time')} option`).count()) >= 1);
  await shot('recover-2-date');
  await next(W);
  const file = path.join(DATA_DIR, RESTORE_FILE);
  const item = await expandTo(tid('rec-tree'), file);
  await item.locator(':scope > .tree-row > [data-testid="tree-check"]').check();
  await shot('recover-3-items');
  // Search finds it too, and nothing the exclusion pattern left out.
  await page.check(tid('rec-mode-search'));
  await page.fill(tid('rec-search-pattern'), '*.tmp');
  await page.click(tid('rec-search'));
  await page.waitForSelector(`${tid('rec-search-results')} :text("Nothing matches.")`);
  await page.fill(tid('rec-search-pattern'), RESTORE_FILE);
  await page.click(tid('rec-search'));
  await page.waitForSelector(`${tid('rec-search-results')} label:has-text(${JSON.stringify(file)})`);
  await shot('recover-3-search');
  await next(W);
  await page.check(tid('rec-target-another'));
  await next(W);
  assert.match(await page.textContent(`${W} ${tid('validation-message')}`), /absolute path/);
  await page.fill(tid('rec-target-folder'), RESTORE_DIR);
  await shot('recover-4-options');
  await next(W);
  // The confirmation says where the file will land: its whole path below
  // the folder, as the engine places it.
  await page.waitForSelector(`${tid('rec-destination')}:has-text(${JSON.stringify(RESTORE_DIR + file)})`);
  await shot('recover-5-confirm');
  const before = await jobRows();
  await page.click(tid('wizard-finish'));
  await page.waitForSelector(`${tid('view-jobs')}:visible`);
  const row = await waitForJobEnd(before);
  assert.equal(await row.getAttribute('data-state'), 'Completed');
  assert.equal(await row.locator('td').first().textContent(), 'Recovery');
  const found = execFileSync('find', [RESTORE_DIR, '-type', 'f', '-name', RESTORE_FILE], {encoding: 'utf8'})
      .split('\n').filter(Boolean);
  assert.deepEqual(found, [RESTORE_DIR + file], 'recovered copies');
  assert.ok(fs.readFileSync(found[0]).equals(fs.readFileSync(file)), 'recovered bytes differ');
  await shot('jobs-recovered');
});

test('Recover Data from another server: credential file, its name and passphrase', async () => {
  const W = tid('wizard-recover');
  const status = await page.evaluate(async () => (await fetch('/api/status')).json());
  await page.click(tid('action-recover'));
  await page.waitForSelector(W);
  await page.check(tid('rec-other'));
  await page.setInputFiles(tid('rec-credentials-file'), env('CREDS_FILE'));
  await page.waitForSelector(`${tid('rec-credentials-file-info')}:has-text("Loaded")`);
  await page.fill(tid('rec-machine'), status.machine_name);
  await page.fill(tid('rec-passphrase'), 'a wrong passphrase, long enough');
  await next(W);
  const panel = page.locator(`${W} ${tid('error-panel')}`);
  await panel.waitFor();
  // The passphrase does not open that server's data: 34506, explained.
  assert.equal(await panel.locator(tid('error-id')).textContent(), '34506');
  assert.ok((await panel.locator(tid('error-action')).textContent()).length > 20, 'action shown');
  await shot('recover-other-wrong-passphrase');
  await page.fill(tid('rec-passphrase'), passphrase);
  await next(W);
  await page.waitForSelector(`${tid('rec-calendar')} .has-points`);
  assert.ok((await page.locator(`${tid('rec-time')} option`).count()) >= 2, 'the other server\'s points');
  await shot('recover-other-date');
  await page.click(tid('wizard-cancel'));
});

test('Stop on the running job cancels it', async () => {
  for (const name of fs.readdirSync(DATA_DIR).filter((n) => /^part\d+\.bin$/.test(n))) {
    const file = path.join(DATA_DIR, name);
    fs.writeFileSync(file, crypto.randomBytes(fs.statSync(file).size));
  }
  await page.click(tid('nav-jobs'));
  const before = await jobRows();
  await page.click(tid('action-backup'));
  await page.click(tid('wizard-finish'));
  await page.waitForSelector(tid('job-stop'), {timeout: 30000});
  await page.click(tid('job-stop'));
  const row = await waitForJobEnd(before);
  assert.equal(await row.getAttribute('data-state'), 'Cancelled');
  await shot('jobs-cancelled');
});

test('a skipped file makes CompletedWithWarnings, listed in the job details', async () => {
  // A FIFO is not backed up (root reads anything, so no chmod 000 here).
  execFileSync('mkfifo', [path.join(DATA_DIR, 'a pipe')]);
  await page.click(tid('nav-jobs'));
  const before = await jobRows();
  await page.click(tid('action-backup'));
  await page.click(tid('wizard-finish'));
  const row = await waitForJobEnd(before);
  assert.equal(await row.getAttribute('data-state'), 'CompletedWithWarnings');
  // From the keyboard: the row takes focus, Enter opens it.
  await row.focus();
  await page.keyboard.press('Enter');
  const failed = page.locator(`${tid('job-details')} ${tid('failed-file')}`);
  await failed.first().waitFor();
  const text = await failed.first().textContent();
  assert.ok(text.includes('a pipe'), text);
  assert.match(await failed.first().locator('td').first().textContent(), /^0x[0-9A-Fa-f]{8}$/);
  await shot('jobs-warnings-details');
});

test('Run recovery test now: a RecoveryTest job that restores, compares and says so', async () => {
  await page.click(tid('nav-jobs'));
  const before = await jobRows();
  await page.click(tid('run-recovery-test'));
  const row = await waitForJobEnd(before);
  assert.equal(await row.locator('td').first().textContent(), 'RecoveryTest');
  assert.equal(await row.getAttribute('data-state'), 'Completed');
  await row.click();
  const summary = page.locator(`${tid('job-details')} ${tid('job-summary')}`);
  await summary.waitFor();
  assert.match(await summary.textContent(), /restored and identical/);
  await shot('jobs-recovery-test');
});

test('About shows the engine and this server', async () => {
  const status = await page.evaluate(async () => (await fetch('/api/status')).json());
  await page.click(tid('action-about'));
  await page.waitForSelector(tid('dialog-about'));
  assert.equal(await page.textContent(tid('about-machine')), status.machine_name);
  assert.match(await page.textContent(tid('about-engine')), /cbengine/);
  if (status.version) assert.equal(await page.textContent(tid('about-version')), status.version);
  await shot('about');
  await page.click(`${tid('dialog-about')} ${tid('dialog-close')}`);
  await page.click(tid('nav-overview'));
  await shot('overview-after');
});

test('Change Properties: a new passphrase needs the Security PIN; with its copy the data opens with it, not the old one', async () => {
  const D = tid('dialog-properties');
  await page.click(tid('action-properties'));
  await page.waitForSelector(D);
  await page.click(tid('tab-encryption'));
  await page.click(`${D} ${tid('passphrase-generate')}`);
  const passphrase = await page.inputValue(`${D} ${tid('passphrase')}`);
  assert.ok(passphrase.length >= 16, passphrase);
  const copy = `${env('PASS_COPY')}.new`;
  await page.fill(`${D} ${tid('passphrase-copy-path')}`, copy);
  // vaultd wants its Security PIN for a passphrase change: refused without
  // it, with the catalogue entry, and nothing changes.
  await page.click(tid('prop-change-passphrase'));
  await page.waitForSelector(`${D} ${tid('error-id')}:has-text("100130")`);
  assert.ok(!fs.existsSync(copy), 'a refused change wrote the copy');
  const pin = JSON.parse(execFileSync(env('OBCTL'), ['--json', 'vault', 'security-pin', 'prod',
    '--service', env('VAULT_URL'), '--admin-token-file', env('VAULT_ADMIN_TOKEN_FILE')],
  {encoding: 'utf8'})).pin;
  await page.fill(`${D} ${tid('prop-security-pin')}`, pin);
  await page.click(tid('prop-change-passphrase'));
  await page.waitForSelector(`${D} ${tid('properties-saved')}`);
  await shot('properties-passphrase-changed');
  await page.click(`${D} ${tid('dialog-close')}`);
  assert.equal(fs.readFileSync(copy, 'utf8').trim(), passphrase);
  assert.equal(fs.statSync(copy).mode & 0o777, 0o600);
  // obctl checks a given passphrase against the vault's key.
  const obctl = (file) => execFileSync(env('OBCTL'), ['recovery', 'list', '--passphrase-file', file],
      {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
  assert.match(obctl(copy), /files/);
  assert.throws(() => obctl(env('PASS_COPY')), (e) => /34506/.test(String(e.stderr)));
});

test('no script error and no Content-Security-Policy refusal on any page', () => {
  assert.deepEqual(pageProblems, []);
});
