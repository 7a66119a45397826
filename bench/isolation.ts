// Isolation benchmark: how much one hostile tenant can hurt another on the same node.
//
//   npm run bench:isolation                # 5,000 tenants touched for the memory phase (a few minutes)
//   npm run bench:isolation -- --quick     # 500 tenants, shorter phases
//   npm run bench:isolation -- --count 2000 --queries 400
//
// A database node runs in its own process (services/api/main.ts, default configuration). Phase 1: a quiet tenant
// runs hybrid searches one after another, alone (the baseline). Phase 2: the same searches while a hostile tenant
// sends, in a loop and one at a time, the requests that used to freeze, poison or crash the node (backtracking LIKE
// patterns over long records, a backtracking schema pattern, a 3-hop traversal of a dense graph, SELECT * over big
// records, batches of 1,000 resources, JSON nested 5,000 deep, /sync ops from the far future, vectors that overflow
// float32). Reported: the quiet tenant's p50/p99 in both phases and their ratio (target p99 within 2x), and the
// node's maximum event-loop delay in phase 2 (prom-client's monitorEventLoopDelay, reset at each scrape; target
// < 100 ms). Phase 3, in a fresh node with the default open cap (64): RSS after touching `--count` tenants in turn,
// each with a resource, an entity and a moment (target: under 1 GiB).
import fs from 'node:fs';
import { log, machineInfo, markdownTable, parseArgs, percentile, writeResults } from './report.js';
import { mulberry32 } from './dataset.js';
import { resourceOp } from '../test/support/ops.js';
import { callUrl } from '../test/support/api.js';
import { startNodeProcess, type NodeProcess } from '../test/support/hostile.js';

const args = parseArgs();
const TENANTS = args.count ?? (args.quick ? 500 : 5000);
const SEARCHES = args.queries ?? (args.quick ? 300 : 1000);
const TARGETS = { p99Ratio: 2, loopDelayMs: 100, rssMiB: 1024 };
const QUIET = 'quiet';
const HOSTILE = 'mallory';

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function loopDelayMaxMs(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('percolate_nodejs_eventloop_lag_max_seconds'));
  return line ? Number(line.split(' ').at(-1)) * 1000 : NaN;
}

async function must(res: Promise<{ status: number; body: any }>, what: string, ok = (s: number) => s < 300): Promise<any> {
  const r = await res;
  if (!ok(r.status)) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

function words(rnd: () => number, n: number): string {
  const vocab = ['memory', 'agent', 'tenant', 'search', 'vector', 'graph', 'moment', 'entity', 'resource', 'node', 'index', 'query'];
  return Array.from({ length: n }, () => vocab[Math.floor(rnd() * vocab.length)]!).join(' ');
}

async function seed(node: NodeProcess): Promise<void> {
  const rnd = mulberry32(42);
  const call = (tenant: string, method: string, path: string, body?: unknown) => node.call(method, path, { tenant, body });
  log(`seeding ${QUIET} (2,000 resources) and ${HOSTILE}`);
  for (let b = 0; b < 2; b++) {
    const resources = Array.from({ length: 1000 }, (_, i) => ({ uri: `doc://quiet/${b}/${i}`, content: words(rnd, 60) }));
    await must(call(QUIET, 'POST', '/api/v1/resources', { resources }), 'seed quiet');
  }
  // long records for LIKE, big ones for SELECT *
  const long = Array.from({ length: 50 }, (_, i) => ({ uri: `doc://long/${i}`, content: 'a'.repeat(3000) }));
  await must(call(HOSTILE, 'POST', '/api/v1/resources', { resources: long }), 'seed long');
  for (let i = 0; i < 4; i++) {
    const big = Array.from({ length: 5 }, (_, j) => ({ uri: `doc://big/${i}/${j}`, content: words(rnd, 80_000).slice(0, 500_000) }));
    await must(call(HOSTILE, 'POST', '/api/v1/resources', { resources: big }), 'seed big');
  }
  // a dense graph: 300 nodes, 100 out-edges each
  const N = 300;
  for (let start = 0; start < N; start += 50) {
    const entities = Array.from({ length: 50 }, (_, k) => {
      const i = start + k;
      return { type: 'node', key: `n${i}`, edges: Array.from({ length: 100 }, (_, j) => ({ rel: 'links', to: { type: 'node', key: `n${(i * 7 + j * 13 + 1) % N}` } })) };
    });
    await must(call(HOSTILE, 'POST', '/api/v1/entities', { entities }), 'seed graph');
  }
  await must(call(HOSTILE, 'PUT', '/api/v1/schemas/victim', { schema: { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' } } } }), 'seed schema', (s) => s < 500);
}

/** The hostile mix: each call sends the next request of the cycle and waits for its answer (any status). */
/**
 * The hostile mix: each call sends the next request of the cycle and waits for its answer (any status). Bodies are
 * serialised once up front and answers are read as bytes, not parsed: the clients share this process, and parsing a
 * 16 MB answer here would stall the quiet tenant's client, not the node.
 */
async function hostileMix(node: NodeProcess, only?: string): Promise<() => Promise<string>> {
  const rnd = mulberry32(9);
  const bulk = JSON.stringify({ resources: Array.from({ length: 1000 }, (_, i) => ({ uri: `doc://bulk/${i}`, content: words(rnd, 150) })) });
  const deep = `{"uri":"doc://deep","content":"deep","metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
  const overflow = JSON.stringify({ uri: 'doc://inf', content: 'x', embedding: Array.from({ length: 384 }, (_, i) => (i === 0 ? 1e308 : 0.5)) });
  const future = JSON.stringify({ ops: [await resourceOp(HOSTILE, 'evil', '999999999999999.999990.evil', 'doc://f', 'future')] });
  const q = (query: string) => JSON.stringify({ query });
  let i = 0;
  const send = async (path: string, body: string) => {
    const res = await fetch(node.url + path, { method: 'POST', headers: { 'x-tenant-id': HOSTILE, 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
  };
  // the names double as the rows of the per-request table
  const steps: [string, () => Promise<unknown>][] = [
    ['LIKE with many %', () => send('/api/v1/query', q("SELECT id FROM resources WHERE content LIKE '%a%a%a%a%a%a%a%a%a%a%b'"))],
    ['schema pattern ^(a+)+$', () => send('/api/v1/entities', JSON.stringify({ type: 'victim', key: `k${i}`, properties: { code: `${'a'.repeat(40)}!` } }))],
    ['TRAVERSE 3 hops, dense', () => send('/api/v1/query', q("TRAVERSE FROM 'n0' DEPTH 3 DIRECTION both"))],
    ['SELECT * over big records', () => send('/api/v1/query', q('SELECT * FROM resources LIMIT 1000'))],
    ['batch of 1,000 resources', () => send('/api/v1/resources', bulk)],
    ['JSON 5,000 deep', () => send('/api/v1/resources', deep)],
    ['/sync from the far future', () => send('/api/v1/sync', future)],
    ['float32 overflow vector', () => send('/api/v1/resources', overflow)],
  ];
  const chosen = only ? steps.filter(([name]) => name === only) : steps;
  if (chosen.length === 0) throw new Error(`no hostile request named '${only}'`);
  return async () => {
    const [name, run] = chosen[i++ % chosen.length]!;
    await run();
    return name;
  };
}

async function searches(url: string, n: number): Promise<number[]> {
  const rnd = mulberry32(5);
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const r = await callUrl(url, 'POST', '/api/v1/search', { tenant: QUIET, body: { query: words(rnd, 3), limit: 10 } });
    lat.push(performance.now() - started);
    if (r.status !== 200) throw new Error(`quiet search answered ${r.status}`);
  }
  return lat;
}

const HOSTILE_KINDS = ['LIKE with many %', 'schema pattern ^(a+)+$', 'TRAVERSE 3 hops, dense', 'SELECT * over big records', 'batch of 1,000 resources', 'JSON 5,000 deep', '/sync from the far future', 'float32 overflow vector'];

interface Beside {
  lat: number[];
  loop: number;
  counts: Map<string, number>;
  slowest: Map<string, number>;
}

/** Waits until the node has inserted every pending vector, so one phase's background work does not bleed into the next. */
async function settle(url: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (/^percolate_vectors_pending_insert 0$/m.test(text)) return;
    if (Date.now() > deadline) throw new Error('the node did not drain its pending vectors within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `n` quiet searches while the hostile tenant loops over its mix (or over one kind of request). */
async function besideHostile(node: NodeProcess, n: number, only?: string): Promise<Beside> {
  await settle(node.url);
  await loopDelayMaxMs(node.url); // resets the event-loop histogram
  const next = await hostileMix(node, only);
  let stop = false;
  const counts = new Map<string, number>();
  const slowest = new Map<string, number>();
  const hostile = (async () => {
    while (!stop) {
      const started = performance.now();
      const name = await next();
      counts.set(name, (counts.get(name) ?? 0) + 1);
      slowest.set(name, Math.max(slowest.get(name) ?? 0, performance.now() - started));
    }
  })();
  const lat = await searches(node.url, n);
  stop = true;
  await hostile;
  return { lat, loop: await loopDelayMaxMs(node.url), counts, slowest };
}

async function isolationPhases(): Promise<{ rows: (string | number)[][]; kindRows: (string | number)[][]; meta: Record<string, unknown> }> {
  const node = await startNodeProcess({});
  try {
    await seed(node);
    await searches(node.url, 50); // warm-up
    await settle(node.url);
    await loopDelayMaxMs(node.url);
    log(`phase 1: ${SEARCHES} searches alone`);
    const alone = await searches(node.url, SEARCHES);
    const aloneLoop = await loopDelayMaxMs(node.url);
    log(`phase 2: ${SEARCHES} searches beside the hostile tenant`);
    const mix = await besideHostile(node, SEARCHES);
    const row = (label: string, lat: number[], loop: number, hostileRequests: number) => [label, lat.length, hostileRequests, percentile(lat, 50), percentile(lat, 99), loop];
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const rows = [row('quiet tenant alone', alone, aloneLoop, 0), row('beside the hostile tenant', mix.lat, mix.loop, total(mix.counts))];
    // which request costs the quiet tenant what: each kind alone beside a third of the searches
    const kindRows: (string | number)[][] = [];
    for (const kind of HOSTILE_KINDS) {
      log(`phase 2b: beside '${kind}' only`);
      const b = await besideHostile(node, Math.ceil(SEARCHES / 3), kind);
      kindRows.push([kind, total(b.counts), b.slowest.get(kind) ?? NaN, percentile(b.lat, 50), percentile(b.lat, 99), percentile(b.lat, 99) / percentile(alone, 99), b.loop]);
    }
    return {
      rows,
      kindRows,
      meta: {
        p50_ratio: percentile(mix.lat, 50) / percentile(alone, 50),
        p99_ratio: percentile(mix.lat, 99) / percentile(alone, 99),
        loop_delay_max_ms: mix.loop,
        hostile_requests: Object.fromEntries(mix.counts),
        hostile_slowest_ms: Object.fromEntries(mix.slowest),
      },
    };
  } finally {
    await node.close();
  }
}

async function memoryPhase(): Promise<{ rss: number; peak: number; start: number; seconds: number }> {
  const node = await startNodeProcess({});
  try {
    const pid = node.proc.child.pid!;
    const start = rssMiB(pid).rss;
    const started = performance.now();
    for (let t = 0; t < TENANTS; t++) {
      const tenant = `t${t}`;
      await must(node.call('POST', '/api/v1/resources', { tenant, body: { uri: 'doc://1', content: `tenant ${t} document` } }), 'touch resource');
      await must(node.call('POST', '/api/v1/entities', { tenant, body: { type: 'person', key: `p${t}` } }), 'touch entity');
      await must(node.call('POST', '/api/v1/moments', { tenant, body: { summary: `moment ${t}`, start_time: '2024-01-01T00:00:00Z' } }), 'touch moment');
      if (t % 500 === 499) log(`touched ${t + 1} tenants: RSS ${rssMiB(pid).rss.toFixed(0)} MiB`);
    }
    const { rss, peak } = rssMiB(pid);
    return { rss, peak, start, seconds: (performance.now() - started) / 1000 };
  } finally {
    await node.close();
  }
}

const machine = machineInfo();
const phases = await isolationPhases();
log(`phase 3: touching ${TENANTS} tenants`);
const mem = await memoryPhase();

const m = phases.meta as { p50_ratio: number; p99_ratio: number; loop_delay_max_ms: number };
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
const table = [
  '### Isolation benchmark',
  '',
  `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}; load average ${machine.loadavg[0]} at start. ` +
    `One database node process with the default configuration; the clients run in this process.`,
  '',
  markdownTable(['quiet tenant', 'searches', 'hostile requests', 'p50 ms', 'p99 ms', 'event-loop delay max ms'], phases.rows),
  '',
  'Hostile requests sent during phase 2 (one at a time, each answered before the next), then each kind alone beside',
  `${Math.ceil(SEARCHES / 3)} quiet searches:`,
  '',
  markdownTable(
    ['hostile request', 'sent (alone)', 'slowest answer ms', 'quiet p50 ms', 'quiet p99 ms', 'p99 / alone', 'event-loop delay max ms'],
    phases.kindRows,
  ),
  '',
  markdownTable(
    ['tenants touched (open cap 64)', 'seconds', 'RSS at start MiB', 'RSS after MiB', 'peak RSS MiB'],
    [[TENANTS, mem.seconds, mem.start, mem.rss, mem.peak]],
  ),
  '',
  markdownTable(
    ['metric', 'target', 'measured', 'result'],
    [
      ['quiet p99 beside hostile / alone', `≤ ${TARGETS.p99Ratio}x`, `${m.p99_ratio.toFixed(2)}x`, verdict(m.p99_ratio <= TARGETS.p99Ratio)],
      ['quiet p50 beside hostile / alone', '—', `${m.p50_ratio.toFixed(2)}x`, '—'],
      ['event-loop delay max (hostile phase)', `< ${TARGETS.loopDelayMs} ms`, `${m.loop_delay_max_ms.toFixed(0)} ms`, verdict(m.loop_delay_max_ms < TARGETS.loopDelayMs)],
      [`RSS after ${TENANTS} tenants`, `< ${TARGETS.rssMiB} MiB`, `${mem.rss.toFixed(0)} MiB`, verdict(mem.rss < TARGETS.rssMiB)],
    ],
  ),
].join('\n');

writeResults(args.quick ? 'isolation-quick' : 'isolation', {
  meta: { machine, tenants: TENANTS, searches: SEARCHES, ...phases.meta, memory: mem },
  rows: [...phases.rows, ...phases.kindRows],
  table,
});
