// The snapshot CronJob: asks the database nodes of a tier for a snapshot of every tenant they hold, through the
// nodes' own durable operation (POST /api/v1/tenant/snapshot with X-Tenant-ID, then GET /api/v1/operations/:id), and
// waits for each. Uses only Node's standard library (it runs in the percolate-api image).
//
//   node snapshot-tenants.mjs --nodes <headless service host> [--port 8080] [--op-timeout-ms 600000]
//   PERCOLATE_API_TOKEN: an admin token for every tenant (percolate token --tenant '*' --scope admin --ttl ...)
//
// The nodes are the A records of the tier's headless Service (one per ready pod). Each node lists the tenants it
// knows (GET /api/v1/admin/tenants); a tenant hot or warm on several nodes is snapshotted once, on a node where it is
// hot if there is one (its files are open there). Cold tenants are skipped: their latest snapshot is already in S3.
// One operation at a time per node (a node runs two and queues 64, and serves requests meanwhile), nodes in parallel.
// Exit 0 when every snapshot completed, 1 otherwise (the Job's backoffLimit retries the pass).
import dns from 'node:dns/promises';
import { parseArgs } from 'node:util';

const REQUEST_TIMEOUT_MS = 30_000;
const LIST_PAGE = 1000;
const LIST_PAGES_MAX = 10_000;
const POLL_MS = 1000;
const BUSY_RETRIES = 10;

const { values } = parseArgs({
  options: { nodes: { type: 'string' }, port: { type: 'string', default: '8080' }, 'op-timeout-ms': { type: 'string', default: '600000' } },
});
const token = process.env.PERCOLATE_API_TOKEN?.trim();
const port = Number(values.port);
const opTimeoutMs = Number(values['op-timeout-ms']);
if (!values.nodes || !token || !Number.isInteger(port) || !(opTimeoutMs > 0)) {
  console.error('usage: PERCOLATE_API_TOKEN=<admin * token> node snapshot-tenants.mjs --nodes <host> [--port 8080] [--op-timeout-ms 600000]');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (fields, msg) => console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }));

/** One request to a node; the answer's JSON (or text) and status. Never logs the token. */
async function call(address, method, path, tenant) {
  const host = address.includes(':') ? `[${address}]` : address;
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (tenant !== undefined) headers['x-tenant-id'] = tenant;
  const res = await fetch(`http://${host}:${port}${path}`, { method, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** Every tenant a node knows, with its state there. */
async function tenantsOf(address) {
  const out = [];
  let cursor = null;
  for (let page = 0; page < LIST_PAGES_MAX; page++) {
    const q = `limit=${LIST_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const r = await call(address, 'GET', `/api/v1/admin/tenants?${q}`);
    if (r.status !== 200) throw new Error(`${address}: GET /api/v1/admin/tenants: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    for (const t of r.body.tenants) out.push({ tenant: t.tenant, state: t.state });
    cursor = r.body.next_cursor;
    if (!cursor) return out;
  }
  throw new Error(`${address}: more than ${LIST_PAGE * LIST_PAGES_MAX} tenants`);
}

/** Starts a snapshot of one tenant on one node and waits for its operation to end; resolves with its status. */
async function snapshot(address, tenant) {
  let started;
  for (let attempt = 0; ; attempt++) {
    started = await call(address, 'POST', '/api/v1/tenant/snapshot', tenant);
    // 503 overloaded: the node's operation queue is full (another client's operations); wait and ask again
    if (started.status === 503 && attempt < BUSY_RETRIES) {
      await sleep(POLL_MS * 2 ** Math.min(attempt, 5));
      continue;
    }
    break;
  }
  if (started.status !== 202) return { status: 'failed', error: `HTTP ${started.status} ${JSON.stringify(started.body).slice(0, 300)}` };
  const deadline = Date.now() + opTimeoutMs;
  while (Date.now() < deadline) {
    const r = await call(address, 'GET', `/api/v1/operations/${encodeURIComponent(started.body.operation_id)}`, tenant);
    if (r.status === 200 && (r.body.status === 'completed' || r.body.status === 'failed')) return { status: r.body.status, error: r.body.error ?? null };
    if (r.status !== 200) return { status: 'failed', error: `operation ${started.body.operation_id}: HTTP ${r.status}` };
    await sleep(POLL_MS);
  }
  return { status: 'failed', error: `operation ${started.body.operation_id} not finished within ${opTimeoutMs} ms` };
}

async function main() {
  const addresses = [...new Set((await dns.lookup(values.nodes, { all: true })).map((a) => a.address))].sort();
  log({ nodes: addresses.length, host: values.nodes }, 'snapshot pass: nodes found');
  // tenant -> the node that snapshots it (a node holding it hot wins over one holding it warm)
  const chosen = new Map();
  for (const address of addresses) {
    for (const { tenant, state } of await tenantsOf(address)) {
      if (state !== 'hot' && state !== 'warm') continue;
      const prev = chosen.get(tenant);
      if (!prev || (prev.state === 'warm' && state === 'hot')) chosen.set(tenant, { address, state });
    }
  }
  const perNode = new Map(addresses.map((a) => [a, []]));
  for (const [tenant, { address }] of chosen) perNode.get(address).push(tenant);
  const results = { completed: 0, failed: 0 };
  await Promise.all(
    [...perNode].map(async ([address, tenants]) => {
      for (const tenant of tenants) {
        const r = await snapshot(address, tenant).catch((err) => ({ status: 'failed', error: String(err) }));
        results[r.status === 'completed' ? 'completed' : 'failed']++;
        if (r.status !== 'completed') log({ node: address, tenant, error: r.error }, 'snapshot failed');
      }
    }),
  );
  log({ tenants: chosen.size, ...results }, 'snapshot pass done');
  return results.failed === 0 ? 0 : 1;
}

/** Under Istio without native sidecars, the proxy would keep the Job's pod running: ask it to quit (no proxy: ignored). */
async function stopSidecar() {
  await fetch('http://127.0.0.1:15020/quitquitquit', { method: 'POST', signal: AbortSignal.timeout(2000) }).catch(() => undefined);
}

const code = await main().catch((err) => {
  console.error(`snapshot-tenants: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
});
await stopSidecar();
process.exit(code);
