// tests/browser/browser_test.mjs — the exam page (/exam/) and
// web/attempts-client.js in headless Chromium, driven by puppeteer-core,
// against a running stack. Started by tests/browser/browser_test.sh, which
// starts the stack and passes everything in the environment:
//   BT_URL          the stack's base URL (nginx)
//   BT_EXAM         an exam id; BT_TOKEN a student token
//   BT_CHROMIUM     the browser; BT_PUPPETEER the directory holding
//                   node_modules/puppeteer-core
//   BT_PSQL, BT_CONNINFO       psql and the stack's database
//   BT_PG_STOP, BT_PG_START    shell commands that stop/start PostgreSQL
//   BT_ARTEFACTS    where screenshots and figures go
// Checks, each an `ok - ...` or `FAIL - ...` line:
//   1. type answers -> the page shows saved; the database holds them;
//   2. PostgreSQL stopped -> the page shows offline; typing goes on; a
//      reload keeps every answer; PostgreSQL back -> the queue drains (time
//      measured); the database holds every answer, the activity events in
//      the order typed, none twice;
//   3. a second tab saves -> the first merges (its own edits win, the
//      other tab's answers to the other questions arrive), nothing lost;
//   4. submit -> receipt shown and verified; the attempt is closed; a
//      repeated submit gives the same receipt; the other tab sees closed.
//   5. the proctors' live view (/proctor/, BT_PROCTOR_TOKEN): subscribed
//      and painted, its counts those of the database; a student
//      (BT_TOKEN2) starts an attempt -> the page shows it within 2 s
//      (pushed: nchan EventSource; the time is a figure too); a save moves
//      its progress and the answers-per-question and saves-per-minute
//      charts; a submit moves it out of the table and into the status
//      chart; a student's token is refused; with the live endpoint
//      answering 503 live_unavailable (nginx without nchan) the page says
//      live updates are off and still paints the snapshot.
// Ends with `browser_test.mjs: N passed, N failed`; exit 1 on any failure.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { makeChecks } from '../lib/checks.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.log(`ERROR: ${k} not set (run tests/browser/browser_test.sh)`);
    process.exit(99);
  }
  return v;
};
const base = env('BT_URL');
const examId = env('BT_EXAM');
const token = env('BT_TOKEN');
const artefacts = env('BT_ARTEFACTS');
mkdirSync(artefacts, { recursive: true });

const require = createRequire(join(env('BT_PUPPETEER'), 'package.json'));
const puppeteer = require('puppeteer-core');

const checks = makeChecks('FAIL');
const check = checks.check;
const figures = [];
function figure(text) {
  figures.push(text);
  console.log(`# figure: ${text}`);
}

function psql(sql) {
  return execFileSync(env('BT_PSQL'), ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-d', env('BT_CONNINFO'), '-c', sql], { encoding: 'utf8' }).trim();
}
function sh(cmd) {
  execFileSync('bash', ['-c', cmd], { stdio: ['ignore', 'inherit', 'inherit'] });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function shot(page, name) {
  try {
    await page.screenshot({ path: join(artefacts, `${name}.png`), fullPage: true });
  } catch (e) {
    console.log(`# screenshot ${name} failed: ${e.message}`);
  }
}

// Waits until fn (evaluated in the page) is truthy; false after timeoutMs.
async function waitPage(page, fn, timeoutMs = 20000, arg = null) {
  try {
    await page.waitForFunction(fn, { timeout: timeoutMs, polling: 50 }, arg);
    return true;
  } catch {
    return false;
  }
}

const pageState = (page) => page.evaluate(() => {
  const p = window.examPage;
  const c = p && p.client;
  return {
    state: p && p.lastState ? p.lastState.state : null,
    status: document.querySelector('#status').textContent,
    pending: c ? c.pendingCount() : null,
    events: c ? c.events.length : null,
    version: c ? c.version : null,
    attemptId: c ? c.attemptId : null,
  };
});

// Idle: connected, saved, nothing pending, no event queued.
const idle = () => {
  const p = window.examPage;
  return p && p.client && p.lastState && p.lastState.state === 'saved' && p.client.pendingCount() === 0 && p.client.events.length === 0 && p.client.pendingAuto === undefined && !p.client.saveInFlight;
};

const inputs = (page) => page.evaluate(() => {
  const out = {};
  for (const el of document.querySelectorAll('[data-q]')) {
    if (el.tagName === 'FIELDSET') {
      const r = el.querySelector('input:checked');
      if (r) out[el.dataset.q] = r.value;
    } else if (el.value !== '') out[el.dataset.q] = el.value;
  }
  return out;
});

// Replaces a text answer by typing it (input events as a user makes them).
async function typeAnswer(page, q, text) {
  await page.click(`#${q}`, { clickCount: 3 });
  await page.evaluate((id) => document.getElementById(id).select(), q);
  await page.keyboard.press('Backspace');
  await page.type(`#${q}`, text, { delay: 5 });
}
async function chooseAnswer(page, q, value) {
  await page.click(`input[name=${q}][value="${value}"]`);
}
// Moves the focus away (the field's change event, logged as activity).
async function blur(page) {
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
}

function dbAnswers(attemptId) {
  const t = psql(`SELECT answers FROM attempts.attempts WHERE attempt_id = '${attemptId}'`);
  return t ? JSON.parse(t) : null;
}
const same = (a, b) => JSON.stringify(Object.entries(a || {}).sort()) === JSON.stringify(Object.entries(b || {}).sort());

const examUrl = `${base}/exam/#token=${token}&exam=${examId}`;
const profile = mkdtempSync(join(tmpdir(), 'attempts-chromium-'));
const args = ['--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'];
if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
let browser;
let pgStopped = false;
try {
  browser = await puppeteer.launch({ executablePath: env('BT_CHROMIUM'), headless: true, args, userDataDir: profile });
} catch (e) {
  console.log(`ERROR: Chromium did not start (${env('BT_CHROMIUM')}): ${e.message}`);
  process.exit(99);
}
console.log(`# browser: ${await browser.version()}; screenshots in ${artefacts}`);

async function openTab(name) {
  const page = await browser.newPage();
  await page.setViewport({ width: 900, height: 1100 });
  // idle() in the page too (conditions below combine it with others).
  await page.evaluateOnNewDocument(`window.idle = ${idle.toString()};`);
  page.on('pageerror', (e) => console.log(`# [${name}] page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) console.log(`# [${name}] console: ${m.text()}`);
  });
  await page.goto(examUrl, { waitUntil: 'load' });
  return page;
}

// ------------------------------------------------------------ 5. proctor
async function api(method, path, tok, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function openProctor(name, tok, setup) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 1000 });
  page.on('pageerror', (e) => console.log(`# [${name}] page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) console.log(`# [${name}] console: ${m.text()}`);
  });
  if (setup) await setup(page);
  await page.goto(`${base}/proctor/#token=${tok}&exam=${examId}`, { waitUntil: 'load' });
  return page;
}

const proctorState = (page) => page.evaluate(() => {
  const p = window.proctorPage;
  return p && {
    live: p.live, liveText: document.querySelector('#live').textContent, snapshots: p.snapshots, messages: p.messages,
    counts: p.counts, perQuestion: p.perQuestion, active: [...p.attempts.keys()],
    notice: document.querySelector('#notice').hidden ? '' : document.querySelector('#notice').textContent,
  };
});

async function proctorTest() {
  const proctorToken = env('BT_PROCTOR_TOKEN');
  const student2 = env('BT_TOKEN2');
  const pr = await openProctor('P', proctorToken);
  let ok = await waitPage(pr, () => window.proctorPage && window.proctorPage.live === 'live' && window.proctorPage.snapshots > 0, 15000);
  check(ok, '5: the proctor page subscribes to the live feed and paints the snapshot', await proctorState(pr));
  const dbCounts = () => psql(`SELECT count(*) || ' ' || count(*) FILTER (WHERE status = 'in_progress') || ' ' || count(*) FILTER (WHERE status = 'submitted') FROM attempts.attempts WHERE exam_id = '${examId}'`);
  const pageCounts = async () => {
    const c = (await proctorState(pr)).counts;
    return `${c.total} ${c.in_progress} ${c.submitted}`;
  };
  ok = await waitPage(pr, () => document.querySelector('#summary').textContent !== '', 5000);
  check(ok && (await pageCounts()) === dbCounts(), '5: the page\'s counts are the database\'s', { page: await pageCounts(), db: dbCounts() });
  await shot(pr, '5a-proctor-before');

  // A student starts an attempt: the page must show it within 2 s.
  const t0 = Date.now();
  const st = await api('POST', '/api/attempts/new?action=start', student2, { exam_id: examId });
  const tStarted = Date.now();
  const id = st.body && st.body.attempt_id;
  check(st.status === 201 && /^[0-9a-f-]{36}$/.test(id || ''), '5: the second student started an attempt', st);
  ok = await waitPage(pr, (a) => !!document.querySelector(`tr[data-attempt-id="${a}"]`), Math.max(1, 2000 - (Date.now() - t0)), id);
  const shownMs = Date.now() - t0;
  const arrival = await pr.evaluate((a) => (window.proctorPage.arrivals.find((x) => x.attempt_id === a) || {}).at, id);
  check(ok, '5: a student starts an attempt -> the proctor page shows it within 2 s', { shownMs, state: await proctorState(pr) });
  figure(`5: start -> the attempt on the proctor page: message in ${arrival ? arrival - t0 : '?'} ms, row drawn after ${shownMs} ms from the start request (its answer took ${tStarted - t0} ms); pushed by nchan, no polling`);
  await shot(pr, '5b-proctor-started');

  // A save: progress, answers per question, saves per minute.
  const before = await pr.evaluate(() => [...document.querySelectorAll('#chart-saves rect')].reduce((n, r) => n + Number(r.dataset.value), 0));
  const sv = await api('PATCH', `/api/attempts/${id}?action=save`, student2, { answers: { q1: '13', q2: 'lost updates', q3: '409' }, expected_version: 1 });
  check(sv.status === 200 && sv.body.version === 2, '5: the second student saved three answers', sv);
  ok = await waitPage(pr, (a) => {
    const td = document.querySelector(`tr[data-attempt-id="${a}"] td[data-answered]`);
    const bars = [...document.querySelectorAll('#chart-questions rect')].map((r) => r.dataset.label);
    return td && td.dataset.answered === '3' && ['q1', 'q2', 'q3'].every((q) => bars.includes(q));
  }, 5000, id);
  const after = await pr.evaluate(() => [...document.querySelectorAll('#chart-saves rect')].reduce((n, r) => n + Number(r.dataset.value), 0));
  check(ok, '5: a save -> 3 answered in the table, q1..q3 in the answers-per-question chart', await proctorState(pr));
  check(after === before + 1, '5: the saves-per-minute chart counted the save', { before, after });
  const dbPerQ = JSON.parse(psql(`SELECT coalesce(jsonb_object_agg(k, n), '{}') FROM (SELECT k, count(*) AS n FROM attempts.attempts a, jsonb_object_keys(a.answers) k WHERE a.exam_id = '${examId}' GROUP BY k) q`));
  // The summary (counts, answers per question) follows the rows within the
  // publisher's summary interval (2 s).
  await waitPage(pr, (want) => JSON.stringify(Object.entries(window.proctorPage.perQuestion || {}).sort()) === JSON.stringify(Object.entries(want).sort()), 5000, dbPerQ);
  const perQ = (await proctorState(pr)).perQuestion;
  check(same(perQ, dbPerQ), '5: answers per question as in the database', { page: perQ, db: dbPerQ });
  await shot(pr, '5c-proctor-saved');

  // A submit: out of the table, into the submitted bar.
  const sb = await api('POST', `/api/attempts/${id}?action=submit`, student2, {});
  check(sb.status === 200, '5: the second student submitted', sb.status);
  ok = await waitPage(pr, (a) => !document.querySelector(`tr[data-attempt-id="${a}"]`), 5000, id);
  const wantCounts = dbCounts().split(' ').map(Number);
  await waitPage(pr, (w) => { const c = window.proctorPage.counts; return c.total === w[0] && c.in_progress === w[1] && c.submitted === w[2]; }, 5000, wantCounts);
  check(ok && (await pageCounts()) === dbCounts(), '5: a submit -> the attempt leaves the table; the counts follow the database', { page: await pageCounts(), db: dbCounts() });
  const bar = await pr.evaluate(() => {
    const r = [...document.querySelectorAll('#chart-status rect')].find((x) => x.dataset.label === 'submitted');
    return r ? Number(r.dataset.value) : null;
  });
  check(bar === Number(dbCounts().split(' ')[2]), '5: the status chart shows the submitted attempts', bar);
  await shot(pr, '5d-proctor-submitted');
  await pr.close();

  // A student may not watch.
  const sp = await openProctor('S', token);
  ok = await waitPage(sp, () => window.proctorPage && window.proctorPage.live === 'denied', 10000);
  check(ok, '5: with a student\'s token the page is refused the live feed and says so', await proctorState(sp));
  await shot(sp, '5e-student-refused');
  await sp.close();

  // nginx without nchan: the live endpoint answers as attempts-live-off.conf does.
  const off = await openProctor('OFF', proctorToken, async (page) => {
    await page.setRequestInterception(true);
    page.on('request', (r) => {
      if (/\/api\/exams\/[^/]+\/live$/.test(new URL(r.url()).pathname)) {
        r.respond({ status: 503, contentType: 'application/json; charset=utf-8', body: '{"error":{"code":"live_unavailable","message":"live updates are off: this nginx has no nchan module"}}\n' });
      } else r.continue();
    });
  });
  ok = await waitPage(off, () => window.proctorPage && window.proctorPage.live === 'off' && window.proctorPage.snapshots > 0, 10000);
  const offState = await proctorState(off);
  check(ok && offState.liveText === 'live updates are off' && /Live updates are off/.test(offState.notice),
    '5: without nchan the page says live updates are off and still shows the snapshot', offState);
  await shot(off, '5f-live-off');
  await off.close();
}

try {
  // ------------------------------------------------------------ 1. saved
  const a = await openTab('A');
  check(await waitPage(a, idle), '1: the page starts the attempt and shows saved', await pageState(a));
  const attemptId = (await pageState(a)).attemptId;
  check(/^[0-9a-f-]{36}$/.test(attemptId || ''), '1: an attempt id', attemptId);
  await typeAnswer(a, 'q1', '13');
  await typeAnswer(a, 'q2', 'lost updates');
  await chooseAnswer(a, 'q3', '409');
  await blur(a);
  const t1 = Date.now();
  let ok = await waitPage(a, idle);
  figure(`1: three answers typed -> saved shown ${((Date.now() - t1) / 1000).toFixed(2)} s after the last keystroke (debounce 0.8 s)`);
  const s1 = await pageState(a);
  check(ok && /^saved \d+ s ago$/.test(s1.status), '1: the status line says saved', s1);
  await shot(a, '1-saved');
  const want1 = { q1: '13', q2: 'lost updates', q3: '409' };
  check(same(dbAnswers(attemptId), want1), '1: the database holds the answers', dbAnswers(attemptId));

  // ------------------------------------------------------------ 2. offline
  sh(env('BT_PG_STOP'));
  pgStopped = true;
  const tStop = Date.now();
  console.log('# 2: PostgreSQL stopped');
  await typeAnswer(a, 'q4', 'Retry-After');
  await typeAnswer(a, 'q5', 'wait a random time up to a growing cap');
  await typeAnswer(a, 'q1', '17');
  await blur(a);
  ok = await waitPage(a, () => window.examPage.lastState.state === 'offline' && window.examPage.client.pendingCount() === 3);
  let s2 = await pageState(a);
  check(ok && s2.status === 'offline — 3 changes kept on this device', '2: offline shown with the changes kept', s2);
  await shot(a, '2a-offline');

  const triesBefore = await a.evaluate(() => window.examPage.client.failedTries);
  await a.reload({ waitUntil: 'load' });
  ok = await waitPage(a, () => {
    const v = (id) => document.getElementById(id).value;
    return v('q1') === '17' && v('q4') === 'Retry-After' && v('q2') === 'lost updates';
  }, 10000);
  const after = await inputs(a);
  check(ok && same(after, { ...want1, q1: '17', q4: 'Retry-After', q5: 'wait a random time up to a growing cap' }),
    '2: after a reload every answer is still on the page (from IndexedDB)', after);
  ok = await waitPage(a, () => window.examPage.lastState && window.examPage.lastState.state === 'offline', 10000);
  s2 = await pageState(a);
  check(ok && s2.status === 'offline — 3 changes kept on this device', '2: after the reload the page says offline, 3 changes kept', s2);
  const timer = await a.$eval('#timer', (e) => e.textContent);
  check(/^time left (29|30):\d\d$/.test(timer), '2: offline after the reload, the countdown goes on (deadline kept on the device)', timer);
  await typeAnswer(a, 'q2', 'lost updates between tabs');
  await blur(a);
  ok = await waitPage(a, () => window.examPage.client.pendingCount() === 4 && document.querySelector('#status').textContent === 'offline — 4 changes kept on this device', 10000);
  s2 = await pageState(a);
  check(ok, '2: typing on offline: 4 changes kept on this device', s2);
  await shot(a, '2b-reloaded-offline');

  // Keep the database away for 8 s in all: several retries, a breaker
  // that has backed off a little.
  const holdMs = 8000 - (Date.now() - tStop);
  if (holdMs > 0) await sleep(holdMs);
  const queued = await a.evaluate(() => ({ pending: window.examPage.client.pendingCount(), events: window.examPage.client.events.length }));
  const outageMs = Date.now() - tStop;
  sh(env('BT_PG_START'));
  pgStopped = false;
  const tStart = Date.now();
  console.log('# 2: PostgreSQL accepting connections again');
  ok = await waitPage(a, idle, 60000);
  const drainS = (Date.now() - tStart) / 1000;
  s2 = await pageState(a);
  check(ok && /^saved \d+ s ago$/.test(s2.status), '2: the queue drains, the page says saved', s2);
  figure(`2: queue drain: ${queued.pending} changed answers + ${queued.events} activity events sent ${drainS.toFixed(2)} s after PostgreSQL accepted connections (outage ${(outageMs / 1000).toFixed(1)} s; ${triesBefore} + ${await a.evaluate(() => window.examPage.client.failedTries)} failed tries before and after the reload, each after Retry-After or backoff)`);
  await shot(a, '2c-drained');
  writeFileSync(join(artefacts, '2-states.json'), JSON.stringify(await a.evaluate(() => window.examPage.states), null, 1));
  const want2 = { q1: '17', q2: 'lost updates between tabs', q3: '409', q4: 'Retry-After', q5: 'wait a random time up to a growing cap' };
  check(same(dbAnswers(attemptId), want2), '2: the database holds every answer', dbAnswers(attemptId));
  const evs = psql(`SELECT string_agg(payload->>'question', ',' ORDER BY activity_id) || ' ' || count(*) || ' ' || count(DISTINCT client_event_id)
      FROM attempts.attempt_activity WHERE attempt_id = '${attemptId}' AND event_type = 'answer_changed'`);
  check(evs === 'q1,q2,q3,q4,q5,q1,q2 7 7', '2: the activity log holds each change once, in the order typed', evs);

  // ------------------------------------------------------------ 3. two tabs
  const b = await openTab('B');
  ok = await waitPage(b, idle);
  check(ok && same(await inputs(b), want2), '3: a second tab opens the same attempt with the same answers', await inputs(b));
  await typeAnswer(b, 'q4', 'Retry-After (seconds or a date)');
  await typeAnswer(b, 'q2', 'tab B wrote this');
  await blur(b);
  ok = await waitPage(b, idle);
  const vB = (await pageState(b)).version;
  check(ok && dbAnswers(attemptId).q4 === 'Retry-After (seconds or a date)', '3: the second tab saved', { vB, db: dbAnswers(attemptId) });
  await shot(b, '3a-tab-b-saved');

  await a.bringToFront();
  const vA = (await pageState(a)).version;
  await typeAnswer(a, 'q1', '19');
  await typeAnswer(a, 'q2', 'tab A: lost updates between tabs');
  await typeAnswer(a, 'q5', 'wait a random time up to a growing cap, then retry');
  await blur(a);
  ok = await waitPage(a, () => idle() && window.examPage.conflicts.length > 0 && document.getElementById('q4').value === 'Retry-After (seconds or a date)');
  const conflicts = await a.evaluate(() => window.examPage.conflicts);
  const c0 = conflicts[0] || {};
  check(ok, '3: the first tab got a version conflict, merged and saved', { vA, vB, conflicts, s: await pageState(a) });
  check(JSON.stringify(c0.keptLocal) === '["q1","q2","q5"]' && JSON.stringify(c0.tookServer) === '["q4"]',
    '3: merged per question: own edits kept (q1, q2, q5), the other tab\'s q4 taken', c0);
  const notice = await a.$eval('#notice', (e) => (e.hidden ? '' : e.textContent));
  check(/Another tab or device saved/.test(notice), '3: the page reports the conflict', notice);
  await shot(a, '3b-tab-a-merged');
  const want3 = { q1: '19', q2: 'tab A: lost updates between tabs', q3: '409', q4: 'Retry-After (seconds or a date)', q5: 'wait a random time up to a growing cap, then retry' };
  check(same(dbAnswers(attemptId), want3), '3: the database holds the merge: nothing typed in the first tab lost, the second tab\'s q4 kept', dbAnswers(attemptId));
  check(same(await inputs(a), want3), '3: the first tab shows the merged answers', await inputs(a));

  // ------------------------------------------------------------ 4. submit
  await a.click('#submit');
  ok = await waitPage(a, () => !document.getElementById('receipt-box').hidden && /^[0-9a-f]{64}$/.test(document.getElementById('receipt').textContent));
  const receipt = await a.$eval('#receipt', (e) => e.textContent);
  const checkText = await a.$eval('#receipt-check', (e) => e.textContent);
  const s4 = await pageState(a);
  check(ok && s4.state === 'closed' && s4.status === 'submitted', '4: submit shows the receipt, the page is closed', { receipt, s4 });
  check(/matches your answers/.test(checkText), '4: the page checked the receipt against the answers (SHA-256 of RFC 8785 JSON)', checkText);
  check(await a.evaluate(() => [...document.querySelectorAll('[data-q], #submit')].every((e) => e.readOnly || e.disabled)), '4: the inputs and the button are disabled');
  await shot(a, '4a-receipt');
  const row = psql(`SELECT status || ' ' || coalesce(submit_reason, '-') FROM attempts.attempts WHERE attempt_id = '${attemptId}'`);
  check(row === 'submitted student', '4: the attempt is closed in the database', row);
  check(same(dbAnswers(attemptId), want3), '4: the submitted answers are the merged ones', dbAnswers(attemptId));
  const again = await a.evaluate(() => window.examPage.client.submit().then((r) => r.receipt));
  check(again === receipt, '4: a repeated submit in the page returns the same receipt', again);
  const res = await fetch(`${base}/api/attempts/${attemptId}?action=submit`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{}' });
  const j = await res.json();
  check(res.status === 200 && j.receipt === receipt && j.already_submitted === true, '4: the service answers a repeated submit with the same receipt', { status: res.status, j });
  await a.reload({ waitUntil: 'load' });
  ok = await waitPage(a, () => window.examPage.lastState && window.examPage.lastState.state === 'closed' && document.getElementById('receipt').textContent.length === 64);
  check(ok && (await a.$eval('#receipt', (e) => e.textContent)) === receipt, '4: reloaded, the page shows the closed attempt and its receipt');
  await shot(a, '4b-reloaded-closed');
  // The other tab learns it at its next save.
  await b.bringToFront();
  await typeAnswer(b, 'q4', 'too late');
  ok = await waitPage(b, () => window.examPage.lastState.state === 'closed');
  check(ok && (await b.$eval('#status', (e) => e.textContent)) === 'submitted', '4: the other tab sees the attempt closed at its next save', await pageState(b));
  check(same(dbAnswers(attemptId), want3), '4: nothing changed after the submit', dbAnswers(attemptId));
  await shot(b, '4c-tab-b-closed');
} catch (e) {
  check(false, 'the browser test ran to its end', e.stack || String(e));
}

// Test 5 runs whatever became of 1-4 (it uses an exam and students of its own making).
try {
  await proctorTest();
} catch (e) {
  check(false, '5: the proctor test ran to its end', e.stack || String(e));
} finally {
  if (pgStopped) {
    try {
      sh(env('BT_PG_START'));
    } catch {
      // the shell's teardown stops the stack anyway
    }
  }
  if (browser) await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  writeFileSync(join(artefacts, 'figures.txt'), `${figures.join('\n')}\nchecks: ${checks.counts()}\n`);
}
console.log(`browser_test.mjs: ${checks.counts()}`);
process.exit(checks.failed ? 1 : 0);
