// tests/openapi/check_document.mjs ROUTES DOCUMENT CODES — compares the
// router's own table (ROUTES: `attempts.fcgi routes`, one "METHOD PATH
// ACTION token|public" line per route, tab separated) with the OpenAPI
// document, both ways, and checks that every error code the code can
// answer (CODES: one a line, gathered from lib/ and nginx/ by
// tests/openapi_test.sh) is in the document's ErrorCode. Run by
// tests/openapi_test.sh; prints `ok - ...`/`not ok - ...` lines and exits 1
// if any check failed. No dependencies beyond node.
import { readFileSync } from 'node:fs';
import { makeChecks } from '../lib/checks.mjs';

const [routesFile, docFile, codesFile] = process.argv.slice(2);
const checks = makeChecks();
const check = checks.check;

const doc = JSON.parse(readFileSync(docFile, 'utf8'));
const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options', 'trace'];

// Resolves a local JSON pointer ("#/components/parameters/X").
function deref(node) {
  while (node && typeof node.$ref === 'string') {
    const parts = node.$ref.replace(/^#\//, '').split('/')
      .map((p) => decodeURIComponent(p.replace(/~1/g, '/').replace(/~0/g, '~')));
    node = parts.reduce((n, p) => (n == null ? n : n[p]), doc);
  }
  return node;
}

// The router's table: "METHOD path action" -> "token" | "public".
const router = new Map();
for (const line of readFileSync(routesFile, 'utf8').split('\n')) {
  if (line === '') continue;
  const [method, path, action, auth] = line.split('\t');
  router.set(`${method} ${path} ${action}`, auth);
}
check(router.size > 0, 'the router printed its table', `${router.size} routes`);

// The document's operations: the same keys, each with its auth and mark.
const documented = new Map();
for (const [path, rawItem] of Object.entries(doc.paths)) {
  if (rawItem.$ref !== undefined) {
    // An alias (the seed's /route.ts form): it must be the same path item.
    const target = deref(rawItem);
    check(target !== undefined && target === doc.paths['/api/attempts/{id}'] &&
      path === '/api/attempts/{id}/route.ts',
      `${path} is an alias of /api/attempts/{id}`, rawItem.$ref);
    continue;
  }
  for (const m of METHODS) {
    const op = rawItem[m];
    if (op === undefined) continue;
    const params = [...(rawItem.parameters || []), ...(op.parameters || [])].map(deref);
    const action = params.find((p) => p.in === 'query' && p.name === 'action');
    const auth = Array.isArray(op.security) && op.security.length === 0 ? 'public' : 'token';
    const notBuilt = op['x-not-built'];
    const method = m.toUpperCase();
    if (action && method !== 'OPTIONS') {
      const actions = (action.schema && action.schema.enum) || [];
      check(action.required === true && actions.length > 0,
        `${method} ${path}: the action parameter is required and enumerates the actions`);
      const described = Object.keys(op['x-actions'] || {});
      check(JSON.stringify([...described].sort()) === JSON.stringify([...actions].sort()),
        `${method} ${path}: x-actions describes every action of the enum, no other`,
        `enum ${actions.join(',')}; x-actions ${described.join(',')}`);
      for (const a of actions) documented.set(`${method} ${path} ${a}`, { auth, notBuilt });
    } else {
      documented.set(`${method} ${path} -`, { auth, notBuilt });
    }
  }
}

// Router -> document: every route is described, as built, with its auth.
for (const [key, auth] of router) {
  const d = documented.get(key);
  if (d === undefined) {
    check(false, `route ${key} is in the document`, 'missing: describe it in docs/openapi.json');
    continue;
  }
  check(d.notBuilt === undefined, `route ${key} is not marked x-not-built`,
    `it is built now: drop "x-not-built": "${d.notBuilt}" and check its description`);
  check(d.auth === auth, `route ${key}: the document's security matches the router (${auth})`,
    `document says ${d.auth}`);
}
// Document -> router: every operation is a route, or marked as not built.
for (const [key, d] of documented) {
  if (router.has(key)) continue;
  if (d.notBuilt !== undefined)
    check(true, `operation ${key} is marked x-not-built (${d.notBuilt}) and has no route`);
  else
    check(false, `operation ${key} is a route`, 'the router has no such route: remove it or mark it x-not-built');
}

// Error codes: everything the code answers is in ErrorCode, and every
// error response's codes are ErrorCode's.
const errorCodes = new Set((deref(doc.components.schemas.ErrorCode).oneOf || []).map((c) => c.const));
const used = readFileSync(codesFile, 'utf8').split('\n').filter((c) => c !== '');
check(used.length > 0, 'error codes were gathered from the code', `${used.length}`);
for (const code of new Set(used))
  check(errorCodes.has(code), `error code ${code} is in ErrorCode`);
for (const [name, schema] of Object.entries(doc.components.schemas)) {
  const en = schema?.properties?.error?.properties?.code?.enum;
  if (!en) continue;
  const bad = en.filter((c) => !errorCodes.has(c));
  check(bad.length === 0, `${name}: its codes are ErrorCode's`, bad.join(','));
}

console.log(`routes-vs-document: ${checks.counts()}`);
process.exit(checks.failed === 0 ? 0 : 1);
