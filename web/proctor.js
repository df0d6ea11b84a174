// proctor.js — the proctors' live view of one exam (proctor.html). Reads the
// token and the exam from the URL fragment (#token=…&exam=…[&api=ORIGIN])
// or the sign-in form. The first paint comes from
// GET /api/attempts/{nil}?action=stats&type=live&exam_id=… (attempts in
// progress, counts, answers per question); then it listens to
// GET /api/exams/{exam}/live, Server-Sent Events that nginx (nchan) pushes
// whenever attempts change, read with fetch so the token travels in the
// Authorization header and never in a URL. Every message carries each
// attempt's version: an attempt is only ever moved forward, so a replayed
// or duplicated message changes nothing. After a lost connection it
// reconnects (Last-Event-ID: nchan replays what its buffer still holds) and
// fetches the snapshot again. The charts are plain SVG.
// window.proctorPage exposes the state (the browser tests read it).

const $ = (sel) => document.querySelector(sel);
const SVG = 'http://www.w3.org/2000/svg';
const NIL = '00000000-0000-0000-0000-000000000000';

const page = {
  live: 'connecting', // connecting | live | reconnecting | off | denied | error
  attempts: new Map(), // attempt_id -> attempt (in progress), with receivedAt
  versions: new Map(), // attempt_id -> highest version seen (any status)
  counts: { total: 0, in_progress: 0, submitted: 0 },
  perQuestion: {},
  summaryAt: '', // the database time of the counts shown
  saves: new Map(), // minute (epoch ms) -> saves seen in it
  lastEventId: null,
  messages: 0,
  snapshots: 0,
  arrivals: [], // {at, attempt_id, version}: when each change reached the page
  fresh: new Map(), // attempt_id -> time of its last change (highlight)
};
window.proctorPage = page;

let cfg = null;
let renderQueued = false;

function params() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  return { token: p.get('token'), exam: p.get('exam'), api: p.get('api') || '' };
}

function setLive(state, text) {
  page.live = state;
  const el = $('#live');
  el.dataset.state = state;
  el.textContent = text;
}

function notice(text) {
  const el = $('#notice');
  el.hidden = !text;
  el.textContent = text || '';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(path, headers = {}) {
  const res = await fetch(cfg.api + path, {
    headers: { Authorization: `Bearer ${cfg.token}`, ...headers },
    cache: 'no-store',
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

// ------------------------------------------------------------ state

// Moves one attempt forward; false if what we have is as new or newer.
function applyAttempt(a, receivedAt, counted) {
  const seen = page.versions.get(a.attempt_id);
  if (seen !== undefined && seen >= a.version) return false;
  if (counted && seen !== undefined) {
    const minute = Math.floor(receivedAt / 60000) * 60000;
    page.saves.set(minute, (page.saves.get(minute) || 0) + (a.version - seen));
  }
  page.versions.set(a.attempt_id, a.version);
  if (a.status === 'in_progress') page.attempts.set(a.attempt_id, { ...a, receivedAt });
  else page.attempts.delete(a.attempt_id);
  return true;
}

function applySummary(m) {
  if (m.at && m.at < page.summaryAt) return;
  page.summaryAt = m.at || page.summaryAt;
  if (m.counts) page.counts = m.counts;
  if (m.per_question) page.perQuestion = m.per_question;
}

function applySnapshot(s) {
  const now = Date.now();
  page.snapshots++;
  // The snapshot lists the attempts in progress at its time: whatever we
  // hold that it lacks was submitted (or is newer than it, and then the
  // version check below keeps ours).
  const listed = new Set(s.attempts.map((a) => a.attempt_id));
  for (const [id, a] of page.attempts) {
    if (!listed.has(id) && !(a.at && a.at > s.at)) page.attempts.delete(id);
  }
  for (const a of s.attempts) {
    const seen = page.versions.get(a.attempt_id);
    // A newer version already seen (an event that overtook the
    // snapshot) wins; an equal one is the same state.
    if (seen === undefined || seen <= a.version) {
      page.versions.set(a.attempt_id, a.version);
      page.attempts.set(a.attempt_id, { ...a, at: s.at, receivedAt: now });
    }
  }
  page.summaryAt = '';
  applySummary(s);
  scheduleRender();
}

function applyMessage(m) {
  page.messages++;
  if (m.type === 'resync') {
    loadSnapshot();
    return;
  }
  if (m.type !== 'changes') return;
  const now = Date.now();
  for (const a of m.attempts || []) {
    if (applyAttempt({ ...a, at: m.at }, now, true)) {
      page.arrivals.push({ at: now, attempt_id: a.attempt_id, version: a.version, status: a.status });
      page.fresh.set(a.attempt_id, now);
    }
  }
  if (page.arrivals.length > 5000) page.arrivals.splice(0, page.arrivals.length - 5000);
  applySummary(m);
  scheduleRender();
}

let snapshotRunning = null;
async function loadSnapshot() {
  if (snapshotRunning) return snapshotRunning;
  snapshotRunning = (async () => {
    for (let delay = 500; ; delay = Math.min(delay * 2, 10000)) {
      const r = await api(`/api/attempts/${NIL}?action=stats&type=live&exam_id=${encodeURIComponent(cfg.exam)}`,
        { 'Cache-Control': 'no-cache' }).catch(() => ({ status: 0, body: null }));
      if (r.status === 200 && r.body && Array.isArray(r.body.attempts)) {
        applySnapshot(r.body);
        return;
      }
      if (r.status === 401 || r.status === 403 || r.status === 404) {
        const msg = r.body && r.body.error ? r.body.error.message : `HTTP ${r.status}`;
        notice(`Cannot show this exam: ${msg}.`);
        return;
      }
      await sleep(delay * (0.5 + Math.random() / 2));
    }
  })();
  try {
    await snapshotRunning;
  } finally {
    snapshotRunning = null;
  }
}

// ------------------------------------------------------------ the stream

// Reads Server-Sent Events from a fetch body; calls onEvent(id, data).
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(buf.slice(cut).match(/^\r?\n\r?\n/)[0].length + cut);
      let id = null;
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) continue; // a comment: nchan's ping
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'id') id = val;
        else if (field === 'data') data.push(val);
      }
      if (id !== null) page.lastEventId = id;
      if (data.length) onEvent(id, data.join('\n'));
    }
  }
}

async function subscribe() {
  let tries = 0;
  for (;;) {
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${cfg.token}` };
    if (page.lastEventId) headers['Last-Event-ID'] = page.lastEventId;
    let res = null;
    try {
      res = await fetch(`${cfg.api}/api/exams/${encodeURIComponent(cfg.exam)}/live`, { headers, cache: 'no-store' });
    } catch {
      res = null;
    }
    if (res && res.status === 503) {
      const body = await res.json().catch(() => null);
      if (body && body.error && body.error.code === 'live_unavailable') {
        setLive('off', 'live updates are off');
        notice('Live updates are off on this server (nginx without nchan): the figures are those of the last refresh.');
        $('#refresh').hidden = false;
        loadSnapshot();
        return;
      }
    }
    if (res && (res.status === 401 || res.status === 403)) {
      setLive('denied', 'not allowed');
      notice('This token may not watch the exam: a proctor\'s or an admin\'s token is needed.');
      return;
    }
    if (res && res.ok && res.body && /text\/event-stream/.test(res.headers.get('Content-Type') || '')) {
      // Subscribed: from now on nothing is missed, so the snapshot taken
      // now (first paint, or after a gap) plus the stream is complete.
      setLive('live', 'live');
      const snap = loadSnapshot();
      tries = 0;
      try {
        await readEvents(res.body, (id, data) => {
          try {
            applyMessage(JSON.parse(data));
          } catch {
            // not ours; ignore
          }
        });
      } catch {
        // the stream broke
      }
      await snap;
    }
    tries++;
    setLive('reconnecting', 'reconnecting…');
    // Nothing shown yet: the snapshot at least, while the stream is away.
    if (page.snapshots === 0) loadSnapshot();
    // Full jitter, growing to 10 s.
    await sleep(Math.random() * Math.min(10000, 250 * 2 ** Math.min(tries, 6)));
  }
}

// ------------------------------------------------------------ drawing

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// A bar chart: bars [{label, value, color}] in an SVG of viewBox 300 x 160.
function barChart(svg, bars, opts = {}) {
  const W = 300;
  const H = 160;
  const top = 14;
  const bottom = 22;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const max = Math.max(1, ...bars.map((b) => b.value));
  const n = Math.max(bars.length, opts.minBars || 1);
  const slot = (W - 10) / n;
  const bw = Math.max(2, Math.min(40, slot * 0.7));
  svg.appendChild(el('line', { x1: 5, x2: W - 5, y1: H - bottom, y2: H - bottom, stroke: '#999' }));
  bars.forEach((b, i) => {
    const h = ((H - top - bottom) * b.value) / max;
    const x = 5 + slot * i + (slot - bw) / 2;
    const y = H - bottom - h;
    const rect = el('rect', { x, y, width: bw, height: Math.max(h, 0), fill: b.color || '#3b6fb6' });
    rect.appendChild(el('title', {}, `${b.label}: ${b.value}`));
    rect.dataset.label = b.label;
    rect.dataset.value = b.value;
    svg.appendChild(rect);
    if (b.value > 0 || !opts.hideZero) svg.appendChild(el('text', { x: x + bw / 2, y: y - 2, 'text-anchor': 'middle' }, String(b.value)));
    if (!opts.skipLabel || i % opts.skipLabel === 0) svg.appendChild(el('text', { x: x + bw / 2, y: H - 8, 'text-anchor': 'middle' }, b.label));
  });
  if (bars.length === 0) svg.appendChild(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, opts.empty || 'nothing yet'));
}

function fmtTime(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function ago(iso, now) {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ago` : `${Math.floor(m / 60)} h ${m % 60} min ago`;
}

const short = (id) => `${id.slice(0, 8)}…`;

function render() {
  renderQueued = false;
  const now = Date.now();
  const c = page.counts;
  $('#summary').textContent = `${c.total} attempts: ${c.in_progress} in progress, ${c.submitted} submitted`;
  barChart($('#chart-status'), [
    { label: 'in progress', value: c.in_progress, color: '#3b6fb6' },
    { label: 'submitted', value: c.submitted, color: '#4a9a4a' },
  ], { minBars: 2 });
  const qs = Object.keys(page.perQuestion).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  barChart($('#chart-questions'), qs.map((q) => ({ label: q, value: page.perQuestion[q] })),
    { empty: 'no answers yet', skipLabel: qs.length > 20 ? Math.ceil(qs.length / 20) : 0 });
  const thisMinute = Math.floor(now / 60000) * 60000;
  const minutes = [];
  for (let m = thisMinute - 14 * 60000; m <= thisMinute; m += 60000) {
    const d = new Date(m);
    minutes.push({ label: `${d.getHours()}:${String(d.getMinutes()).padStart(2, '0')}`, value: page.saves.get(m) || 0, color: '#8a5cb8' });
  }
  barChart($('#chart-saves'), minutes, { skipLabel: 3, hideZero: true });

  const rows = [...page.attempts.values()].sort((a, b) => (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : 0));
  $('#active-count').textContent = `(${rows.length})`;
  const nq = Math.max(qs.length, 1);
  const body = document.createElement('tbody');
  for (const a of rows) {
    const tr = document.createElement('tr');
    tr.dataset.attemptId = a.attempt_id;
    if (now - (page.fresh.get(a.attempt_id) || 0) < 3000) tr.className = 'fresh';
    const td = (text, cls) => {
      const d = document.createElement('td');
      d.textContent = text;
      if (cls) d.className = cls;
      tr.appendChild(d);
      return d;
    };
    td(short(a.user_id), 'id').title = a.user_id;
    td(short(a.attempt_id), 'id').title = a.attempt_id;
    const p = td('');
    const bar = document.createElement('progress');
    bar.max = Math.max(nq, a.answered_count);
    bar.value = a.answered_count;
    p.append(bar, ` ${a.answered_count} answered`);
    p.dataset.answered = a.answered_count;
    td(String(a.version));
    td(a.last_save_at ? ago(a.last_save_at, now) : 'not yet');
    if (a.time_remaining_s === null || a.time_remaining_s === undefined) td('no limit');
    else {
      const left = a.time_remaining_s * 1000 - (now - a.receivedAt);
      td(fmtTime(left), left < 5 * 60000 ? 'low' : '');
    }
    body.appendChild(tr);
  }
  $('#attempts tbody').replaceWith(body);
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  // At most one redraw per frame, whatever the rate of messages.
  requestAnimationFrame(render);
}

// ------------------------------------------------------------ start

async function start(p) {
  cfg = p;
  $('#login').hidden = true;
  $('#view').hidden = false;
  $('#refresh').addEventListener('click', () => loadSnapshot());
  api(`/api/exams/${encodeURIComponent(cfg.exam)}`).then((r) => {
    if (r.status === 200 && r.body && r.body.title) {
      $('#title').textContent = r.body.title;
      document.title = `${r.body.title} — proctor`;
    }
  }).catch(() => {});
  setInterval(scheduleRender, 1000); // clocks and "ago" move on
  subscribe();
}

const p = params();
if (p.token && p.exam) {
  start(p);
} else {
  $('#login').hidden = false;
  setLive('connecting', 'signed out');
  $('#login').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('#login-token').value.trim();
    const exam = $('#login-exam').value.trim();
    history.replaceState(null, '', `#token=${encodeURIComponent(token)}&exam=${encodeURIComponent(exam)}`);
    start({ token, exam, api: '' });
  });
}
