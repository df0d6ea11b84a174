// attempts-client.js — the browser client of the attempts service
// (docs/API.md): starts or resumes an attempt, autosaves its answers under
// the server's version, keeps unsent changes in IndexedDB, retries with
// backoff, merges version conflicts, logs activity without duplicates,
// submits once and counts down to the deadline.
//
// A dependency-free ES module: serve it as a plain file and import it.
//
//   import { AttemptClient } from '/web/attempts-client.js';
//   const client = await AttemptClient.open({ token, examId, onState: s => show(s) });
//   input.oninput = () => client.setAnswer('q1', input.value);
//
// It owns the attempt's answers as the page edits them, the queue of
// unsent changes and events, and every request to the service. It does not
// own the page: what to show comes to the page through the callbacks
// onState, onAnswers and onConflict (see AttemptClient's constructor).
//
// The pure helpers (backoff, Retry-After, merge, clock offset, JCS) are
// exported for tests/browser/client_unit.test.mjs.

// ------------------------------------------------------------------ helpers

/**
 * Full-jitter exponential backoff: a delay drawn uniformly from
 * [0, min(capMs, baseMs * 2^(attempt-1))). attempt counts failures, from 1.
 * rand is Math.random's contract ([0, 1)).
 */
export function backoffDelay(attempt, { baseMs = 500, capMs = 30000 } = {}, rand = Math.random) {
  const n = Math.max(1, Math.floor(attempt));
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(n - 1, 30));
  return Math.floor(rand() * ceiling);
}

/**
 * Parses a Retry-After header value (RFC 9110 §10.2.3): delay-seconds or
 * an HTTP-date. Returns the delay in milliseconds (never negative), or null
 * when the header is absent or malformed. nowMs is the client's clock,
 * used for the HTTP-date form.
 */
export function parseRetryAfter(value, nowMs = Date.now()) {
  if (value === null || value === undefined) return null;
  const s = String(value).trim();
  if (s === '') return null;
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  // An HTTP-date names a day of the week and GMT; Date.parse takes the
  // IMF-fixdate and the obsolete forms browsers still send.
  if (!/[A-Za-z]{3}/.test(s)) return null;
  const t = Date.parse(s);
  if (Number.isNaN(t)) return null;
  return Math.max(0, t - nowMs);
}

/**
 * The delay before the next try after a transient failure: the server's
 * Retry-After when it gave one (plus up to jitterMs of jitter so clients
 * told the same second do not come back together, bounded by maxRetryAfterMs),
 * else full-jitter backoff.
 */
export function retryDelay(attempt, retryAfterMs, opts = {}, rand = Math.random) {
  const { jitterMs = 1000, maxRetryAfterMs = 120000 } = opts;
  if (retryAfterMs !== null && retryAfterMs !== undefined && retryAfterMs >= 0) {
    return Math.min(retryAfterMs, maxRetryAfterMs) + Math.floor(rand() * jitterMs);
  }
  return backoffDelay(attempt, opts, rand);
}

/**
 * RFC 8785 (JCS) serialization of a JSON value: object members sorted by
 * their names' UTF-16 code units, no whitespace, numbers in ECMAScript
 * form (JSON.stringify's). The receipt of a submit is the SHA-256 of the
 * stored answers in this form.
 */
export function canonicalJson(v) {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError('non-finite number');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']';
  const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(v[k])).join(',') + '}';
}

/** True if two JSON values are equal (member order ignored). */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * Applies pending edits (an object: question -> value, null = removed) to
 * answers; returns a new object.
 */
export function applyPending(answers, pending) {
  const out = { ...answers };
  for (const [k, v] of Object.entries(pending)) {
    if (v === null || v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/**
 * The merge after a 409 version_conflict (or a resume that finds a newer
 * version): local edits win for the questions changed locally since the
 * last acknowledged save (pending), the server's values for the rest.
 * acked is what this client last knew the server held. Returns
 * { answers, keptLocal, tookServer }: the merged answers, the pending
 * questions whose local value overrides a different server value, and the
 * questions whose server value replaced what this client had.
 */
export function mergeAnswers({ server, acked, pending }) {
  const answers = applyPending(server, pending);
  const keptLocal = [];
  const tookServer = [];
  for (const k of Object.keys(pending)) {
    const local = pending[k] === null ? undefined : pending[k];
    if (!jsonEqual(local, server[k])) keptLocal.push(k);
  }
  const keys = new Set([...Object.keys(server), ...Object.keys(acked)]);
  for (const k of keys) {
    if (Object.prototype.hasOwnProperty.call(pending, k)) continue;
    if (!jsonEqual(server[k], acked[k])) tookServer.push(k);
  }
  keptLocal.sort();
  tookServer.sort();
  return { answers, keptLocal, tookServer };
}

/**
 * The answers object a save sends: the whole of the local answers, plus
 * null for each question removed locally and not yet acknowledged (save
 * merges key by key, so a missing key would keep the stored value).
 */
export function savePayload(local, pending) {
  const out = { ...local };
  for (const [k, v] of Object.entries(pending)) {
    if (v === null) out[k] = null;
  }
  return out;
}

/**
 * The offset between the server's clock and the browser's, NTP style:
 * each sample is one request (sent and received on the browser's clock)
 * and a server time read from its answer with a known resolution; the
 * offset is the server time minus the request's midpoint, uncertain by half
 * the round trip plus half the resolution. The sample with the smallest
 * uncertainty among the last `keep` wins (a slow round trip says little).
 */
export class ClockOffset {
  constructor(keep = 8) {
    this.keep = keep;
    this.samples = [];
    this.fallbackMs = 0; // the offset until a sample arrives (e.g. one kept from an earlier page)
  }

  /** Adds a sample; serverMs is the server's time, resolutionMs its granularity. */
  add(sentMs, receivedMs, serverMs, resolutionMs = 0) {
    if (!Number.isFinite(serverMs) || !(receivedMs >= sentMs)) return;
    const offsetMs = serverMs - (sentMs + receivedMs) / 2;
    const errorMs = (receivedMs - sentMs) / 2 + resolutionMs / 2;
    this.samples.push({ offsetMs, errorMs });
    if (this.samples.length > this.keep) this.samples.shift();
  }

  best() {
    let b = null;
    for (const s of this.samples) if (!b || s.errorMs < b.errorMs) b = s;
    return b;
  }

  /** Server time minus browser time, in ms (fallbackMs until a sample arrives). */
  get offsetMs() {
    const b = this.best();
    return b ? b.offsetMs : this.fallbackMs;
  }

  get errorMs() {
    const b = this.best();
    return b ? b.errorMs : Infinity;
  }

  /** The server's clock now, as best known, from the browser's clock. */
  serverNow(localNowMs) {
    return localNowMs + this.offsetMs;
  }
}

/** Milliseconds left until deadlineServerMs, on the browser's clock now. */
export function remainingMs(deadlineServerMs, localNowMs, offsetMs) {
  if (deadlineServerMs === null || deadlineServerMs === undefined) return null;
  return Math.max(0, deadlineServerMs - (localNowMs + offsetMs));
}

/** The payload of a JWT (base64url JSON), or {} when it is not one. */
export function jwtPayload(token) {
  try {
    const part = String(token).split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const text = typeof atob === 'function' ? atob(b64) : Buffer.from(b64, 'base64').toString('binary');
    return JSON.parse(decodeURIComponent(escape(text)));
  } catch {
    return {};
  }
}

async function sha256Hex(text) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  const digest = await subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function randomId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID().slice(0, 13).replace('-', '');
  return Math.random().toString(36).slice(2, 14);
}

// ------------------------------------------------------------------ storage

/**
 * The offline queue's store: one record per (user, exam) in IndexedDB,
 * shared by the tabs of a browser. Every change is a read-modify-write in
 * one IndexedDB transaction, so two tabs never undo each other's writes.
 * Record: { id, attemptId, version, acked, ackedAuto, pending: {q: {v, at}},
 * pendingAuto, events: [...], closed, receipt, updatedAt }.
 */
export class IdbStore {
  constructor(name = 'attempts-client') {
    this.name = name;
    this.dbp = null;
  }

  static available() {
    return typeof indexedDB !== 'undefined';
  }

  db() {
    if (!this.dbp) {
      this.dbp = new Promise((resolve, reject) => {
        const req = indexedDB.open(this.name, 1);
        req.onupgradeneeded = () => req.result.createObjectStore('attempts', { keyPath: 'id' });
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return this.dbp;
  }

  async get(id) {
    const db = await this.db();
    return new Promise((resolve, reject) => {
      const req = db.transaction('attempts').objectStore('attempts').get(id);
      req.onsuccess = () => resolve(req.result || null);
      req.onerror = () => reject(req.error);
    });
  }

  /** fn(record or null) returns the new record, or null to delete it. */
  async update(id, fn) {
    const db = await this.db();
    return new Promise((resolve, reject) => {
      const tx = db.transaction('attempts', 'readwrite');
      const os = tx.objectStore('attempts');
      let result = null;
      const req = os.get(id);
      req.onsuccess = () => {
        result = fn(req.result || null);
        if (result) os.put({ ...result, id, updatedAt: Date.now() });
        else os.delete(id);
      };
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }
}

/** The same interface in memory (no IndexedDB: tests, old browsers). */
export class MemoryStore {
  constructor() {
    this.map = new Map();
  }
  async get(id) {
    const r = this.map.get(id);
    return r ? structuredClone(r) : null;
  }
  async update(id, fn) {
    const cur = this.map.get(id);
    const r = fn(cur ? structuredClone(cur) : null);
    if (r) this.map.set(id, structuredClone({ ...r, id, updatedAt: Date.now() }));
    else this.map.delete(id);
    return r;
  }
}

function emptyRecord() {
  return { attemptId: null, version: 0, acked: {}, ackedAuto: undefined, pending: {}, pendingAuto: undefined, events: [] };
}

// ------------------------------------------------------------------ client

const TRANSIENT = new Set([0, 408, 425, 429, 500, 502, 503, 504]);

/**
 * One attempt in one page. Options:
 *   token       the student's bearer token (required)
 *   examId      the exam (required unless attemptId is given)
 *   attemptId   resume this attempt instead of starting/resuming by exam
 *   baseUrl     the service's origin ('' = the page's)
 *   onState(s)  s.state: 'connecting', 'saving', 'saved' (s.at: when, on
 *               the browser's clock), 'offline' (s.pending: changes kept on
 *               this device; s.retryInMs), 'conflict' (s.keptLocal,
 *               s.tookServer), 'error' (s.code, s.message: a refusal
 *               retrying will not fix, retried every periodicMs), 'closed'
 *               (s.receipt, s.reason). Every state carries pending,
 *               events (unsent), version.
 *   onAnswers(answers, info)  the page should show these answers
 *               (info.reason: 'restored' from this device, 'server',
 *               'merged'; info.changed: the questions that changed)
 *   onConflict(c)  another tab or device saved first: c.keptLocal,
 *               c.tookServer, c.serverVersion
 *   debounceMs (800), periodicMs (15000), eventDebounceMs (1000),
 *   backoff: { baseMs (500), capMs (30000), jitterMs (1000) },
 *   requestTimeoutMs (15000), store (IdbStore, else MemoryStore),
 *   fetch (globalThis.fetch), now (Date.now)
 */
export class AttemptClient {
  constructor(opts) {
    if (!opts || !opts.token) throw new TypeError('AttemptClient: token required');
    if (!opts.examId && !opts.attemptId) throw new TypeError('AttemptClient: examId or attemptId required');
    this.opts = opts;
    this.token = opts.token;
    this.examId = opts.examId || null;
    this.baseUrl = (opts.baseUrl || '').replace(/\/$/, '');
    this.debounceMs = opts.debounceMs ?? 800;
    this.periodicMs = opts.periodicMs ?? 15000;
    this.eventDebounceMs = opts.eventDebounceMs ?? 1000;
    this.backoff = { baseMs: 500, capMs: 30000, jitterMs: 1000, ...(opts.backoff || {}) };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15000;
    this.fetch = opts.fetch || globalThis.fetch.bind(globalThis);
    this.now = opts.now || (() => Date.now());
    this.store = opts.store || (IdbStore.available() ? new IdbStore() : new MemoryStore());
    this.persistent = this.store instanceof IdbStore;
    this.instance = randomId();
    this.eventSeq = 0;
    this.clock = new ClockOffset();

    const sub = jwtPayload(this.token).sub || 'anonymous';
    this.storeKey = `${sub}|${this.examId || opts.attemptId}`;

    this.attemptId = opts.attemptId || null;
    this.version = 0;
    this.acked = {};
    this.ackedAuto = undefined;
    this.local = {};
    this.pending = {}; // question -> value (null: removed), not yet acknowledged
    this.pendingAuto = undefined;
    this.events = []; // unsent activity events, oldest first
    this.deadlineServerMs = null;
    this.status = 'new';
    this.closed = false;
    this.receipt = null;
    this.lastSavedAt = null;
    this.state = 'connecting';

    this.saveTimer = null;
    this.saveInFlight = null;
    this.saveFailures = 0;
    this.saveRetryAt = 0;
    this.eventTimer = null;
    this.eventsInFlight = null;
    this.eventFailures = 0;
    this.eventRetryAt = 0;
    this.persistChain = Promise.resolve();
    this.submitPromise = null;
    this.stopped = false;
    this.wakeConnect = null;
    this.connected = false; // the attempt's state was read: saves may go
    this.failedTries = 0; // transient failures of this page's requests, for figures
  }

  /** Creates a client and opens it: await it for a connected client. */
  static async open(opts) {
    const c = new AttemptClient(opts);
    await c.open();
    return c;
  }

  // ---------------------------------------------------------- page API

  /**
   * Restores what this device kept (onAnswers 'restored'), then starts or
   * resumes the attempt, retrying until the service answers. Resolves with
   * the attempt's state once connected.
   */
  async open() {
    this.installListeners();
    let rec = null;
    try {
      rec = await this.store.get(this.storeKey);
    } catch (e) {
      this.persistent = false;
      this.store = new MemoryStore();
    }
    if (rec && (!this.opts.attemptId || rec.attemptId === this.opts.attemptId) && !rec.closed) {
      this.attemptId = this.attemptId || rec.attemptId;
      this.version = rec.version || 0;
      this.acked = rec.acked || {};
      this.ackedAuto = rec.ackedAuto;
      this.pending = {};
      for (const [k, p] of Object.entries(rec.pending || {})) this.pending[k] = p.v;
      this.pendingAuto = rec.pendingAuto;
      this.events = rec.events || [];
      // The countdown goes on offline: the deadline and clock offset kept.
      if (rec.deadlineServerMs) this.deadlineServerMs = rec.deadlineServerMs;
      if (Number.isFinite(rec.offsetMs)) this.clock.fallbackMs = rec.offsetMs;
      this.local = applyPending(this.acked, this.pending);
      this.emitAnswers('restored', Object.keys(this.local));
    } else if (rec && rec.closed && (!this.opts.attemptId || rec.attemptId === this.opts.attemptId)) {
      this.attemptId = this.attemptId || rec.attemptId;
    }
    this.emitState('connecting');
    const state = await this.connect();
    this.periodic = setInterval(() => this.tick(), this.periodicMs);
    return state;
  }

  /** Sets one question's answer (null or undefined removes it). */
  setAnswer(question, value) {
    if (this.closed || this.submitPromise) return false;
    const v = value === undefined ? null : value;
    if (v === null) delete this.local[question];
    else this.local[question] = v;
    this.pending[question] = v;
    const at = this.now();
    this.persist((r) => {
      r.pending = r.pending || {};
      r.pending[question] = { v, at };
      return r;
    });
    if (this.state === 'offline' || this.state === 'error') this.emitState(this.state, this.lastStateDetail);
    this.scheduleSave(this.debounceMs);
    return true;
  }

  /** Replaces the attempt's auto_save_data (sent with the next save). */
  setAutoSave(data) {
    if (this.closed || this.submitPromise) return false;
    this.pendingAuto = data;
    this.persist((r) => ({ ...r, pendingAuto: data }));
    this.scheduleSave(this.debounceMs);
    return true;
  }

  /** Queues an activity event; sent in batches, never twice. */
  logEvent(eventType, payload) {
    const ev = {
      event_type: eventType,
      client_event_id: `${this.instance}-${++this.eventSeq}`,
      occurred_at: new Date(this.clock.serverNow(this.now())).toISOString(),
    };
    if (payload !== undefined) ev.payload = payload;
    this.events.push(ev);
    this.persist((r) => {
      r.events = r.events || [];
      r.events.push(ev);
      return r;
    });
    this.scheduleEvents(this.eventDebounceMs);
    return ev.client_event_id;
  }

  /** The answers as the page should show them. */
  answers() {
    return { ...this.local };
  }

  /** Questions changed here and not yet acknowledged by the service. */
  pendingCount() {
    return Object.keys(this.pending).length;
  }

  /** Milliseconds to the deadline on the server's clock, or null. */
  timeRemainingMs() {
    if (this.closed) return null;
    return remainingMs(this.deadlineServerMs, this.now(), this.clock.offsetMs);
  }

  /** Server clock minus browser clock (ms) and its uncertainty. */
  clockOffset() {
    return { offsetMs: this.clock.offsetMs, errorMs: this.clock.errorMs };
  }

  /** Replaces the token (e.g. a renewed one); retries what waits. */
  setToken(token) {
    this.token = token;
    this.retryNow();
  }

  /** Sends what waits now instead of at the next retry. */
  retryNow() {
    this.saveRetryAt = 0;
    this.eventRetryAt = 0;
    this.saveFailures = 0;
    this.eventFailures = 0;
    if (this.wakeConnect) this.wakeConnect();
    this.scheduleSave(0);
    this.scheduleEvents(0);
  }

  /**
   * Submits the attempt once, with the unsent answers as its last save.
   * Resolves with { receipt, already_submitted, receipt_verified, state };
   * later calls return the same promise (and the service the same receipt).
   */
  submit() {
    if (!this.submitPromise) {
      this.submitPromise = this.doSubmit().catch((e) => {
        this.submitPromise = null;
        throw e;
      });
    }
    return this.submitPromise;
  }

  /** Stops timers and listeners (the queue stays on the device). */
  close() {
    this.stopped = true;
    clearTimeout(this.saveTimer);
    clearTimeout(this.eventTimer);
    clearInterval(this.periodic);
    if (this.listeners) for (const [t, target, f] of this.listeners) target.removeEventListener(t, f);
    this.listeners = null;
    if (this.wakeConnect) this.wakeConnect();
  }

  // ---------------------------------------------------------- internals

  emitState(state, detail = {}) {
    this.state = state;
    this.lastStateDetail = detail;
    const s = {
      state,
      pending: this.pendingCount(),
      events: this.events.length,
      version: this.version,
      attemptId: this.attemptId,
      persistent: this.persistent,
      ...detail,
    };
    if (state === 'saved' && s.at === undefined) s.at = this.lastSavedAt;
    if (this.opts.onState) {
      try {
        this.opts.onState(s);
      } catch (e) {
        console.error('onState', e);
      }
    }
  }

  emitAnswers(reason, changed) {
    if (this.opts.onAnswers) {
      try {
        this.opts.onAnswers(this.answers(), { reason, changed });
      } catch (e) {
        console.error('onAnswers', e);
      }
    }
  }

  installListeners() {
    if (typeof window === 'undefined' || this.listeners) return;
    this.listeners = [];
    const on = (target, t, f) => {
      target.addEventListener(t, f);
      this.listeners.push([t, target, f]);
    };
    on(window, 'online', () => this.retryNow());
    on(window, 'offline', () => {
      if (!this.closed) this.emitState('offline', { reason: 'browser offline' });
    });
    if (typeof document !== 'undefined') {
      on(document, 'visibilitychange', () => {
        if (document.visibilityState === 'hidden') {
          this.scheduleSave(0);
          this.scheduleEvents(0);
        }
      });
    }
  }

  persist(fn) {
    this.persistChain = this.persistChain
      .then(() => this.store.update(this.storeKey, (r) => fn(r || emptyRecord())))
      .catch((e) => {
        console.error('attempts-client: could not keep changes on this device', e);
      });
    return this.persistChain;
  }

  /** Waits until what was queued for the store is written. */
  flushStore() {
    return this.persistChain;
  }

  async request(method, query, body, { attemptId = this.attemptId } = {}) {
    const url = `${this.baseUrl}/api/attempts/${attemptId || 'new'}?${query}`;
    const headers = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method === 'GET') headers['Cache-Control'] = 'no-cache';
    const ctl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    if (ctl) init.signal = ctl.signal;
    const timer = ctl ? setTimeout(() => ctl.abort(), this.requestTimeoutMs) : null;
    const sent = this.now();
    let res;
    try {
      res = await this.fetch(url, init);
    } catch (e) {
      clearTimeout(timer);
      return { status: 0, transient: true, code: 'network', message: String((e && e.message) || e), retryAfterMs: null };
    }
    let json = null;
    try {
      const text = await res.text();
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    } finally {
      clearTimeout(timer);
    }
    const received = this.now();
    const date = res.headers.get('Date');
    if (date) {
      const t = Date.parse(date);
      // The header has whole seconds, truncated: the middle of its second.
      if (!Number.isNaN(t)) this.clock.add(sent, received, t + 500, 1000);
    }
    const err = json && json.error;
    const out = {
      status: res.status,
      ok: res.ok,
      json,
      sent,
      received,
      code: err ? err.code : null,
      message: err ? err.message : null,
      details: err ? err.details : null,
      transient: TRANSIENT.has(res.status),
      retryAfterMs: parseRetryAfter(res.headers.get('Retry-After'), received),
    };
    return out;
  }

  /** Takes the clock and the deadline from an attempt state. */
  noteState(st, r) {
    if (st.deadline_at && st.time_remaining_s !== null && st.time_remaining_s !== undefined) {
      const deadline = Date.parse(st.deadline_at);
      // time_remaining_s is floored: the server's now lies in
      // (deadline - (rem+1) s, deadline - rem s].
      if (st.time_remaining_s > 0) this.clock.add(r.sent, r.received, deadline - st.time_remaining_s * 1000 - 500, 1000);
      this.deadlineServerMs = deadline;
    } else {
      this.deadlineServerMs = null;
    }
  }

  /** Takes the clock and a moved deadline (extend) from a save's answer. */
  noteSaved(j, r) {
    if (j.saved_at) this.clock.add(r.sent, r.received, Date.parse(j.saved_at), 0);
    if (j.time_remaining_s !== null && j.time_remaining_s !== undefined) {
      const est = this.clock.serverNow(r.received) + j.time_remaining_s * 1000 + 500;
      if (this.deadlineServerMs === null || Math.abs(est - this.deadlineServerMs) > 2000) this.deadlineServerMs = est;
    }
  }

  async sleep(ms) {
    await new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeConnect = null;
        resolve();
      }, ms);
      this.wakeConnect = () => {
        clearTimeout(t);
        this.wakeConnect = null;
        resolve();
      };
    });
  }

  /** Starts or resumes the attempt, retrying transient failures forever. */
  async connect() {
    let failures = 0;
    for (;;) {
      if (this.stopped) throw new Error('closed');
      let r;
      if (this.attemptId) r = await this.request('GET', 'action=state');
      else r = await this.request('POST', 'action=start', { exam_id: this.examId }, { attemptId: 'new' });
      if (r.ok && r.json) {
        await this.adoptServerState(r.json, r);
        return r.json;
      }
      if (r.status === 404 && this.attemptId && this.examId && !this.opts.attemptId) {
        // The kept attempt is gone (another database?): start afresh; the
        // unsent edits stay and go to the new attempt.
        this.attemptId = null;
        this.version = 0;
        this.acked = {};
        continue;
      }
      failures++;
      if (r.transient) this.failedTries++;
      const delay = r.transient ? retryDelay(failures, r.retryAfterMs, this.backoff) : this.periodicMs;
      if (r.transient) this.emitState('offline', { reason: r.code || `HTTP ${r.status}`, retryInMs: delay });
      else this.emitState('error', { code: r.code, message: r.message, status: r.status, retryInMs: delay });
      await this.sleep(delay);
    }
  }

  async adoptServerState(st, r) {
    const known = this.attemptId === st.attempt_id;
    this.attemptId = st.attempt_id;
    this.connected = true;
    this.noteState(st, r);
    if (st.status !== 'in_progress') {
      await this.closeWith('submitted', null);
      return;
    }
    if (!known || st.version !== this.version) {
      const before = this.local;
      const m = mergeAnswers({ server: st.answers || {}, acked: known ? this.acked : {}, pending: this.pending });
      this.version = st.version;
      this.acked = st.answers || {};
      this.ackedAuto = st.auto_save_data;
      this.local = m.answers;
      const changed = Object.keys({ ...before, ...this.local }).filter((k) => !jsonEqual(before[k], this.local[k]));
      this.emitAnswers(known && this.pendingCount() ? 'merged' : 'server', changed);
      // Another tab or device saved since this device's last acknowledged save.
      if (known && m.tookServer.length) this.reportConflict(m, st.version);
    }
    const version = this.version;
    const acked = this.acked;
    const attemptId = this.attemptId;
    const deadline = this.deadlineServerMs;
    const offset = this.clock.offsetMs;
    this.persist((rec) => {
      if (rec.attemptId !== attemptId || version >= (rec.version || 0)) {
        rec.version = version;
        rec.acked = acked;
      }
      rec.attemptId = attemptId;
      rec.deadlineServerMs = deadline;
      rec.offsetMs = offset;
      return rec;
    });
    if (this.pendingCount() || this.pendingAuto !== undefined) {
      this.emitState('saving');
      this.scheduleSave(0);
    } else {
      this.lastSavedAt = this.lastSavedAt || this.now();
      this.emitState('saved', { at: null });
    }
    if (this.events.length) this.scheduleEvents(0);
  }

  reportConflict(m, serverVersion) {
    const c = { keptLocal: m.keptLocal, tookServer: m.tookServer, serverVersion };
    this.emitState('conflict', c);
    if (this.opts.onConflict) {
      try {
        this.opts.onConflict(c);
      } catch (e) {
        console.error('onConflict', e);
      }
    }
  }

  scheduleSave(delayMs) {
    // Before the attempt is read (connect() retries) nothing else goes.
    if (this.closed || this.stopped || !this.connected) return;
    if (this.saveInFlight) {
      this.saveAgain = true;
      return;
    }
    // While backing off, new edits wait for the retry (no hammering).
    const at = Math.max(this.now() + delayMs, this.saveRetryAt);
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.flushSave(), Math.max(0, at - this.now()));
  }

  /** One save of everything pending; reschedules itself as needed. */
  async flushSave() {
    if (this.closed || this.stopped || this.saveInFlight || this.submitPromise) return;
    if (!this.pendingCount() && this.pendingAuto === undefined) return;
    this.saveInFlight = this.doSave();
    try {
      await this.saveInFlight;
    } finally {
      this.saveInFlight = null;
    }
    if (this.saveAgain && !this.closed) {
      this.saveAgain = false;
      const ms = this.saveAgainMs ?? this.debounceMs;
      this.saveAgainMs = undefined;
      this.scheduleSave(ms);
    }
  }

  async doSave() {
    const sentPending = { ...this.pending };
    const sentAuto = this.pendingAuto;
    const body = { answers: savePayload(this.local, sentPending), expected_version: this.version };
    if (sentAuto !== undefined) body.auto_save_data = sentAuto;
    this.emitState('saving');
    const r = await this.request('PATCH', 'action=save', body);
    if (r.ok && r.json) {
      this.saveFailures = 0;
      this.saveRetryAt = 0;
      this.noteSaved(r.json, r);
      this.acknowledge(sentPending, sentAuto, r.json.version);
      this.lastSavedAt = this.now();
      this.emitState('saved', { at: this.lastSavedAt });
      if (this.pendingCount() || this.pendingAuto !== undefined) this.saveAgain = true;
      return;
    }
    await this.handleWriteFailure(r, 'save');
  }

  /** A save of sentPending (and sentAuto) was committed as version. */
  acknowledge(sentPending, sentAuto, version) {
    this.version = version;
    this.acked = applyPending(this.acked, sentPending);
    for (const [k, v] of Object.entries(sentPending)) {
      if (Object.prototype.hasOwnProperty.call(this.pending, k) && jsonEqual(this.pending[k], v)) delete this.pending[k];
    }
    if (sentAuto !== undefined) {
      this.ackedAuto = sentAuto;
      if (this.pendingAuto === sentAuto) this.pendingAuto = undefined;
    }
    const acked = this.acked;
    const attemptId = this.attemptId;
    this.persist((rec) => {
      rec.attemptId = attemptId;
      rec.pending = rec.pending || {};
      for (const [k, v] of Object.entries(sentPending)) {
        if (rec.pending[k] && jsonEqual(rec.pending[k].v, v)) delete rec.pending[k];
      }
      if (sentAuto !== undefined && jsonEqual(rec.pendingAuto, sentAuto)) delete rec.pendingAuto;
      if (version >= (rec.version || 0)) {
        rec.version = version;
        rec.acked = acked;
      }
      return rec;
    });
  }

  /** A 409 version_conflict's details: merge, tell the page. */
  mergeConflict(details) {
    const server = details.answers || {};
    const m = mergeAnswers({ server, acked: this.acked, pending: this.pending });
    const before = this.local;
    this.version = details.current_version;
    this.acked = server;
    this.ackedAuto = details.auto_save_data;
    this.local = m.answers;
    const changed = Object.keys({ ...before, ...this.local }).filter((k) => !jsonEqual(before[k], this.local[k]));
    const version = this.version;
    this.persist((rec) => {
      if (version >= (rec.version || 0)) {
        rec.version = version;
        rec.acked = server;
      }
      return rec;
    });
    if (changed.length) this.emitAnswers('merged', changed);
    this.reportConflict(m, version);
  }

  /** Common handling of a failed save or submit; true if the caller may retry at once. */
  async handleWriteFailure(r, what) {
    if (r.status === 409 && r.code === 'version_conflict' && r.details) {
      this.mergeConflict(r.details);
      if (what === 'save') {
        // Save the merge soon; a little jitter so two tabs saving in
        // step do not collide again and again.
        this.saveAgain = true;
        this.saveAgainMs = Math.floor(Math.random() * 200);
      }
      return true;
    }
    if (r.status === 409 && (r.code === 'attempt_submitted' || r.code === 'attempt_closed')) {
      await this.closeWith(r.code === 'attempt_closed' ? 'deadline' : 'submitted', null);
      return false;
    }
    if (r.transient) {
      this.failedTries++;
      this.saveFailures++;
      const delay = retryDelay(this.saveFailures, r.retryAfterMs, this.backoff);
      this.saveRetryAt = this.now() + delay;
      this.emitState('offline', { reason: r.code || `HTTP ${r.status}`, retryInMs: delay });
      if (what === 'save') {
        clearTimeout(this.saveTimer);
        this.saveTimer = setTimeout(() => this.flushSave(), delay);
      }
      return false;
    }
    // Retrying will not fix it (401, 403, 404, 413, 422): say so, keep the
    // changes, try again at the periodic tick (a new token may come).
    this.saveRetryAt = this.now() + this.periodicMs;
    this.emitState('error', { code: r.code, message: r.message, status: r.status });
    return false;
  }

  scheduleEvents(delayMs) {
    if (this.stopped || !this.connected || !this.events.length) return;
    if (this.eventsInFlight) return;
    const at = Math.max(this.now() + delayMs, this.eventRetryAt);
    clearTimeout(this.eventTimer);
    this.eventTimer = setTimeout(() => this.flushEvents(), Math.max(0, at - this.now()));
  }

  /** Sends queued events, oldest first, 100 at a time, until none is left. */
  async flushEvents() {
    if (this.stopped || this.eventsInFlight || !this.events.length || !this.attemptId) return;
    const batch = this.events.slice(0, 100);
    this.eventsInFlight = this.request('POST', 'action=activity', { events: batch });
    let r;
    try {
      r = await this.eventsInFlight;
    } finally {
      this.eventsInFlight = null;
    }
    if (r.ok) {
      this.eventFailures = 0;
      this.eventRetryAt = 0;
      const sent = new Set(batch.map((e) => e.client_event_id));
      this.events = this.events.filter((e) => !sent.has(e.client_event_id));
      this.persist((rec) => {
        rec.events = (rec.events || []).filter((e) => !sent.has(e.client_event_id));
        return rec;
      });
      if (this.events.length) this.scheduleEvents(0);
      return;
    }
    if (r.transient) {
      this.failedTries++;
      this.eventFailures++;
      const delay = retryDelay(this.eventFailures, r.retryAfterMs, this.backoff);
      this.eventRetryAt = this.now() + delay;
    } else {
      // A refused batch (a malformed event from the page): drop it rather
      // than block the queue, and say so.
      console.error('attempts-client: activity refused', r.status, r.code, r.message);
      const sent = new Set(batch.map((e) => e.client_event_id));
      this.events = this.events.filter((e) => !sent.has(e.client_event_id));
      this.persist((rec) => {
        rec.events = (rec.events || []).filter((e) => !sent.has(e.client_event_id));
        return rec;
      });
      this.eventRetryAt = this.now() + this.periodicMs;
    }
    this.scheduleEvents(0);
  }

  tick() {
    if (this.closed || this.stopped) return;
    if (this.now() >= this.saveRetryAt && !this.saveInFlight) this.scheduleSave(0);
    if (this.now() >= this.eventRetryAt) this.scheduleEvents(0);
  }

  async doSubmit() {
    if (this.closed && this.receipt) return this.submitResult;
    clearTimeout(this.saveTimer);
    if (this.saveInFlight) await this.saveInFlight.catch(() => {});
    let failures = 0;
    for (;;) {
      if (this.closed && this.receipt) return this.submitResult;
      const sentPending = { ...this.pending };
      const body = {};
      if (Object.keys(sentPending).length) {
        body.answers = savePayload(this.local, sentPending);
        body.expected_version = this.version;
      }
      this.emitState('saving', { submitting: true });
      const r = await this.request('POST', 'action=submit', body);
      if (r.ok && r.json) {
        const st = r.json;
        this.acknowledge(sentPending, undefined, st.version);
        this.acked = st.answers || this.acked;
        this.local = { ...this.acked };
        const verified = await this.verifyReceipt(st.answers, st.receipt);
        this.submitResult = {
          receipt: st.receipt,
          already_submitted: !!st.already_submitted,
          receipt_verified: verified,
          state: st,
        };
        await this.closeWith('submitted', st.receipt, { already_submitted: !!st.already_submitted, receipt_verified: verified });
        return this.submitResult;
      }
      if (r.status === 409 && r.code === 'version_conflict' && r.details) {
        this.mergeConflict(r.details);
        continue;
      }
      if (r.status === 409 && r.code === 'attempt_closed') {
        await this.closeWith('deadline', null);
        return this.submitResult || { receipt: this.receipt, already_submitted: true, receipt_verified: null };
      }
      if (r.transient) {
        failures++;
        this.failedTries++;
        const delay = retryDelay(failures, r.retryAfterMs, this.backoff);
        this.emitState('offline', { reason: r.code || `HTTP ${r.status}`, retryInMs: delay, submitting: true });
        await this.sleep(delay);
        continue;
      }
      this.emitState('error', { code: r.code, message: r.message, status: r.status, submitting: true });
      const e = new Error(r.message || `submit failed: HTTP ${r.status}`);
      e.code = r.code;
      throw e;
    }
  }

  async verifyReceipt(answers, receipt) {
    if (!receipt || !answers) return null;
    try {
      const h = await sha256Hex(canonicalJson(answers));
      return h === null ? null : h === receipt;
    } catch {
      return null;
    }
  }

  /** The attempt is closed: fetch the receipt if needed, keep the record's closure, stop. */
  async closeWith(reason, receipt, extra = {}) {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.saveTimer);
    let rcpt = receipt;
    let submitReason = reason;
    if (!rcpt) {
      const r = await this.request('GET', 'action=info');
      if (r.ok && r.json) {
        rcpt = r.json.receipt;
        submitReason = r.json.submit_reason || reason;
      }
    }
    this.receipt = rcpt;
    const lost = Object.keys(this.pending);
    const attemptId = this.attemptId;
    this.pending = {};
    this.pendingAuto = undefined;
    this.persist((rec) => ({ ...emptyRecord(), events: rec.events || [], attemptId, closed: true, receipt: rcpt }));
    this.emitState('closed', { receipt: rcpt, reason: submitReason, unsaved: lost, ...extra });
    if (this.events.length) this.scheduleEvents(0);
  }
}
