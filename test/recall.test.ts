// Vector search through the store reaches recall@10 >= 0.95 against brute force on 20k clustered vectors, answered by
// the HNSW graph: every vector has left the pending set (which is scanned exactly) before the queries run, so this
// measures the graph, not the exact scan.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bruteForceTopK, makeDataset, recallAtK } from '../bench/dataset.js';
import { search } from '../shared/search/search.js';
import type { Resource } from '../shared/rem/types.js';
import { putResources } from '../shared/store/resources.js';
import type { TenantStore } from '../shared/store/tenant-store.js';
import { openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';

const N = 20_000;
let tmp: { dir: string; cleanup: () => Promise<void> };
let store: TenantStore;
const ds = makeDataset({ count: N, queries: 100, seed: 1234 });

beforeAll(async () => {
  tmp = await tempDir();
  store = await openStore(tmp.dir, 'recall');
  for (let start = 0; start < N; start += 1000) {
    const batch = [];
    for (let i = start; i < Math.min(N, start + 1000); i++) {
      batch.push({ uri: `recall://${i}`, content: ds.texts[i]!, embedding: Array.from(ds.vectors[i]!) });
    }
    await putResources(store, batch);
  }
  // the background drain moves the last writes (up to PERCOLATE_VECTOR_PENDING_MAX of them) into the graph
  await store.vectorsSettled();
}, 180_000);

afterAll(async () => {
  await store.close();
  await tmp.cleanup();
});

describe('vector recall', () => {
  it(`reaches recall@10 >= 0.95 on ${N} clustered 384-dim vectors with the default ef`, async () => {
    expect(store.count('resources')).toBe(N);
    expect(store.vectorsPending).toBe(0); // the graph answers every query
    let total = 0;
    for (const q of ds.queries) {
      const hits = await search(store, { vector: q, kinds: ['resources'], mode: 'vector', limit: 10 });
      const found = hits.map((h) => Number((h.record as Resource).uri.slice('recall://'.length)));
      total += recallAtK(found, bruteForceTopK(ds.vectors, q, 10));
    }
    const recall = total / ds.queries.length;
    expect(recall).toBeGreaterThanOrEqual(0.95);
  });

  it('keeps recall after a restart (the persisted graph is the same graph)', async () => {
    await store.close();
    store = await openStore(tmp.dir, 'recall');
    expect(store.vectorsPending).toBe(0); // the reopened graph holds every vector; nothing was replayed into the pending set
    let total = 0;
    for (const q of ds.queries.slice(0, 50)) {
      const hits = await search(store, { vector: q, kinds: ['resources'], mode: 'vector', limit: 10 });
      const found = hits.map((h) => Number((h.record as Resource).uri.slice('recall://'.length)));
      total += recallAtK(found, bruteForceTopK(ds.vectors, q, 10));
    }
    expect(total / 50).toBeGreaterThanOrEqual(0.95);
  });
});
