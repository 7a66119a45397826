// The store's single write path: entity vectors are embedded before the tenant's write lock is taken (so a slow
// embedder never holds the tenant's other writes), the queue of local writes is bounded, and replicated ops go
// through the same path as local writes.
import { afterEach, describe, expect, it } from 'vitest';
import type { Embedder } from '../shared/embed/embedder.js';
import { HashEmbedder } from '../shared/embed/hash-embedder.js';
import { entityId, resourceId } from '../shared/rem/ids.js';
import type { Entity } from '../shared/rem/types.js';
import { putEntities } from '../shared/store/entities.js';
import { putResources } from '../shared/store/resources.js';
import { DEFAULT_LIMITS, TenantStore } from '../shared/store/tenant-store.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

/** The hash embedder, except that texts containing `slow` wait for `release()`. */
class GatedEmbedder implements Embedder {
  readonly id = 'hash-ngram-v1';
  readonly dimension = 384;
  private readonly inner = new HashEmbedder(384);
  entered = false;
  private open!: () => void;
  private readonly gate = new Promise<void>((r) => (this.open = r));

  release(): void {
    this.open();
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.some((t) => t.includes('slow'))) {
      this.entered = true;
      await this.gate;
    }
    return this.inner.embed(texts);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function open(embedder: Embedder, limits = DEFAULT_LIMITS): Promise<TenantStore> {
  const tmp = await tempDir();
  const store = await TenantStore.open({
    dataDir: tmp.dir,
    tenant: 't',
    embedder,
    hnsw: { m: 16, efConstruction: 100, efSearch: 64 },
    vectorCheckpointOps: 100_000,
    syncWrites: false,
    limits,
    create: true,
  });
  cleanups.push(async () => {
    await store.close();
    await tmp.cleanup();
  });
  return store;
}

const vector = (seed: number) => Array.from({ length: 384 }, (_, i) => Math.sin(i * seed + 1));

describe('the write path', () => {
  it('embeds an entity before taking the write lock: other writes of the tenant commit meanwhile', async () => {
    const embedder = new GatedEmbedder();
    const store = await open(embedder);
    const slow = putEntities(store, [{ type: 'note', key: 'a slow entity', properties: { text: 'slow to embed' } }]);
    await waitFor('the entity write to reach the embedder', async () => embedder.entered, 5_000);
    // a write that needs no embedding commits while the entity's embedding is still running
    const fast = putResources(store, [{ uri: 'doc://fast', content: 'fast', embedding: vector(3) }]);
    try {
      await waitFor('the resource write to commit meanwhile', async () => (await store.get('resources', resourceId('doc://fast', 0))) !== undefined, 5_000);
      expect(await store.get('entities', entityId('note', 'a slow entity'))).toBeUndefined();
    } finally {
      embedder.release();
    }
    await Promise.all([slow, fast]);
    const e = await store.get<Entity>('entities', entityId('note', 'a slow entity'));
    expect(e?.properties).toEqual({ text: 'slow to embed' });
    expect(store.vectorIndex('entities').has(e!.id)).toBe(true);
  });

  it('uses the vector computed ahead only when the merged text is still the same', async () => {
    const store = await open(new HashEmbedder(384));
    await putEntities(store, [{ type: 'person', key: 'ada', properties: { born: 1815 } }]);
    // concurrent writes to one entity: whichever merges second must be embedded from the merged text, not its own
    await Promise.all([
      putEntities(store, [{ type: 'person', key: 'ada', properties: { city: 'London' } }]),
      putEntities(store, [{ type: 'person', key: 'ada', properties: { field: 'mathematics' } }]),
    ]);
    const id = entityId('person', 'ada');
    const e = await store.get<Entity>('entities', id);
    expect(e?.properties).toEqual({ born: 1815, city: 'London', field: 'mathematics' });
    const [expected] = await new HashEmbedder(384).embed([['ada', 'person', 'born 1815', 'city London', 'field mathematics'].join('\n')]);
    const hit = store.vectorIndex('entities').search(expected!, 1)[0]!;
    expect(hit.id).toBe(id);
    expect(hit.score).toBeGreaterThan(0.9999);
  });

  it('refuses local writes beyond writeQueueMax with overloaded instead of queueing them without bound', async () => {
    const store = await open(new HashEmbedder(384), { ...DEFAULT_LIMITS, writeQueueMax: 3 });
    let unblock!: () => void;
    const held = store.writeLock.run(() => new Promise<void>((r) => (unblock = r)));
    const writes = Array.from({ length: 5 }, (_, i) => putResources(store, [{ uri: `doc://${i}`, content: `queued ${i}`, embedding: vector(i + 1) }]));
    const settled = Promise.allSettled(writes);
    await waitFor('three writes queued behind the lock', async () => store.writesWaiting === 3, 5_000);
    unblock();
    await held;
    const results = await settled;
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(2);
    for (const r of refused) expect(r.reason).toMatchObject({ code: 'overloaded' });
    expect(store.count('resources')).toBe(3);
  });

  it('lets another holder of the write lock in between groups: a steady stream of local writes cannot starve it', async () => {
    const store = await open(new HashEmbedder(384));
    let unblock!: () => void;
    const held = store.writeLock.run(() => new Promise<void>((r) => (unblock = r)));
    // three groups' worth of writes queue behind the held lock, then a second holder (a snapshot, a checkpoint) waits
    const total = 3 * 256;
    const writes = Array.from({ length: total }, (_, i) => putResources(store, [{ uri: `doc://${i}`, content: `steady ${i}`, embedding: vector(i + 1) }]));
    await waitFor('the writes queued', async () => store.writesWaiting === total, 5_000);
    let waitingWhenHolderRan = -1;
    const holder = new Promise<void>((r) => setImmediate(r)).then(() => store.writeLock.run(async () => void (waitingWhenHolderRan = store.writesWaiting)));
    await waitFor('the second holder waiting', async () => store.writeLock.waiters >= 2, 5_000);
    unblock();
    await held;
    await holder;
    await Promise.all(writes);
    // it ran after the first group (256 writes), not after the whole queue
    expect(waitingWhenHolderRan).toBe(total - 256);
    expect(store.count('resources')).toBe(total);
  });
});

describe('replication conflicts', () => {
  it('counts replicated writes that lost last-writer-wins, by kind, and never a replay', async () => {
    const { dir, cleanup } = await tempDir();
    const { openStore } = await import('./support/store.js');
    const { hlcAt, resourceOp } = await import('./support/ops.js');
    const store = await openStore(dir, 'c');
    try {
      const base = Date.now() - 10_000;
      const newer = await resourceOp('c', 'a', hlcAt(base + 2, 'a'), 'doc://x', 'from a');
      const older = await resourceOp('c', 'b', hlcAt(base + 1, 'b'), 'doc://x', 'from b');
      expect((await store.applyReplicated([newer])).conflicts).toBeUndefined();
      expect((await store.applyReplicated([newer])).conflicts).toBeUndefined(); // a replay
      expect((await store.applyReplicated([older])).conflicts).toEqual({ resources: 1 });
      const ent = (node: string, ms: number, properties: Record<string, unknown>) => {
        const hlc = hlcAt(ms, node);
        return { v: 1 as const, op_id: `${hlc}#0`, tenant: 'c', node, hlc, mutations: [{ type: 'put' as const, kind: 'entities' as const, id: entityId('person', 'ada'), delta: { type: 'person', key: 'ada', properties } }] };
      };
      await store.applyReplicated([ent('a', base + 5, { city: 'London' })]);
      // an older write of another property is no conflict: both survive
      expect((await store.applyReplicated([ent('b', base + 3, { born: 1815 })])).conflicts).toBeUndefined();
      // an older write of the same property with another value lost
      expect((await store.applyReplicated([ent('b', base + 4, { city: 'Paris' })])).conflicts).toEqual({ entities: 1 });
      expect((await store.get<Entity>('entities', entityId('person', 'ada')))!.properties).toEqual({ city: 'London', born: 1815 });
    } finally {
      await store.close();
      await cleanup();
    }
  });
});
