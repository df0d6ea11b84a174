// exam.js — the demo exam page (exam.html) on attempts-client.js: reads the
// token and the exam from the URL fragment (#token=…&exam=…[&attempt=…]
// [&api=ORIGIN]) or the sign-in form, shows the questions with the
// answers the client hands over, a status line, the countdown and the
// receipt. window.examPage exposes the client and the state history (the
// browser tests read them).
import { AttemptClient } from './attempts-client.js';

const $ = (sel) => document.querySelector(sel);
const page = { client: null, states: [], conflicts: [], savedAt: null, lastState: null };
window.examPage = page;

function params() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  return { token: p.get('token'), exam: p.get('exam'), attempt: p.get('attempt'), api: p.get('api') || '' };
}

// The form controls of each question, by question id.
function controls() {
  const map = new Map();
  for (const el of document.querySelectorAll('[data-q]')) map.set(el.dataset.q, el);
  return map;
}

function showAnswer(q, el, value) {
  if (el.tagName === 'FIELDSET') {
    for (const r of el.querySelectorAll('input[type=radio]')) r.checked = r.value === value;
  } else if (el.value !== (value ?? '')) {
    el.value = value ?? '';
  }
}

function readAnswer(el) {
  if (el.tagName === 'FIELDSET') {
    const r = el.querySelector('input[type=radio]:checked');
    return r ? r.value : null;
  }
  return el.value === '' ? null : el.value;
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ago` : `${Math.floor(m / 60)} h ${m % 60} min ago`;
}

function statusText(s) {
  const kept = `${plural(s.pending, 'change', 'changes')} kept on this device`;
  switch (s.state) {
    case 'connecting':
      return s.pending ? `connecting… (${kept})` : 'connecting…';
    case 'saving':
      return s.submitting ? 'submitting…' : 'saving…';
    case 'saved':
      if (page.client && page.client.pendingCount()) return 'editing — not saved yet';
      return page.savedAt ? `saved ${ago(Date.now() - page.savedAt)}` : 'saved';
    case 'offline':
      return `offline — ${kept}`;
    case 'conflict':
      return 'merging with another tab or device…';
    case 'error':
      return `not saved: ${s.message || s.code || 'refused'} (${kept})`;
    case 'closed':
      return s.reason === 'deadline' ? 'closed at the deadline' : 'submitted';
    default:
      return s.state;
  }
}

function renderStatus() {
  const s = page.lastState;
  if (!s) return;
  const el = $('#status');
  el.dataset.state = s.state;
  el.dataset.pending = String(s.pending);
  el.textContent = statusText(s);
}

function renderTimer() {
  const c = page.client;
  const el = $('#timer');
  const ms = c ? c.timeRemainingMs() : null;
  if (ms === null) {
    el.textContent = '';
    return;
  }
  const t = Math.ceil(ms / 1000);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  el.textContent = `time left ${h ? `${h}:${String(m).padStart(2, '0')}` : m}:${sec}`;
  el.classList.toggle('low', t < 300);
}

function setEnabled(on) {
  for (const el of controls().values()) {
    if (el.tagName === 'FIELDSET') el.disabled = !on;
    else el.readOnly = !on;
  }
  $('#submit').disabled = !on;
}

function showReceipt(receipt, verified) {
  $('#receipt-box').hidden = false;
  $('#receipt').textContent = receipt || '(none)';
  $('#receipt-check').textContent =
    verified === true ? 'Checked here: it matches your answers.' : verified === false ? 'Warning: it does not match the answers this page got back.' : '';
}

function notice(text) {
  const el = $('#notice');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => {
    el.hidden = true;
  }, 10000);
}

async function run({ token, exam, attempt, api }) {
  $('#exam').hidden = false;
  const ctl = controls();
  const client = new AttemptClient({
    token,
    examId: exam,
    attemptId: attempt || undefined,
    baseUrl: api,
    onState(s) {
      page.states.push({ ...s, t: Date.now() });
      if (s.state === 'saved' && s.at) page.savedAt = s.at;
      page.lastState = s;
      renderStatus();
      renderTimer();
      if (s.state === 'closed') {
        setEnabled(false);
        showReceipt(s.receipt, s.receipt_verified);
      }
    },
    onAnswers(answers, info) {
      for (const [q, el] of ctl) {
        if (info.reason === 'restored' || info.changed.includes(q) || info.reason === 'server') showAnswer(q, el, answers[q]);
      }
    },
    onConflict(c) {
      page.conflicts.push(c);
      const parts = [];
      if (c.keptLocal.length) parts.push(`kept your answers to ${c.keptLocal.join(', ')}`);
      if (c.tookServer.length) parts.push(`took the other's answers to ${c.tookServer.join(', ')}`);
      notice(`Another tab or device saved this exam too: ${parts.join('; ') || 'nothing differed'}.`);
    },
  });
  page.client = client;

  for (const [q, el] of ctl) {
    el.addEventListener('input', () => client.setAnswer(q, readAnswer(el)));
    el.addEventListener('change', () => {
      const v = readAnswer(el);
      client.logEvent('answer_changed', { question: q, length: v === null ? 0 : String(v).length });
    });
  }
  window.addEventListener('blur', () => client.logEvent('window_blur'));
  window.addEventListener('focus', () => client.logEvent('window_focus'));

  $('#submit').addEventListener('click', async () => {
    setEnabled(false);
    try {
      const r = await client.submit();
      showReceipt(r.receipt, r.receipt_verified);
    } catch (e) {
      setEnabled(true);
      notice(`Submit failed: ${e.message}`);
    }
  });

  setInterval(() => {
    renderStatus();
    renderTimer();
  }, 1000);

  const st = await client.open();
  if (st && st.exam_id) {
    try {
      const r = await fetch(`${api}/api/exams/${st.exam_id}`, { headers: { Authorization: `Bearer ${token}` } });
      if (r.ok) {
        const e = await r.json();
        $('#title').textContent = e.title;
        document.title = `${e.title} — attempts demo`;
      }
    } catch {
      // The title is decoration.
    }
  }
  renderTimer();
}

function main() {
  const p = params();
  if (p.token && (p.exam || p.attempt)) {
    run(p);
    return;
  }
  const form = $('#login');
  form.hidden = false;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams({ token: $('#login-token').value.trim(), exam: $('#login-exam').value.trim() });
    location.hash = q.toString();
    form.hidden = true;
    run(params());
  });
}

main();
