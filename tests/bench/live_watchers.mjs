// tests/bench/live_watchers.mjs — the proctors' live feed under load: N
// Server-Sent-Event watchers on nginx (nchan) while S students save. Run
// by tests/bench/live_watchers.sh, which starts the stack and passes:
//   --url URL --exam ID --proctor TOKEN --students FILE (one token a line)
//   --watchers N --save-every-ms MS --phase-s S
//   --nginx-pid P --fcgi-pid P --pg-pid P   (roots of the CPU accounting)
// Phases: the students start their attempts and save (warm-up), then
// phase A (no watchers), then N watchers subscribe (with the proctor's
// token, so each subscribe is authorized by the service), then phase B.
// Measures, per phase: save latency (p50/p99, the FastCGI threads' health)
// and the CPU of nginx, the workers and PostgreSQL; in phase B the
// delivery latency of every change to every watcher, from the save's
// answer (the commit came before it) to the watcher reading the event, and
// how many (watcher, change) pairs arrived. Prints a report and writes
// JSON to --out. Timing is a figure, never a verdict.
import http from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';

const nowMs = () => Number(process.hrtime.bigint()) / 1e6; // one clock for both threads

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const round = (x) => (x === null ? null : Math.round(x * 10) / 10);

// ------------------------------------------------------------ students
// A worker thread of its own, so the watchers' parsing never delays the
// timestamps of the saves.
if (!isMainThread) {
  const { url, exam, tokens, everyMs } = workerData;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const u = new URL(url);
  const req = (method, path, token, body) => new Promise((resolve) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const sent = nowMs();
    const r = http.request({ host: u.hostname, port: u.port, method, path, agent,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(data ? { 'Content-Length': data.length } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        let json = null;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString());
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode, json, sent, acked: nowMs() });
      });
    });
    r.on('error', () => resolve({ status: 0, json: null, sent, acked: nowMs() }));
    if (data) r.write(data);
    r.end();
  });
  let running = true;
  parentPort.on('message', (m) => {
    if (m === 'stop') running = false;
  });
  const students = [];
  // Start the attempts, 32 at a time.
  for (let i = 0; i < tokens.length; i += 32) {
    await Promise.all(tokens.slice(i, i + 32).map(async (t) => {
      const r = await req('POST', '/api/attempts/new?action=start', t, { exam_id: exam });
      if (r.json && r.json.attempt_id) students.push({ token: t, id: r.json.attempt_id, version: r.json.version });
    }));
  }
  parentPort.postMessage({ type: 'started', n: students.length });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  await Promise.all(students.map(async (s, i) => {
    await sleep((everyMs * i) / students.length); // spread evenly
    let q = 0;
    while (running) {
      const next = nowMs() + everyMs;
      q++;
      const answers = { [`q${(q % 10) + 1}`]: `answer ${q}` };
      const r = await req('PATCH', `/api/attempts/${s.id}?action=save`, s.token, { answers, expected_version: s.version });
      if (r.status === 200 && r.json) {
        s.version = r.json.version;
        parentPort.postMessage({ type: 'save', key: `${s.id}:${r.json.version}`, sent: r.sent, acked: r.acked });
      } else {
        parentPort.postMessage({ type: 'save_failed', status: r.status, sent: r.sent, acked: r.acked });
        if (r.json && r.json.error && r.json.error.details && r.json.error.details.current_version) s.version = r.json.error.details.current_version;
      }
      await sleep(Math.max(0, next - nowMs()));
    }
  }));
  parentPort.postMessage({ type: 'done' });
  agent.destroy();
} else {
  await main();
}

// ------------------------------------------------------------ CPU

function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}

// CPU ticks (1/100 s) of root and all its descendants, now.
function treeTicks(root) {
  const kids = new Map();
  const stats = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(d);
    if (!st) continue;
    stats.set(Number(d), st);
    if (!kids.has(st.ppid)) kids.set(st.ppid, []);
    kids.get(st.ppid).push(Number(d));
  }
  let sum = 0;
  const todo = [root];
  while (todo.length) {
    const p = todo.pop();
    const st = stats.get(p);
    if (st) sum += st.ticks;
    for (const k of kids.get(p) || []) todo.push(k);
  }
  return sum;
}

// ------------------------------------------------------------ watchers

async function main() {
  const arg = (k, d) => {
    const i = process.argv.indexOf(`--${k}`);
    return i > 0 ? process.argv[i + 1] : d;
  };
  const url = arg('url');
  const exam = arg('exam');
  const proctor = arg('proctor');
  const tokens = readFileSync(arg('students'), 'utf8').split('\n').filter(Boolean);
  const nWatchers = Number(arg('watchers', '1000'));
  const everyMs = Number(arg('save-every-ms', '5000'));
  const phaseS = Number(arg('phase-s', '20'));
  const roots = { nginx: Number(arg('nginx-pid')), workers: Number(arg('fcgi-pid')), postgres: Number(arg('pg-pid')) };
  const out = arg('out', '/dev/null');
  const u = new URL(url);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  let phase = 'warmup';
  const saves = { warmup: [], A: [], B: [], tail: [] };
  const acks = new Map(); // key -> acked ms (phase B)
  let failed = 0;
  const students = new Worker(new URL(import.meta.url), { workerData: { url, exam, tokens, everyMs } });
  const started = new Promise((resolve) => {
    students.on('message', (m) => {
      if (m.type === 'started') resolve(m.n);
      else if (m.type === 'save') {
        saves[phase].push(m.acked - m.sent);
        if (phase === 'B') acks.set(m.key, m.acked);
      } else if (m.type === 'save_failed') failed++;
    });
  });
  const nStudents = await started;
  console.log(`# ${nStudents} students started their attempts; saving every ${everyMs} ms each`);
  await sleep(Math.min(5000, everyMs));

  // Percent of one core; "client" is this process (watchers and students).
  const cpu = () => {
    const c = process.cpuUsage();
    return { at: nowMs(), nginx: treeTicks(roots.nginx), workers: treeTicks(roots.workers), postgres: treeTicks(roots.postgres), client: (c.user + c.system) / 1e4 };
  };
  const cpuPct = (a, b) => {
    const s = (b.at - a.at) / 1000;
    const f = (k) => round((b[k] - a[k]) / s);
    return { nginx: f('nginx'), workers: f('workers'), postgres: f('postgres'), client: f('client') };
  };

  phase = 'A';
  const a0 = cpu();
  await sleep(phaseS * 1000);
  const a1 = cpu();

  // N watchers subscribe.
  const parsed = new Map(); // event id -> [keys]
  const arrivals = new Map(); // key -> [ms]
  let connected = 0;
  let refused = 0;
  let dropped = 0;
  let events = 0;
  const reqs = [];
  const connectStart = nowMs();
  const connectTimes = [];
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const watch = (i) => new Promise((resolve) => {
    const t = nowMs();
    const r = http.request({ host: u.hostname, port: u.port, path: `/api/exams/${exam}/live`, agent,
      headers: { Accept: 'text/event-stream', Authorization: `Bearer ${proctor}` } }, (res) => {
      if (res.statusCode !== 200) {
        refused++;
        res.resume();
        resolve();
        return;
      }
      connected++;
      connectTimes.push(nowMs() - t);
      resolve();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        const at = nowMs();
        buf += chunk;
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const m = /^id: (.*)$/m.exec(block);
          const d = /^data: (.*)$/m.exec(block);
          if (!d) continue;
          events++;
          const id = m ? m[1] : d[1];
          let keys = parsed.get(id);
          if (!keys) {
            keys = [];
            try {
              const msg = JSON.parse(d[1]);
              for (const a of msg.attempts || []) keys.push(`${a.attempt_id}:${a.version}`);
            } catch {
              // not ours
            }
            parsed.set(id, keys);
          }
          for (const k of keys) {
            let l = arrivals.get(k);
            if (!l) arrivals.set(k, (l = []));
            l.push(at);
          }
        }
      });
      res.on('close', () => {
        if (phase === 'B') dropped++;
      });
    });
    r.on('error', () => {
      refused++;
      resolve();
    });
    r.end();
    reqs.push(r);
    void i;
  });
  for (let i = 0; i < nWatchers; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, nWatchers - i) }, (_, j) => watch(i + j)));
  }
  const connectMs = nowMs() - connectStart;
  connectTimes.sort((x, y) => x - y);
  console.log(`# ${connected} watchers subscribed in ${Math.round(connectMs)} ms (${refused} refused); p50 ${round(pct(connectTimes, 50))} ms, p99 ${round(pct(connectTimes, 99))} ms each`);

  phase = 'B';
  const b0 = cpu();
  await sleep(phaseS * 1000);
  const b1 = cpu();
  phase = 'tail';
  students.postMessage('stop');
  await sleep(2000);

  // Delivery: each change acknowledged in phase B, to every watcher.
  const lat = [];
  const first = []; // to the first watcher: the server's path
  const spread = []; // first to last watcher: the fan-out (and this client)
  let delivered = 0;
  let superseded = 0;
  let missing = 0;
  for (const [key, acked] of acks) {
    const l = arrivals.get(key);
    if (l && l.length) {
      delivered += l.length;
      missing += Math.max(0, connected - l.length);
      let lo = Infinity;
      let hi = -Infinity;
      for (const at of l) {
        lat.push(at - acked);
        lo = Math.min(lo, at);
        hi = Math.max(hi, at);
      }
      first.push(lo - acked);
      spread.push(hi - lo);
    } else {
      const [id, v] = key.split(':');
      let later = false;
      for (let w = Number(v) + 1; w < Number(v) + 4 && !later; w++) later = arrivals.has(`${id}:${w}`);
      if (later) superseded += connected;
      else missing += connected;
    }
  }
  lat.sort((x, y) => x - y);
  const stat = (xs) => {
    const s = [...xs].sort((x, y) => x - y);
    return { n: s.length, p50: round(pct(s, 50)), p99: round(pct(s, 99)), max: round(s[s.length - 1] ?? null) };
  };
  const report = {
    students: nStudents,
    save_every_ms: everyMs,
    watchers: { asked: nWatchers, connected, refused, connect_all_ms: Math.round(connectMs), connect_p50_ms: round(pct(connectTimes, 50)), connect_p99_ms: round(pct(connectTimes, 99)), dropped_during_B: dropped },
    phase_s: phaseS,
    saves_A: stat(saves.A),
    saves_B: stat(saves.B),
    saves_failed: failed,
    changes_B: acks.size,
    messages_seen: parsed.size,
    events_read: events,
    delivery: { pairs: delivered, superseded, missing, p50_ms: round(pct(lat, 50)), p90_ms: round(pct(lat, 90)), p99_ms: round(pct(lat, 99)), max_ms: round(lat[lat.length - 1] ?? null) },
    to_first_watcher: stat(first),
    fanout_spread: stat(spread),
    loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
    cpu_pct_A: cpuPct(a0, a1),
    cpu_pct_B: cpuPct(b0, b1),
  };
  writeFileSync(out, JSON.stringify(report, null, 1));
  console.log(JSON.stringify(report, null, 1));
  for (const r of reqs) r.destroy();
  agent.destroy();
  await students.terminate();
  process.exit(0);
}
