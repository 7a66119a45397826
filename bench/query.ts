// Query benchmark: the REM dialect in-process (parse + plan + execute against a tenant store), and chat retrieval.
//
//   npm run bench:query              # 100k entities for SELECT, a 20k-node graph with 100k edges (several minutes)
//   npm run bench:query -- --quick   # 10k entities, 2k nodes / 10k edges (seconds; what CI runs)
//   npm run bench:query -- --count 50000 --queries 500
//
// Sections: LOOKUP by key; TRAVERSE 3 hops out on a random graph of out-degree 5; SELECT with an equality on a
// schema-indexed property against the same equality on an unindexed property (and without a type: a full scan);
// chat retrieval (prepareChat: hybrid search, entity lookup and neighbours, budget) and a whole extractive answer.
// Vectors are not what is measured here, so the stores use a light HNSW build (M=8, efConstruction=40).
// Progress goes to stderr; the markdown table goes to stdout and bench/results/query.{json,md} (query-quick with --quick).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { prepareChat } from '../shared/chat/chat.js';
import { ExtractiveProvider } from '../shared/chat/providers/extractive.js';
import { loadChatConfig } from '../shared/config/query-config.js';
import { HashEmbedder } from '../shared/embed/hash-embedder.js';
import { DEFAULT_BOUNDS, runQuery } from '../shared/query/index.js';
import type { EntityInput } from '../shared/rem/types.js';
import { putEntities } from '../shared/store/entities.js';
import { putResources } from '../shared/store/resources.js';
import { DEFAULT_LIMITS, TenantStore } from '../shared/store/tenant-store.js';
import { makeDataset, mulberry32 } from './dataset.js';
import { log, machineInfo, markdownTable, mean, parseArgs, percentile, writeResults, type Cell } from './report.js';

const args = parseArgs();
const N_SELECT = args.count ?? (args.quick ? 10_000 : 100_000);
const GRAPH_NODES = args.quick ? 2_000 : 20_000;
const OUT_DEGREE = 5;
const N_RESOURCES = args.quick ? 2_000 : 10_000;
const Q = args.queries ?? (args.quick ? 300 : 1000);
const Q_SCAN = args.quick ? 10 : 20;
/** Lookups are cheap: more of them make p99 a statement about the engine, not about three unlucky samples. */
const Q_LOOKUP = Math.max(Q, args.quick ? 2000 : 5000);
const CATEGORIES = 1000;
const BATCH = 1000;
const SEED = 20240611;
const TARGETS = { lookupP99Ms: 1, traverseP99Ms: 5, indexedSpeedup: 20 };
const BOUNDS = { ...DEFAULT_BOUNDS, rowsScannedMax: 10_000_000, timeMsMax: 600_000, traversalNodesMax: 100_000 };

async function open(dataDir: string, tenant: string): Promise<TenantStore> {
  return TenantStore.open({
    dataDir,
    tenant,
    embedder: new HashEmbedder(384),
    hnsw: { m: 8, efConstruction: 40, efSearch: 64 },
    vectorCheckpointOps: 10_000_000,
    syncWrites: false,
    limits: { ...DEFAULT_LIMITS, traversalNodesMax: BOUNDS.traversalNodesMax },
    create: true,
  });
}

interface Timing {
  p50: number;
  p99: number;
  mean: number;
  n: number;
}

/** Runs `fn(i)` `n` times after `warmup` untimed runs; returns latency percentiles in ms. */
async function time(n: number, warmup: number, fn: (i: number) => Promise<unknown>): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i + warmup);
    lat[i] = performance.now() - t0;
  }
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), mean: mean(lat), n };
}

/** Compacts the whole database, so timings measure queries and not LevelDB compacting what the ingest wrote. */
async function settle(store: TenantStore): Promise<void> {
  await store.compact();
}

async function ingest(store: TenantStore, total: number, make: (i: number) => EntityInput, label: string): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < total; i += BATCH) {
    await putEntities(store, Array.from({ length: Math.min(BATCH, total - i) }, (_, j) => make(i + j)));
    if ((i / BATCH) % 10 === 9 || i + BATCH >= total) log(`${label}: ${Math.min(total, i + BATCH)}/${total}`);
  }
  const secs = (performance.now() - t0) / 1000;
  await settle(store);
  return secs;
}

async function main(): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'percolate-bench-query-'));
  const rows: Cell[][] = [];
  const meta: Record<string, unknown> = { machine: machineInfo(), n_select: N_SELECT, graph_nodes: GRAPH_NODES, graph_edges: GRAPH_NODES * OUT_DEGREE, resources: N_RESOURCES, queries: Q };
  const row = (name: string, data: string, t: Timing, target: string, ok: boolean | null) =>
    rows.push([name, data, t.n, t.p50, t.p99, t.mean, target, ok === null ? '—' : ok ? 'yes' : 'no']);
  try {
    // ------------------------------------------------------------------------------------------- graph: LOOKUP, TRAVERSE
    const graph = await open(dataDir, 'graph');
    const rand = mulberry32(SEED);
    const graphSecs = await ingest(
      graph,
      GRAPH_NODES,
      (i) => ({
        type: 'node',
        key: `n${i}`,
        name: `Node ${i}`,
        properties: { i },
        edges: Array.from({ length: OUT_DEGREE }, () => ({ rel: 'links', to: { type: 'node', key: `n${Math.floor(rand() * GRAPH_NODES)}` } })),
      }),
      'graph',
    );
    meta.graph_ingest_s = graphSecs;
    const keyOf = (i: number) => `n${(i * 7919) % GRAPH_NODES}`;
    // warm-up passes over the same keys: steady state, with the record cache and LevelDB's block cache warm
    const lookup = await time(Q_LOOKUP, Q_LOOKUP, (i) => runQuery(graph, `LOOKUP '${keyOf(i % Q_LOOKUP)}'`, [], BOUNDS));
    row('LOOKUP (key, any type)', `${GRAPH_NODES} entities`, lookup, `p99 < ${TARGETS.lookupP99Ms} ms`, lookup.p99 < TARGETS.lookupP99Ms);
    const typed = await time(Q_LOOKUP, Q_LOOKUP, (i) => runQuery(graph, `LOOKUP '${keyOf(i % Q_LOOKUP)}' TYPE 'node'`, [], BOUNDS));
    row('LOOKUP (key and type)', `${GRAPH_NODES} entities`, typed, `p99 < ${TARGETS.lookupP99Ms} ms`, typed.p99 < TARGETS.lookupP99Ms);
    let reached = 0;
    const traverse = await time(Q, Q, async (i) => {
      const r = await runQuery(graph, `TRAVERSE FROM '${keyOf(i % Q)}' DEPTH 3 DIRECTION out`, [], BOUNDS);
      reached += r.results!.length;
    });
    meta.traverse_nodes_mean = reached / (2 * Q);
    row('TRAVERSE 3 hops out', `${GRAPH_NODES} nodes, ${GRAPH_NODES * OUT_DEGREE} edges`, traverse, `p99 < ${TARGETS.traverseP99Ms} ms`, traverse.p99 < TARGETS.traverseP99Ms);
    const both = await time(Math.min(Q, 200), 20, (i) => runQuery(graph, `TRAVERSE FROM '${keyOf(i)}' DEPTH 2 DIRECTION both`, [], BOUNDS));
    row('TRAVERSE 2 hops both ways', `${GRAPH_NODES} nodes, ${GRAPH_NODES * OUT_DEGREE} edges`, both, '—', null);
    await graph.close();

    // ---------------------------------------------------------------------------------- SELECT: indexed vs unindexed
    const items = await open(dataDir, 'items');
    meta.items_ingest_s = await ingest(
      items,
      N_SELECT,
      (i) => ({ type: 'item', key: `item-${i}`, properties: { cat: `c${i % CATEGORIES}`, cat_copy: `c${i % CATEGORIES}`, price: (i * 37) % 1000 } }),
      'items',
    );
    const t0 = performance.now();
    const put = await items.schemas.put('item', { schema: { type: 'object' }, indexed_fields: ['cat', 'price'] });
    meta.index_backfill_s = (performance.now() - t0) / 1000;
    meta.index_backfill_entities = put.indexed;
    await settle(items);
    const cat = (i: number) => `c${(i * 131) % CATEGORIES}`;
    const plan = async (q: string) => ((await runQuery(items, `EXPLAIN ${q}`, [], BOUNDS)).plan.access as { access: string; index?: string }).access;
    const qIndexed = "SELECT id FROM entities WHERE type = 'item' AND properties.cat = $1";
    const qTyped = "SELECT id FROM entities WHERE type = 'item' AND properties.cat_copy = $1";
    const qScan = 'SELECT id FROM entities WHERE properties.cat_copy = $1';
    meta.plans = { indexed: await plan(qIndexed.replace('$1', "'c1'")), unindexed: await plan(qTyped.replace('$1', "'c1'")), no_type: await plan(qScan.replace('$1', "'c1'")) };
    const indexed = await time(Math.min(Q, 300), 20, (i) => runQuery(items, qIndexed, [cat(i)], BOUNDS));
    const unindexed = await time(Q_SCAN, 2, (i) => runQuery(items, qTyped, [cat(i)], BOUNDS));
    const scan = await time(Q_SCAN, 2, (i) => runQuery(items, qScan, [cat(i)], BOUNDS));
    const range = await time(Math.min(Q, 300), 20, (i) => runQuery(items, "SELECT id FROM entities WHERE type = 'item' AND properties.price >= $1 AND properties.price < $2", [i % 900, (i % 900) + 10], BOUNDS));
    const speedup = unindexed.p50 / indexed.p50;
    meta.indexed_speedup_p50 = speedup;
    meta.full_scan_speedup_p50 = scan.p50 / indexed.p50;
    const sel = `${N_SELECT} entities, ${N_SELECT / CATEGORIES} matches`;
    row('SELECT = on indexed property (index_eq)', sel, indexed, `≥ ${TARGETS.indexedSpeedup}x faster`, speedup >= TARGETS.indexedSpeedup);
    row('SELECT = on unindexed property (type scan)', sel, unindexed, `${speedup.toFixed(0)}x slower than indexed`, null);
    row('SELECT = without type (full_scan)', sel, scan, `${(scan.p50 / indexed.p50).toFixed(0)}x slower than indexed`, null);
    row('SELECT range on indexed property (index_range)', `${N_SELECT} entities, ~${Math.round(N_SELECT / 100)} matches`, range, '—', null);
    await items.close();

    // ------------------------------------------------------------------------------------------------- chat retrieval
    const mem = await open(dataDir, 'memory');
    const ds = makeDataset({ count: N_RESOURCES, seed: SEED, queries: 0 });
    for (let i = 0; i < N_RESOURCES; i += BATCH) {
      const chunk = ds.texts.slice(i, i + BATCH).map((content, j) => ({ uri: `doc://bench/${i + j}`, content, embedding: Array.from(ds.vectors[i + j]!) }));
      await putResources(mem, chunk);
    }
    await putEntities(mem, Array.from({ length: 500 }, (_, i) => ({ type: 'person', key: `Person ${i}`, edges: [{ rel: 'knows', to: { type: 'person', key: `Person ${(i + 1) % 500}` } }] })));
    await settle(mem);
    log(`memory: ${N_RESOURCES} resources, 500 entities`);
    const chatCfg = loadChatConfig({});
    const question = (i: number) => {
      const words = ds.texts[(i * 31) % N_RESOURCES]!.split(' ').slice(2, 6).join(' ');
      return [{ role: 'user' as const, content: `What do we know about ${words} and Person ${i % 500}?` }];
    };
    const retrieval = await time(Math.min(Q, 200), 10, (i) => prepareChat(mem, question(i), chatCfg, { limit: 8 }));
    row('chat retrieval (prepareChat, limit 8)', `${N_RESOURCES} resources, 500 entities`, retrieval, '—', null);
    const extractive = new ExtractiveProvider();
    const answer = await time(Math.min(Q, 200), 10, async (i) => extractive.complete((await prepareChat(mem, question(i), chatCfg, { limit: 8 })).request));
    row('chat answer (retrieval + extractive)', `${N_RESOURCES} resources, 500 entities`, answer, '—', null);
    await mem.close();
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }

  const m = meta.machine as ReturnType<typeof machineInfo>;
  const table =
    `# Query benchmark\n\n` +
    `In-process (parse + plan + execute, no HTTP), sequential; each row times \`runs\` queries after an untimed warm-up (for LOOKUP and TRAVERSE, a pass over the same keys: warm caches). ` +
    `${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}.\n\n` +
    markdownTable(['query', 'data', 'runs', 'p50 ms', 'p99 ms', 'mean ms', 'target', 'met'], rows) +
    `\n\nIndexed equality vs the same equality on an unindexed property: ${(meta.indexed_speedup_p50 as number).toFixed(1)}x at p50 ` +
    `(${(meta.full_scan_speedup_p50 as number).toFixed(1)}x against a full scan). Building the index for ${meta.index_backfill_entities} existing entities took ` +
    `${(meta.index_backfill_s as number).toFixed(1)} s. A 3-hop traversal reached ${(meta.traverse_nodes_mean as number).toFixed(0)} nodes on average.\n`;
  writeResults(args.quick ? 'query-quick' : 'query', { meta, rows: rows.map((r) => ({ query: r[0], data: r[1], runs: r[2], p50_ms: r[3], p99_ms: r[4], mean_ms: r[5], target: r[6], met: r[7] })), table });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
