// HNSW graphs on demand: a store that only replicates a tenant logs the vectors of replicated puts without inserting
// them (no HNSW work on the apply path), moves them to the graph at low priority once puts pause, and all at once
// when the tenant is served here; searches are exact meanwhile, and restarts and updates never leave a stale vector.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../scripts/prng.js';
import type { Op } from '../shared/rem/ops.js';
import { resourceId } from '../shared/rem/ids.js';
import { drainRestMs } from '../shared/index/write-activity.js';
import { search } from '../shared/search/search.js';
import type { TenantStore } from '../shared/store/tenant-store.js';
import { docsOp, hlcAt } from './support/ops.js';
import { openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';
import { cosine } from './support/vectors.js';
import { waitFor } from './support/wait.js';

const DIM = 384;
let dir: string;
let cleanup: () => Promise<void>;
let store: TenantStore | undefined;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  if (store && !store.isClosed) await store.close();
  store = undefined;
  await cleanup();
});

function randomVectors(n: number, seed: number): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: DIM }, () => rand() * 2 - 1));
}

let wall = Date.now() - 60_000;
/** One replicated op putting resources doc://<i> with the given vectors, as peer `p` publishes them. */
function putOp(items: { i: number; v: Float32Array }[]): Op {
  return docsOp('t1', 'p', hlcAt(wall++, 'p'), items.map(({ i, v }) => ({ i, content: `document ${i}`, vector: v })));
}

async function vectorTop(s: TenantStore, q: Float32Array, k: number): Promise<{ id: string; score: number | null }[]> {
  const hits = await search(s, { vector: q, kinds: ['resources'], mode: 'vector', limit: k });
  return hits.map((h) => ({ id: h.id, score: h.score }));
}

function exactTop(vectors: Float32Array[], q: Float32Array, k: number): string[] {
  return vectors
    .map((v, i) => ({ id: resourceId(`doc://${i}`, 0), s: cosine(v, q) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, k)
    .map((h) => h.id);
}

describe('the background drain\'s share of a core', () => {
  it('rests after each slice so that inserting is the given share of the time', () => {
    expect(drainRestMs(3, 100)).toBe(0);
    expect(drainRestMs(3, 50)).toBe(3);
    expect(drainRestMs(2, 20)).toBe(8);
    expect(drainRestMs(3, 0)).toBe(297); // bounded below by 1 %
  });
});

describe('HNSW graphs on demand', () => {
  it('applies replicated puts without touching the graph, then a search serves them exactly', async () => {
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 60_000 });
    const vectors = randomVectors(300, 1);
    for (let b = 0; b < 300; b += 50) await store.applyReplicated([putOp(vectors.slice(b, b + 50).map((v, j) => ({ i: b + j, v })))]);
    const vi = store.vectorIndex('resources');
    expect(vi.hasGraph).toBe(false); // not one insertion, not even a graph object
    expect(vi.pendingInserts).toBe(0); // and no vector kept in memory
    expect(store.vectorsBacklog).toBe(300);
    const queries = randomVectors(5, 2);
    for (const q of queries) {
      // the first search moves the backlog into the pending set, which is scanned exactly
      const hits = await vectorTop(store, q, 10);
      expect(hits.map((h) => h.id)).toEqual(exactTop(vectors, q, 10));
    }
    expect(store.vectorsBacklog).toBe(0);
    expect(vi.isLazy).toBe(false);
    await store.vectorsSettled();
    expect(vi.pendingInserts).toBe(0);
    expect(vi.size).toBe(300);
    // the graph (not the pending scan) now answers, with HNSW's recall
    let found = 0;
    for (const q of queries) {
      const want = new Set(exactTop(vectors, q, 10));
      found += (await vectorTop(store, q, 10)).filter((h) => want.has(h.id)).length;
    }
    expect(found / (queries.length * 10)).toBeGreaterThanOrEqual(0.95);
  });

  it.each([100, 20])('brings the graph up to date at low priority once replicated puts pause, without a search (drain at %i %% of a core)', async (drainCpuPercent) => {
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 20, pendingMax: 64, drainCpuPercent });
    const vectors = randomVectors(200, 3);
    await store.applyReplicated([putOp(vectors.map((v, i) => ({ i, v })))]);
    const vi = store.vectorIndex('resources');
    expect(vi.pendingInserts).toBe(0);
    // moved a pending set's worth (64) at a time while idle, and inserted by the drain
    await waitFor('the backlog to reach the graph', async () => store!.vectorsBacklog === 0 && vi.pendingInserts === 0 && vi.size === 200);
    expect(vi.hasGraph).toBe(true);
    expect(vi.isLazy).toBe(true); // still not served here: later puts go to the backlog again
    await store.applyReplicated([putOp([{ i: 500, v: randomVectors(1, 4)[0]! }])]);
    expect(store.vectorsBacklog).toBe(1);
  });

  it('closing a store while its drain rests leaves the process\'s setImmediate working', async () => {
    // at 1 % of a core the drain rests about 100x as long as each slice works: a close lands in a rest
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 20, pendingMax: 512, drainCpuPercent: 1 });
    const vectors = randomVectors(400, 9);
    await store.applyReplicated([putOp(vectors.map((v, i) => ({ i, v })))]);
    const vi = store.vectorIndex('resources');
    await waitFor('the drain to have inserted a slice', async () => vi.size > 0 && vi.pendingInserts > 0);
    await store.close();
    // a cleared rest must not take an immediate's place in the event loop's count (the loop would then block in
    // its poll phase with this immediate queued, until some timer fired)
    let guard: NodeJS.Timeout | undefined;
    const first = await Promise.race([
      new Promise<string>((resolve) => setImmediate(() => resolve('immediate'))),
      new Promise<string>((resolve) => (guard = setTimeout(() => resolve('timer'), 2000))),
    ]);
    clearTimeout(guard);
    expect(first).toBe('immediate');
  });

  it('never answers an updated or deleted record by its old graph vector, across a restart', async () => {
    const [v1, v2, other] = randomVectors(3, 5);
    // the graph holds v1 for doc://0 in a checkpoint
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 60_000 });
    await store.applyReplicated([putOp([{ i: 0, v: v1! }, { i: 1, v: other! }])]);
    await store.vectorsSettled();
    await store.close();
    // reopened as a replica: an update to v2 arrives and goes to the backlog
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 60_000 });
    expect(store.vectorIndex('resources').size).toBe(2);
    await store.applyReplicated([putOp([{ i: 0, v: v2! }])]);
    // crash: no checkpoint; the log holds the update
    await store.closeWithoutCheckpoint();
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 60_000 });
    expect(store.vectorsBacklog).toBeGreaterThan(0);
    const hit = (await vectorTop(store, v1!, 2)).find((h) => h.id === resourceId('doc://0', 0))!;
    expect(hit.score).toBeCloseTo(cosine(v1!, v2!), 4); // the new vector, not a perfect match on the old one
    // a replicated delete removes it from every path
    const del = hlcAt(wall++, 'p');
    await store.applyReplicated([{ v: 1, op_id: `${del}#0`, tenant: 't1', node: 'p', hlc: del, mutations: [{ type: 'delete', kind: 'resources', id: resourceId('doc://0', 0) }] }]);
    await store.vectorsSettled();
    expect((await vectorTop(store, v2!, 2)).map((h) => h.id)).toEqual([resourceId('doc://1', 0)]);
  });

  it('a replica restarted with a backlog and no graph keeps the backlog without reading it, and serves it exactly', async () => {
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 60_000 });
    const vectors = randomVectors(120, 9);
    for (let b = 0; b < 120; b += 40) await store.applyReplicated([putOp(vectors.slice(b, b + 40).map((v, j) => ({ i: b + j, v })))]);
    // doc://0 updated and doc://1 deleted while still in the backlog
    vectors[0] = randomVectors(1, 10)[0]!;
    await store.applyReplicated([putOp([{ i: 0, v: vectors[0] }])]);
    const del = hlcAt(wall++, 'p');
    await store.applyReplicated([{ v: 1, op_id: `${del}#0`, tenant: 't1', node: 'p', hlc: del, mutations: [{ type: 'delete', kind: 'resources', id: resourceId('doc://1', 0) }] }]);
    await store.close();
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 60_000 });
    const vi = store.vectorIndex('resources');
    expect(vi.hasGraph).toBe(false);
    expect(store.vectorsBacklog).toBe(122); // the log's entries after the (empty) checkpoint: an estimate that counts the update and the delete
    const live = vectors.map((v, i) => ({ v, i })).filter(({ i }) => i !== 1);
    for (const q of randomVectors(3, 11)) {
      const exact = live.map(({ v, i }) => ({ id: resourceId(`doc://${i}`, 0), s: cosine(v, q) })).sort((a, b) => b.s - a.s).slice(0, 10).map((h) => h.id);
      expect((await vectorTop(store, q, 10)).map((h) => h.id)).toEqual(exact);
    }
    await store.vectorsSettled();
    expect(vi.size).toBe(119);
    expect(store.vectorsBacklog).toBe(0);
  });

  it('local writes stay in the backlog too, until a search; from then on puts are inserted as they commit', async () => {
    store = await openStore(dir, 't1', { onDemand: true, idleMs: 60_000 });
    const vectors = randomVectors(21, 6);
    await store.applyReplicated([putOp(vectors.slice(0, 20).map((v, i) => ({ i, v })))]);
    const { putResources } = await import('../shared/store/resources.js');
    await putResources(store, [{ uri: 'doc://local', content: 'written here', embedding: Array.from(vectors[20]!) }]);
    expect(store.vectorsBacklog).toBe(21);
    expect(store.vectorIndex('resources').hasGraph).toBe(false);
    // read-your-writes: the search right after the write finds it (exactly, from the moved backlog)
    const top = await vectorTop(store, vectors[20]!, 1);
    expect(top[0]!.score).toBeCloseTo(1, 5);
    expect(store.vectorIndex('resources').isLazy).toBe(false);
    await putResources(store, [{ uri: 'doc://later', content: 'written after', embedding: Array.from(randomVectors(1, 8)[0]!) }]);
    expect(store.vectorsBacklog).toBe(0);
    await store.vectorsSettled();
    expect(store.vectorIndex('resources').size).toBe(22);
  });
});
