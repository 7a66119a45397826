// Deferred HNSW insertion: committed vectors wait in a bounded pending set that searches scan exactly, a background
// drain moves them into the graph, and a crash or a checkpoint in between neither loses nor duplicates a vector.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../scripts/prng.js';
import type { VectorIndex } from '../shared/index/vector-index.js';
import { putResources } from '../shared/store/resources.js';
import type { TenantStore } from '../shared/store/tenant-store.js';
import { openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';
import { cosine } from './support/vectors.js';

const DIM = 384;
let dir: string;
let cleanup: () => Promise<void>;
let store: TenantStore;

function randomVectors(n: number, seed: number): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: DIM }, () => rand() * 2 - 1));
}

/** Ids of the k most similar vectors by exact cosine. */
function exactTopK(ids: string[], vectors: Float32Array[], q: Float32Array, k: number): string[] {
  return ids
    .map((id, i) => ({ id, s: cosine(vectors[i]!, q) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, k)
    .map((h) => h.id);
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  if (store && !store.isClosed) await store.close();
  await cleanup();
});

describe('pending vectors (in memory)', () => {
  let vi: VectorIndex;
  beforeEach(async () => {
    store = await openStore(dir, 't1', { pendingMax: 1000 });
    vi = store.vectorIndex('resources');
  });

  it('answers searches exactly before the drain and finds every vector in the graph after it', async () => {
    const vectors = randomVectors(100, 1);
    const ids = vectors.map((_, i) => `p${i}`);
    // synchronous calls: the drain (setImmediate) cannot run in between
    ids.forEach((id, i) => vi.applyPut(id, vectors[i]!));
    expect(vi.pendingInserts).toBe(100);
    expect(vi.size).toBe(100);
    const queries = randomVectors(5, 2);
    for (const q of queries) {
      const hits = vi.search(q, 10);
      expect(hits.map((h) => h.id)).toEqual(exactTopK(ids, vectors, q, 10));
      expect(hits[0]!.score).toBeCloseTo(cosine(vectors[ids.indexOf(hits[0]!.id)]!, q), 5);
    }
    const even = vi.search(queries[0]!, 10, undefined, (id) => Number(id.slice(1)) % 2 === 0);
    expect(even).toHaveLength(10);
    expect(even.every((h) => Number(h.id.slice(1)) % 2 === 0)).toBe(true);

    await store.vectorsSettled();
    expect(vi.pendingInserts).toBe(0);
    expect(vi.size).toBe(100);
    for (let i = 0; i < ids.length; i += 7) expect(vi.search(vectors[i]!, 1)[0]!.id).toBe(ids[i]);
  });

  it('never answers with the old vector of a record whose update is pending, and drops deleted pending vectors', async () => {
    const [v1, v2, v3] = randomVectors(3, 3);
    vi.applyPut('a', v1!);
    vi.applyPut('b', v3!);
    vi.flushPending();
    expect(vi.pendingInserts).toBe(0);
    vi.applyPut('a', v2!); // 'a' is in the graph with v1; the update is pending
    expect(vi.size).toBe(2);
    const hits = vi.search(v1!, 2);
    expect(hits.find((h) => h.id === 'a')!.score).toBeCloseTo(cosine(v1!, v2!), 5);
    vi.applyPut('c', v3!);
    vi.applyDelete('c');
    vi.applyDelete('a');
    expect(vi.has('a')).toBe(false);
    expect(vi.has('c')).toBe(false);
    expect(vi.search(v3!, 3).map((h) => h.id)).toEqual(['b']);
    await store.vectorsSettled();
    expect(vi.search(v2!, 3).map((h) => h.id)).toEqual(['b']);
  });

  it('bounds the pending set: a full set makes the writer insert the oldest vectors itself', () => {
    const vectors = randomVectors(1500, 4);
    vectors.forEach((v, i) => vi.applyPut(`p${i}`, v));
    expect(vi.pendingInserts).toBe(1000);
    expect(vi.size).toBe(1500);
    // the oldest 500 went into the graph: their self-queries find them without the pending scan's help
    expect(vi.search(vectors[0]!, 1)[0]!.id).toBe('p0');
  });
});

describe('pending vectors and durability', () => {
  const docs = (n: number, vectors: Float32Array[]) =>
    Array.from({ length: n }, (_, i) => ({ uri: `doc://${i}`, content: `document ${i}`, embedding: Array.from(vectors[i]!) }));

  it('acknowledges a write before HNSW insertion, and a checkpoint taken with vectors pending plus a crash loses none', async () => {
    const vectors = randomVectors(2000, 5);
    store = await openStore(dir, 't1', { pendingMax: 100_000 });
    const vi = store.vectorIndex('resources');
    const ids = await putResources(store, docs(2000, vectors));
    expect(vi.pendingInserts).toBeGreaterThan(0); // acknowledged with vectors still waiting for the graph
    await store.writeLock.run(() => vi.checkpoint());
    await putResources(store, [{ uri: 'doc://late', content: 'after the checkpoint', embedding: Array.from(randomVectors(1, 6)[0]!) }]);
    vi.close();
    await store.closeWithoutCheckpoint(); // no checkpoint on the way out, as after a crash

    store = await openStore(dir, 't1', { pendingMax: 100_000 });
    const reopened = store.vectorIndex('resources');
    expect(reopened.size).toBe(2001);
    for (let i = 0; i < 2000; i += 97) expect(reopened.search(vectors[i]!, 1)[0]!.id).toBe(ids[i]);
  });

  it('closes with vectors pending and reopens with every one of them', async () => {
    const vectors = randomVectors(1500, 7);
    store = await openStore(dir, 't1', { pendingMax: 100_000 });
    const ids = await putResources(store, docs(1500, vectors));
    expect(store.vectorsPending).toBeGreaterThan(0);
    await store.close();
    store = await openStore(dir, 't1', { pendingMax: 100_000 });
    expect(store.vectorIndex('resources').size).toBe(1500);
    expect(store.vectorsPending).toBe(0); // replay at open inserts into the graph directly
    for (let i = 0; i < 1500; i += 61) expect(store.vectorIndex('resources').search(vectors[i]!, 1)[0]!.id).toBe(ids[i]);
  });
});
