// tests/browser/client_unit.test.mjs — unit tests of web/attempts-client.js
// with Node's own test runner (`node --test`), no dependency: the pure
// helpers (backoff and its jitter bounds, Retry-After, the conflict merge,
// the clock offset, JCS) and the client against an in-process fake of the
// service (conflict merge, Retry-After honoured, events not duplicated,
// submit once).
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

const here = new URL('.', import.meta.url);
const mod = await import(new URL('../../web/attempts-client.js', here));
const {
  backoffDelay, parseRetryAfter, retryDelay, mergeAnswers, savePayload, applyPending,
  ClockOffset, remainingMs, canonicalJson, jsonEqual, jwtPayload, AttemptClient, MemoryStore,
} = mod;

// ------------------------------------------------------------------ backoff

test('backoff: full jitter stays in [0, min(cap, base*2^(n-1)))', () => {
  const opts = { baseMs: 100, capMs: 5000 };
  for (let n = 1; n <= 12; n++) {
    const ceiling = Math.min(5000, 100 * 2 ** (n - 1));
    assert.equal(backoffDelay(n, opts, () => 0), 0);
    assert.ok(backoffDelay(n, opts, () => 0.999999) < ceiling, `n=${n}`);
    assert.ok(backoffDelay(n, opts, () => 0.999999) >= ceiling - 1, `n=${n} reaches its ceiling`);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(n, opts);
      assert.ok(d >= 0 && d < ceiling, `n=${n} d=${d}`);
    }
  }
  // The cap holds for huge failure counts (no overflow to Infinity/NaN).
  assert.ok(backoffDelay(5000, opts, () => 0.5) === 2500);
  // Jitter: the mean of many draws is near half the ceiling.
  let sum = 0;
  for (let i = 0; i < 4000; i++) sum += backoffDelay(4, opts);
  const mean = sum / 4000;
  assert.ok(mean > 320 && mean < 480, `mean ${mean}`);
});

test('Retry-After: seconds and HTTP-date, malformed is null', () => {
  const now = Date.parse('2026-12-07T10:00:00Z');
  assert.equal(parseRetryAfter('3', now), 3000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('120', now), 120000);
  assert.equal(parseRetryAfter('Mon, 07 Dec 2026 10:00:05 GMT', now), 5000);
  assert.equal(parseRetryAfter('Mon, 07 Dec 2026 09:59:00 GMT', now), 0, 'a past date: at once');
  for (const bad of [null, undefined, '', '-1', '1.5', 'soon', '5s', '0x10']) {
    assert.equal(parseRetryAfter(bad, now), null, String(bad));
  }
});

test('retryDelay: Retry-After honoured (never earlier), bounded jitter; else backoff', () => {
  const o = { baseMs: 100, capMs: 1000, jitterMs: 500, maxRetryAfterMs: 60000 };
  assert.equal(retryDelay(3, 2000, o, () => 0), 2000);
  assert.ok(retryDelay(3, 2000, o, () => 0.9999) < 2500);
  assert.equal(retryDelay(1, 10 * 3600 * 1000, o, () => 0), 60000, 'absurd Retry-After capped');
  assert.equal(retryDelay(3, null, o, () => 0.5), 200);
});

// ------------------------------------------------------------------ merge

test('merge: local edits win for questions changed since the last ack, server for the rest', () => {
  const acked = { q1: 'a1', q2: 'a2', q4: 'a4', q6: 'same' };
  const server = { q1: 's1', q2: 'a2', q3: 's3', q4: 's4', q6: 'same' };
  const pending = { q1: 'L1', q4: null, q5: 'L5' };
  const m = mergeAnswers({ server, acked, pending });
  assert.deepEqual(m.answers, { q1: 'L1', q2: 'a2', q3: 's3', q5: 'L5', q6: 'same' });
  assert.deepEqual(m.keptLocal, ['q1', 'q4', 'q5']);
  assert.deepEqual(m.tookServer, ['q3']);
  // A question removed on the server and not edited here goes.
  const m2 = mergeAnswers({ server: { q1: 'x' }, acked: { q1: 'x', q2: 'gone' }, pending: {} });
  assert.deepEqual(m2.answers, { q1: 'x' });
  assert.deepEqual(m2.tookServer, ['q2']);
  // The same local and server value is no override.
  const m3 = mergeAnswers({ server: { q1: { a: 1, b: 2 } }, acked: {}, pending: { q1: { b: 2, a: 1 } } });
  assert.deepEqual(m3.keptLocal, []);
});

test('save payload: the whole answers plus null for local removals', () => {
  const local = applyPending({ q1: 'a', q2: 'b' }, { q2: null, q3: 'c' });
  assert.deepEqual(local, { q1: 'a', q3: 'c' });
  assert.deepEqual(savePayload(local, { q2: null, q3: 'c' }), { q1: 'a', q3: 'c', q2: null });
});

// ------------------------------------------------------------------ clock

test('clock offset: midpoint of the round trip, best sample wins', () => {
  const c = new ClockOffset();
  assert.equal(c.offsetMs, 0);
  c.add(1000, 1100, 5050, 0); // server 4000 ahead, +-50
  assert.equal(c.offsetMs, 4000);
  assert.equal(c.errorMs, 50);
  c.add(2000, 3000, 9000, 0); // slow round trip: +-500, says 6500
  assert.equal(c.offsetMs, 4000, 'a worse sample does not win');
  c.add(4000, 4010, 8020, 1000); // +-505 with the header's whole seconds
  assert.equal(c.offsetMs, 4000);
  c.add(5000, 5020, 9000, 0); // +-10
  assert.equal(c.offsetMs, 3990);
  c.add(6000, 5000, 1, 0); // received before sent: ignored
  assert.equal(c.offsetMs, 3990);
  // A browser clock 4 s behind: 60 s left on the server's clock stay 60 s.
  const deadline = 100000 + 60000 + 4000;
  assert.equal(remainingMs(deadline, 100000, 4000), 60000);
  assert.equal(remainingMs(deadline, 200000, 4000), 0, 'never negative');
  assert.equal(remainingMs(null, 1, 0), null);
});

// ------------------------------------------------------------------ JCS

test('canonical JSON (RFC 8785) and the receipt hash', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x', 1.5e-7, 1e21], '\u00e9': 'e', A: {} }),
    '{"A":{},"a":[true,null,"x",1.5e-7,1e+21],"b":1,"\u00e9":"e"}');
  assert.ok(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
  assert.ok(!jsonEqual({ a: 1 }, { a: '1' }));
  const answers = { q2: 'b', q1: 'a' };
  const hex = createHash('sha256').update('{"q1":"a","q2":"b"}').digest('hex');
  assert.equal(createHash('sha256').update(canonicalJson(answers)).digest('hex'), hex);
  assert.equal(jwtPayload('x.' + Buffer.from('{"sub":"u1"}').toString('base64url') + '.y').sub, 'u1');
  assert.deepEqual(jwtPayload('garbage'), {});
});

// ------------------------------------------------------------------ client vs a fake service

// A fake of the service's attempt routes (docs/API.md §6), enough for the
// client: start, state, info, save (merge + expected_version), activity
// (dedupe by client_event_id), submit (idempotent receipt).
function fakeService() {
  const s = {
    attempt: { attempt_id: '11111111-1111-4111-8111-111111111111', exam_id: 'e', status: 'in_progress', answers: {}, auto_save_data: {}, version: 1, deadline_at: new Date(Date.now() + 3600e3).toISOString() },
    events: [],
    eventIds: new Set(),
    requests: [],
    failNext: [], // [{status, headers, body}] answered before the real thing
    submits: 0,
    receipt: null,
  };
  const json = (status, body, headers = {}) => new Response(body === undefined ? '' : JSON.stringify(body), {
    status, headers: { 'Content-Type': 'application/json', Date: new Date().toUTCString(), ...headers },
  });
  const state = () => ({ ...s.attempt, time_remaining_s: s.attempt.status === 'in_progress' ? 3599 : null });
  s.fetch = async (url, init) => {
    const u = new URL(url, 'http://x');
    const action = u.searchParams.get('action');
    const body = init.body ? JSON.parse(init.body) : {};
    s.requests.push({ method: init.method, action, body });
    if (s.failNext.length) {
      const f = s.failNext.shift();
      if (f === 'network') throw new TypeError('Failed to fetch');
      return json(f.status, f.body || { error: { code: 'service_unavailable', message: 'x' } }, f.headers);
    }
    const a = s.attempt;
    switch (action) {
      case 'start': return json(200, state());
      case 'state': return json(200, state());
      case 'info': return json(200, { ...state(), receipt: s.receipt, submit_reason: a.status === 'submitted' ? 'student' : null });
      case 'save': {
        if (a.status !== 'in_progress') return json(409, { error: { code: 'attempt_submitted', message: 'x' } });
        if (body.expected_version !== undefined && body.expected_version !== a.version) {
          return json(409, { error: { code: 'version_conflict', message: 'x', details: { current_version: a.version, answers: a.answers, auto_save_data: a.auto_save_data } } });
        }
        a.answers = applyPending(a.answers, body.answers || {});
        if (body.auto_save_data) a.auto_save_data = body.auto_save_data;
        a.version++;
        return json(200, { attempt_id: a.attempt_id, version: a.version, saved_at: new Date().toISOString(), time_remaining_s: 3599 });
      }
      case 'activity': {
        let logged = 0;
        for (const e of body.events) {
          if (e.client_event_id && s.eventIds.has(e.client_event_id)) continue;
          s.eventIds.add(e.client_event_id);
          s.events.push(e);
          logged++;
        }
        return json(200, { logged, duplicates: body.events.length - logged });
      }
      case 'submit': {
        s.submits++;
        if (a.status === 'in_progress') {
          if (body.expected_version !== undefined && body.expected_version !== a.version) {
            return json(409, { error: { code: 'version_conflict', message: 'x', details: { current_version: a.version, answers: a.answers, auto_save_data: a.auto_save_data } } });
          }
          if (body.answers) a.answers = applyPending(a.answers, body.answers);
          a.status = 'submitted';
          a.version++;
          s.receipt = createHash('sha256').update(canonicalJson(a.answers)).digest('hex');
          return json(200, { ...state(), receipt: s.receipt, already_submitted: false });
        }
        return json(200, { ...state(), receipt: s.receipt, already_submitted: true });
      }
      default: return json(404, { error: { code: 'not_found', message: 'x' } });
    }
  };
  return s;
}

const token = 'h.' + Buffer.from('{"sub":"u1","role":"student"}').toString('base64url') + '.s';
const fast = { debounceMs: 5, periodicMs: 60000, eventDebounceMs: 5, backoff: { baseMs: 10, capMs: 50, jitterMs: 0 } };

function until(cond, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      if (cond()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error('timed out'));
      setTimeout(poll, 5);
    };
    poll();
  });
}

test('client: saves, and on 409 merges (local wins for its edits) and saves again', async () => {
  const svc = fakeService();
  const states = [];
  const conflicts = [];
  const c = new AttemptClient({ token, examId: 'e', fetch: svc.fetch, store: new MemoryStore(), ...fast, onState: (s) => states.push(s), onConflict: (x) => conflicts.push(x) });
  await c.open();
  c.setAnswer('q1', 'mine');
  await until(() => svc.attempt.version === 2 && c.pendingCount() === 0);
  assert.deepEqual(svc.attempt.answers, { q1: 'mine' });
  // Another device saves q1 and q2.
  svc.attempt.answers = { q1: 'theirs', q2: 'theirs' };
  svc.attempt.version = 3;
  c.setAnswer('q3', 'mine3');
  c.setAnswer('q1', 'mine-again');
  await until(() => svc.attempt.version === 4 && c.pendingCount() === 0);
  assert.deepEqual(svc.attempt.answers, { q1: 'mine-again', q2: 'theirs', q3: 'mine3' });
  assert.deepEqual(c.answers(), svc.attempt.answers);
  assert.equal(conflicts.length, 1);
  assert.deepEqual(conflicts[0].keptLocal, ['q1', 'q3']);
  assert.deepEqual(conflicts[0].tookServer, ['q2']);
  assert.ok(states.some((s) => s.state === 'conflict'));
  assert.equal(states.at(-1).state, 'saved');
  c.close();
});

test('client: 503 with Retry-After is waited out, offline reported, nothing lost', async () => {
  const svc = fakeService();
  const states = [];
  const c = new AttemptClient({ token, examId: 'e', fetch: svc.fetch, store: new MemoryStore(), ...fast, onState: (s) => states.push({ ...s, t: Date.now() }) });
  await c.open();
  svc.failNext.push({ status: 503, headers: { 'Retry-After': '1' } }, 'network');
  const t0 = Date.now();
  c.setAnswer('q1', 'x');
  await until(() => c.pendingCount() === 0, 5000);
  const saves = svc.requests.filter((r) => r.action === 'save');
  assert.equal(saves.length, 3, '503, network error, then success');
  assert.ok(Date.now() - t0 >= 1000, 'waited at least Retry-After');
  const off = states.find((s) => s.state === 'offline');
  assert.ok(off && off.pending === 1 && off.retryInMs >= 1000);
  assert.deepEqual(svc.attempt.answers, { q1: 'x' });
  c.close();
});

test('client: kept on the device, restored by a new page, then sent', async () => {
  const svc = fakeService();
  const store = new MemoryStore();
  const c1 = new AttemptClient({ token, examId: 'e', fetch: svc.fetch, store, ...fast });
  await c1.open();
  for (let i = 0; i < 20; i++) svc.failNext.push({ status: 502, body: { error: { code: 'bad_gateway', message: 'x' } } });
  c1.setAnswer('q1', 'offline-1');
  c1.setAnswer('q2', 'offline-2');
  c1.logEvent('answer_changed', { question: 'q1' });
  await c1.flushStore();
  c1.close(); // the tab goes away
  svc.failNext.length = 0;
  const restored = [];
  const c2 = new AttemptClient({ token, examId: 'e', fetch: svc.fetch, store, ...fast, onAnswers: (a, info) => restored.push({ a, info }) });
  await c2.open();
  assert.equal(restored[0].info.reason, 'restored');
  assert.deepEqual(restored[0].a, { q1: 'offline-1', q2: 'offline-2' });
  await until(() => c2.pendingCount() === 0 && svc.events.length === 1);
  assert.deepEqual(svc.attempt.answers, { q1: 'offline-1', q2: 'offline-2' });
  c2.close();
});

test('client: events retried keep their ids (no duplicates), in order', async () => {
  const svc = fakeService();
  const c = new AttemptClient({ token, examId: 'e', fetch: svc.fetch, store: new MemoryStore(), ...fast });
  await c.open();
  svc.failNext.push({ status: 503, headers: { 'Retry-After': '0' } });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(c.logEvent('tick', { i }));
  await until(() => svc.events.length === 5 && c.events.length === 0);
  assert.deepEqual(svc.events.map((e) => e.client_event_id), ids);
  const sent = svc.requests.filter((r) => r.action === 'activity').flatMap((r) => r.body.events.map((e) => e.client_event_id));
  assert.ok(sent.length > 5, 'the failed batch was sent again');
  assert.equal(new Set(ids).size, 5);
  c.close();
});

test('client: submit once, with the unsent answers; the same receipt again', async () => {
  const svc = fakeService();
  const states = [];
  const c = new AttemptClient({ token, examId: 'e', fetch: svc.fetch, store: new MemoryStore(), ...fast, debounceMs: 10000, onState: (s) => states.push(s) });
  await c.open();
  c.setAnswer('q1', 'last');
  const p1 = c.submit();
  const p2 = c.submit();
  assert.equal(p1, p2);
  const r = await p1;
  assert.equal(svc.submits, 1);
  assert.deepEqual(svc.attempt.answers, { q1: 'last' });
  assert.equal(r.receipt, svc.receipt);
  assert.equal(r.receipt_verified, true);
  assert.equal(states.at(-1).state, 'closed');
  assert.equal(c.setAnswer('q1', 'late'), false, 'closed: no more edits');
  assert.equal((await c.submit()).receipt, r.receipt);
  c.close();
});
