// The HNSW wrapper pool: a released graph is shrunk at once and reused by the next graph of its space and dimension,
// at most `max` wait idle, a wrapper left unusable by a failed read is retired, and vector indexes take a graph only
// when they hold vectors and give it back on close.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HNSW_FIXED_BYTES, HnswPool, sharedHnswPool } from '../shared/index/hnsw-pool.js';
import { putResources } from '../shared/store/resources.js';
import type { TenantStore } from '../shared/store/tenant-store.js';
import { openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';

const DIM = 8;
const params = { maxElements: 100, m: 8, efConstruction: 50, allowReplaceDeleted: true };
const vec = (i: number) => Array.from({ length: DIM }, (_, d) => Math.sin(i * 7 + d));

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

describe('HnswPool', () => {
  it('shrinks a released wrapper to one element and hands the same wrapper to the next graph of its space and dimension', () => {
    const pool = new HnswPool(4);
    const a = pool.create('cosine', DIM, params);
    for (let i = 0; i < 50; i++) a.addPoint(vec(i), i);
    pool.release(a);
    expect(a.getMaxElements()).toBe(1);
    expect(a.getCurrentCount()).toBe(0);
    expect(pool.stats).toMatchObject({ idle: 1, created: 1, reused: 0 });
    expect(pool.idleBytes).toBe(HNSW_FIXED_BYTES);

    const other = pool.create('cosine', DIM * 2, params); // another dimension: not that wrapper
    expect(other).not.toBe(a);
    const again = pool.create('cosine', DIM, params);
    expect(again).toBe(a);
    expect(again.getMaxElements()).toBe(100);
    expect(again.getCurrentCount()).toBe(0); // a new, empty graph: nothing of the previous one is left
    again.addPoint(vec(1), 7);
    expect(again.searchKnn(vec(1), 1).neighbors).toEqual([7]);
    expect(pool.stats).toMatchObject({ idle: 0, created: 2, reused: 1 });
  });

  it('keeps at most max wrappers idle and drops the rest after shrinking them', () => {
    const pool = new HnswPool(2);
    const ws = [0, 1, 2].map(() => pool.create('cosine', DIM, params));
    for (const w of ws) pool.release(w);
    expect(pool.stats).toMatchObject({ idle: 2, dropped: 1 });
    expect(ws[2]!.getMaxElements()).toBe(1);
    pool.max = 1;
    expect(pool.stats).toMatchObject({ idle: 1, dropped: 2 });
    pool.max = 0;
    const w = pool.create('cosine', DIM, params);
    pool.release(w);
    expect(pool.stats.idle).toBe(0);
  });

  it('loads a written graph into a reused wrapper, and retires a wrapper whose read of a corrupt file failed', async () => {
    const pool = new HnswPool(4);
    const a = pool.create('cosine', DIM, params);
    for (let i = 0; i < 20; i++) a.addPoint(vec(i), i);
    const file = path.join(dir, 'graph.bin');
    await a.writeIndex(file);
    pool.release(a);

    const loaded = await pool.load('cosine', DIM, file, true);
    expect(loaded).toBe(a);
    expect(loaded.getCurrentCount()).toBe(20);
    expect(loaded.searchKnn(vec(3), 1).neighbors).toEqual([3]);
    pool.release(loaded);

    // a missing file fails before any wrapper is involved
    await expect(pool.load('cosine', DIM, path.join(dir, 'missing.bin'), true)).rejects.toThrow();
    expect(pool.stats).toMatchObject({ idle: 1, retired: 0 });

    // a truncated file: hnswlib deleted the wrapper's old index before failing, so the wrapper must never be used again
    const bytes = await fs.readFile(file);
    await fs.writeFile(file, bytes.subarray(0, bytes.length - 100));
    await expect(pool.load('cosine', DIM, file, true)).rejects.toThrow(/corrupted/);
    expect(pool.stats).toMatchObject({ idle: 0, retired: 1 });
    pool.release(a); // ignored: retired
    expect(pool.stats.idle).toBe(0);
    const fresh = pool.create('cosine', DIM, params);
    expect(fresh).not.toBe(a);
    fresh.addPoint(vec(1), 1);
    expect(fresh.getCurrentCount()).toBe(1);
  });
});

describe('vector indexes and the shared pool', () => {
  let store: TenantStore | undefined;
  afterEach(async () => {
    if (store && !store.isClosed) await store.close();
    store = undefined;
  });

  it('takes a graph only for kinds holding vectors, gives them back on close and reuses them at the next open', async () => {
    const pool = sharedHnswPool();
    pool.clear();
    store = await openStore(dir, 't1', { pendingMax: 0 });
    expect(store.vectorIndex('resources').hasGraph).toBe(false);
    const empty = store.memoryEstimateBytes();
    await putResources(store, [{ uri: 'doc://1', content: 'one graph vector', embedding: Array.from({ length: 384 }, (_, i) => Math.cos(i)) }]);
    expect(store.vectorIndex('resources').hasGraph).toBe(true);
    expect(store.vectorIndex('entities').hasGraph).toBe(false);
    expect(store.vectorIndex('moments').hasGraph).toBe(false);
    // the graph's fixed native cost shows in the estimate
    expect(store.memoryEstimateBytes() - empty).toBeGreaterThanOrEqual(HNSW_FIXED_BYTES);
    expect((await store.info()).memory_estimate_bytes).toBeGreaterThan(HNSW_FIXED_BYTES);

    const before = pool.stats;
    await store.close();
    expect(pool.stats.idle).toBe(before.idle + 1);

    // reopened: the checkpointed graph is read into the pooled wrapper; the empty kinds still take none
    store = await openStore(dir, 't1', { pendingMax: 0 });
    expect(pool.stats.reused).toBe(before.reused + 1);
    expect(pool.stats.created).toBe(before.created);
    expect(store.vectorIndex('entities').hasGraph).toBe(false);
    const hits = store.vectorIndex('resources').search(Array.from({ length: 384 }, (_, i) => Math.cos(i)), 1);
    expect(hits.map((h) => h.score > 0.99)).toEqual([true]);
    await store.close();
    // a closed index refuses searches instead of reading a wrapper another tenant may hold now
    expect(() => store!.vectorIndex('resources').search([1], 1)).toThrow(/closed/);
  });
});
