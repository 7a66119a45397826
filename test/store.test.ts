// The tenant store in-process: upserts, merges, deletes, filters, persistence of records and indexes.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Embedder } from '../shared/embed/embedder.js';
import { HashEmbedder } from '../shared/embed/hash-embedder.js';
import { search } from '../shared/search/search.js';
import { entityId } from '../shared/rem/ids.js';
import type { Entity, Resource } from '../shared/rem/types.js';
import { deleteEntity, fuzzyEntities, lookupEntities, neighbors, putEntities } from '../shared/store/entities.js';
import { listMoments, putMoments } from '../shared/store/moments.js';
import { deleteResource, listResources, putResources } from '../shared/store/resources.js';
import { TenantManager } from '../shared/store/tenant-manager.js';
import type { TenantStore } from '../shared/store/tenant-store.js';
import { managerOptions, openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

let dir: string;
let cleanup: () => Promise<void>;
let store: TenantStore;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  store = await openStore(dir);
});
afterEach(async () => {
  if (!store.isClosed) await store.close();
  await cleanup();
});

const docs = [
  { uri: 'doc://a', content: 'NATS JetStream replicates writes between database nodes' },
  { uri: 'doc://b', content: 'HNSW graphs answer approximate nearest neighbour queries quickly', metadata: { lang: 'en', team: 'search' } },
  { uri: 'doc://b', chunk_ordinal: 1, content: 'BM25 ranks documents by term frequency and rarity', metadata: { lang: 'en' } },
  { uri: 'other://c', content: 'Kubernetes StatefulSets keep a stable identity per pod', metadata: { lang: 'de' } },
];

describe('resources', () => {
  it('upserts idempotently: writing the same uri and ordinal twice keeps one record with the latest content', async () => {
    const [id1] = await putResources(store, [{ uri: 'doc://x', content: 'first version' }]);
    const [id2] = await putResources(store, [{ uri: 'doc://x', content: 'second version' }]);
    expect(id2).toBe(id1);
    expect(store.count('resources')).toBe(1);
    expect((await store.get<Resource>('resources', id1!))!.content).toBe('second version');
    const hits = await search(store, { query: 'first', kinds: ['resources'], mode: 'keyword', limit: 5 });
    expect(hits).toHaveLength(0);
  });

  it('never serves a cached record after it was replaced or deleted', async () => {
    const [id] = await putResources(store, [{ uri: 'doc://c', content: 'v1' }]);
    expect((await store.get<Resource>('resources', id!))!.content).toBe('v1'); // now cached
    await putResources(store, [{ uri: 'doc://c', content: 'v2' }]);
    expect((await store.get<Resource>('resources', id!))!.content).toBe('v2');
    await deleteResource(store, id!);
    expect(await store.get<Resource>('resources', id!)).toBeUndefined();
  });

  it('finds documents by keyword, vector and hybrid search', async () => {
    await putResources(store, docs);
    for (const mode of ['keyword', 'vector', 'hybrid'] as const) {
      const hits = await search(store, { query: 'jetstream replicates writes', kinds: ['resources'], mode, limit: 2 });
      expect((hits[0]!.record as Resource).uri, mode).toBe('doc://a');
    }
  });

  it('honours deletes in every search mode and in listings', async () => {
    const ids = await putResources(store, docs);
    expect(await deleteResource(store, ids[0]!)).toBe(true);
    expect(await deleteResource(store, ids[0]!)).toBe(false);
    for (const mode of ['keyword', 'vector', 'hybrid'] as const) {
      const hits = await search(store, { query: 'jetstream replicates writes', kinds: ['resources'], mode, limit: 10 });
      expect(hits.map((h) => h.id), mode).not.toContain(ids[0]);
    }
    const page = await listResources(store, { limit: 10 });
    expect(page.items.map((r) => r.id)).not.toContain(ids[0]);
    expect(store.count('resources')).toBe(3);
  });

  it('filters by uri prefix, metadata equality and time range', async () => {
    await putResources(store, docs);
    const byPrefix = await search(store, { query: 'pod identity graphs', kinds: ['resources'], mode: 'hybrid', limit: 10, filters: { uri_prefix: 'doc://b' } });
    expect(byPrefix.length).toBe(2);
    expect(byPrefix.every((h) => (h.record as Resource).uri === 'doc://b')).toBe(true);
    const byMeta = await search(store, { query: 'documents graphs pods', kinds: ['resources'], mode: 'vector', limit: 10, filters: { metadata: { lang: 'en' } } });
    expect(byMeta.map((h) => (h.record as Resource).metadata.lang)).toEqual(['en', 'en']);
    const future = await search(store, { query: 'graphs', kinds: ['resources'], mode: 'keyword', limit: 10, filters: { from: '2999-01-01T00:00:00Z' } });
    expect(future).toHaveLength(0);
  });

  it('lists resources in uri order with cursor pagination and a uri prefix', async () => {
    await putResources(store, docs);
    const first = await listResources(store, { limit: 2 });
    expect(first.items.map((r) => [r.uri, r.chunk_ordinal])).toEqual([['doc://a', 0], ['doc://b', 0]]);
    const second = await listResources(store, { limit: 2, cursor: first.next_cursor! });
    expect(second.items.map((r) => [r.uri, r.chunk_ordinal])).toEqual([['doc://b', 1], ['other://c', 0]]);
    expect(second.next_cursor).toBeNull();
    const prefixed = await listResources(store, { limit: 10, uriPrefix: 'other://' });
    expect(prefixed.items.map((r) => r.uri)).toEqual(['other://c']);
  });

  it('lists and fuzzy-matches keys that start with characters outside the basic plane', async () => {
    await putResources(store, [{ uri: '🦀://crab', content: 'rust' }, { uri: 'a://plain', content: 'plain' }]);
    const page = await listResources(store, { limit: 10 });
    expect(page.items.map((r) => r.uri)).toEqual(['a://plain', '🦀://crab']);
    await putEntities(store, [{ type: 'emoji', key: '🦀 ferris' }]);
    expect((await fuzzyEntities(store, '🦀 ferris', { limit: 5 })).hits[0]?.match).toBe('exact');
  });

  it('rejects an embedding of the wrong dimension', async () => {
    await expect(putResources(store, [{ uri: 'u', content: 'c', embedding: [1, 2, 3] }])).rejects.toMatchObject({ code: 'invalid_embedding' });
  });
});

describe('entities', () => {
  it('merges properties field by field, a null removing the field, and unions aliases', async () => {
    const [id] = await putEntities(store, [{ type: 'person', key: 'Ada Lovelace', properties: { born: 1815, field: 'maths' } }]);
    await putEntities(store, [{ type: 'Person', key: 'ada  lovelace', properties: { field: null, title: 'Countess' }, aliases: ['Ada King'] }]);
    const e = (await store.get<Entity>('entities', id!))!;
    expect(e.properties).toEqual({ born: 1815, title: 'Countess' });
    expect(e.aliases).toEqual(['Ada King']);
    expect(e.key).toBe('ada  lovelace'); // the display spelling is a last-writer-wins register like every field
    expect(store.count('entities')).toBe(1);
  });

  it('adds edges by (rel, to), removes them with edges_remove, and indexes them in both directions', async () => {
    const [ada] = await putEntities(store, [
      { type: 'person', key: 'ada', edges: [{ rel: 'knows', to: { type: 'person', key: 'charles' } }, { rel: 'wrote', to: { type: 'doc', key: 'notes' } }] },
    ]);
    const charles = entityId('person', 'charles');
    await putEntities(store, [{ type: 'person', key: 'charles' }, { type: 'doc', key: 'notes' }]);
    await putEntities(store, [{ type: 'person', key: 'ada', edges: [{ rel: 'knows', to: charles, weight: 0.5 }] }]);
    let e = (await store.get<Entity>('entities', ada!))!;
    expect(e.edges.map((x) => [x.rel, x.to, x.weight])).toEqual([
      ['knows', charles, 0.5],
      ['wrote', entityId('doc', 'notes')],
    ].map((x) => (x.length === 2 ? [...x, 1] : x)));
    const incoming = await neighbors(store, charles, { depth: 1, direction: 'in' });
    expect(incoming.nodes.map((n) => n.key).sort()).toEqual(['ada', 'charles']);
    expect(incoming.edges).toEqual([{ from: ada, rel: 'knows', to: charles, weight: 0.5, properties: {} }]);

    await putEntities(store, [{ type: 'person', key: 'ada', edges_remove: [{ rel: 'knows', to: { type: 'person', key: 'charles' } }] }]);
    e = (await store.get<Entity>('entities', ada!))!;
    expect(e.edges.map((x) => x.rel)).toEqual(['wrote']);
    expect((await neighbors(store, charles, { depth: 1, direction: 'in' })).edges).toEqual([]);
  });

  it('traverses breadth-first up to the depth and stops at the node bound', async () => {
    // a chain a -> b -> c -> d
    await putEntities(store, ['a', 'b', 'c'].map((k, i) => ({ type: 'n', key: k, edges: [{ rel: 'next', to: { type: 'n', key: 'abcd'[i + 1]! } }] })));
    await putEntities(store, [{ type: 'n', key: 'd' }]);
    const two = await neighbors(store, entityId('n', 'a'), { depth: 2, direction: 'out' });
    expect(two.nodes.map((n) => [n.key, n.depth])).toEqual([['a', 0], ['b', 1], ['c', 2]]);
    const bounded = await neighbors(store, entityId('n', 'a'), { depth: 5, direction: 'out', nodesMax: 2 });
    expect(bounded.nodes).toHaveLength(2);
    expect(bounded.truncated).toBe(true);
  });

  it('looks up by natural key case- and space-insensitively, with or without the type', async () => {
    await putEntities(store, [{ type: 'person', key: 'Grace Hopper' }, { type: 'ship', key: 'grace hopper' }]);
    expect((await lookupEntities(store, ' GRACE   hopper')).map((e) => e.type).sort()).toEqual(['person', 'ship']);
    expect((await lookupEntities(store, 'grace hopper', 'Ship')).map((e) => e.type)).toEqual(['ship']);
    expect(await lookupEntities(store, 'nobody')).toEqual([]);
  });

  it('fuzzy-matches exact first, then prefixes, then near spellings', async () => {
    await putEntities(store, [
      { type: 'person', key: 'marie curie', aliases: ['Madame Curie'] },
      { type: 'person', key: 'marie antoinette' },
      { type: 'person', key: 'pierre curie' },
    ]);
    const exact = await fuzzyEntities(store, 'Marie Curie', { limit: 5 });
    expect(exact.hits[0]).toMatchObject({ match: 'exact', score: 1 });
    expect(exact.hits[0]!.entity.key).toBe('marie curie');
    const prefix = await fuzzyEntities(store, 'marie', { limit: 5 });
    expect(prefix.hits.slice(0, 2).map((h) => h.match)).toEqual(['prefix', 'prefix']);
    const typo = await fuzzyEntities(store, 'pierre curei', { limit: 5 });
    expect(typo.hits[0]!.entity.key).toBe('pierre curie');
    expect(typo.hits[0]!.match).toBe('fuzzy');
  });

  it('removes a deleted entity from lookups, search and its outgoing reverse edges', async () => {
    const [ada] = await putEntities(store, [{ type: 'person', key: 'ada', edges: [{ rel: 'knows', to: { type: 'person', key: 'bob' } }] }]);
    await putEntities(store, [{ type: 'person', key: 'bob' }]);
    expect(await deleteEntity(store, ada!)).toBe(true);
    expect(await lookupEntities(store, 'ada')).toEqual([]);
    expect((await neighbors(store, entityId('person', 'bob'), { depth: 1, direction: 'in' })).edges).toEqual([]);
    const hits = await search(store, { query: 'ada', kinds: ['entities'], mode: 'hybrid', limit: 5 });
    expect(hits.map((h) => h.id)).not.toContain(ada);
  });
});

describe('group commit', () => {
  it('commits concurrent writes together, and one failing write does not fail the others', async () => {
    // a real schema makes one of the concurrent writes invalid
    await store.schemas.put('t', { schema: { type: 'object', properties: { n: { type: 'integer' } } } });
    const results = await Promise.allSettled([
      putEntities(store, [{ type: 't', key: 'good1' }]),
      putEntities(store, [{ type: 't', key: 'bad', properties: { n: 'not a number' } }]),
      putResources(store, [{ uri: 'doc://g', content: 'grouped' }]),
      putEntities(store, [{ type: 't', key: 'good2' }]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'schema_violation' });
    expect((await lookupEntities(store, 'good1')).length + (await lookupEntities(store, 'good2')).length).toBe(2);
    expect(await lookupEntities(store, 'bad')).toEqual([]);
    expect(store.count('resources')).toBe(1);
    await store.schemas.delete('t');
  });
});

describe('disk quota', () => {
  it('refuses every write of a burst once the tenant holds more bytes than its quota, measuring the disk once for all of them', async () => {
    await putResources(store, [{ uri: 'doc://first', content: 'some words to put bytes on disk' }]);
    const bytes = await store.sizeOnDiskBytes();
    expect(bytes).toBeGreaterThan(0);
    // the cached figure goes stale; the burst then arrives while one walk of the directory is in progress
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60_000);
    const readdir = vi.spyOn(fs, 'readdir');
    try {
      const quota = { recordsMax: 1000, diskBytesMax: bytes };
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => putResources(store, [{ uri: `doc://burst/${i}`, content: 'refused' }], { quota })));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'quota_exceeded', details: { quota: 'disk_bytes', limit: bytes } });
      }
      const walks = readdir.mock.calls.filter(([d]) => d === store.dir).length;
      expect(walks, 'walks of the tenant directory for 20 concurrent writes').toBe(1);
    } finally {
      readdir.mockRestore();
      vi.useRealTimers();
    }
    expect(store.count('resources')).toBe(1);
    // under the quota the same write goes through
    await putResources(store, [{ uri: 'doc://under', content: 'accepted' }], { quota: { recordsMax: 1000, diskBytesMax: bytes * 100 } });
    expect(store.count('resources')).toBe(2);
  });
});

describe('moments', () => {
  it('lists newest first with time, type and tag filters and a cursor', async () => {
    await putMoments(store, [
      { summary: 'kickoff', start_time: '2024-01-01T09:00:00Z', moment_type: 'meeting', tags: ['q1'] },
      { summary: 'review', start_time: '2024-02-01T09:00:00Z', moment_type: 'meeting' },
      { summary: 'launch', start_time: '2024-03-01T09:00:00Z', moment_type: 'release', tags: ['q1'] },
    ]);
    const page1 = await listMoments(store, { limit: 2 });
    expect(page1.items.map((m) => m.summary)).toEqual(['launch', 'review']);
    const page2 = await listMoments(store, { limit: 2, cursor: page1.next_cursor! });
    expect(page2.items.map((m) => m.summary)).toEqual(['kickoff']);
    expect(page2.next_cursor).toBeNull();
    const meetings = await listMoments(store, { limit: 10, type: 'meeting' });
    expect(meetings.items.map((m) => m.summary)).toEqual(['review', 'kickoff']);
    const q1 = await listMoments(store, { limit: 10, tag: 'q1', fromMs: Date.parse('2024-02-15T00:00:00Z') });
    expect(q1.items.map((m) => m.summary)).toEqual(['launch']);
  });

  it('rejects an end time before the start time', async () => {
    await expect(
      putMoments(store, [{ summary: 's', start_time: '2024-01-02T00:00:00Z', end_time: '2024-01-01T00:00:00Z' }]),
    ).rejects.toMatchObject({ code: 'invalid_request' });
  });
});

describe('persistence', () => {
  async function topUris(s: TenantStore, query: string) {
    const hits = await search(s, { query, kinds: ['resources'], mode: 'vector', limit: 3 });
    return hits.map((h) => (h.record as Resource).uri + '#' + (h.record as Resource).chunk_ordinal);
  }

  it('keeps records and search results across a restart', async () => {
    await putResources(store, docs);
    const before = await topUris(store, 'nearest neighbour graphs');
    await store.close();
    store = await openStore(dir);
    expect(store.count('resources')).toBe(4);
    expect(await topUris(store, 'nearest neighbour graphs')).toEqual(before);
  });

  it('rebuilds the vector index from the store when the checkpoint is missing', async () => {
    await putResources(store, docs);
    const before = await topUris(store, 'term frequency rarity');
    await store.close();
    for (const name of await fs.readdir(path.join(dir, 'tenants', 't1'))) {
      if (name.startsWith('vidx-')) await fs.rm(path.join(dir, 'tenants', 't1', name), { recursive: true });
    }
    store = await openStore(dir);
    expect(store.vectorIndex('resources').size).toBe(4);
    expect(await topUris(store, 'term frequency rarity')).toEqual(before);
  });

  it('replays writes and deletes logged after the last checkpoint when the process stopped without one', async () => {
    const ids = await putResources(store, docs);
    await store.close(); // checkpoint covers the first four
    store = await openStore(dir);
    await putResources(store, [{ uri: 'doc://late', content: 'written after the checkpoint about zebras' }]);
    await deleteResource(store, ids[1]!);
    await store.closeWithoutCheckpoint(); // the database closes but no checkpoint is written, as after a crash
    store = await openStore(dir);
    expect(store.vectorIndex('resources').size).toBe(4);
    expect(store.vectorIndex('resources').has(ids[1]!)).toBe(false);
    expect((await topUris(store, 'zebras'))[0]).toBe('doc://late#0');
  });

  it('checkpointVectors leaves nothing to replay: a copy of the files opens with every vector in its graph', async () => {
    await putResources(store, docs);
    expect(store.vectorIndex('resources').pendingOps).toBeGreaterThan(0);
    await store.checkpointVectors(); // what an offload does before its snapshot
    expect(store.vectorIndex('resources').pendingOps).toBe(0);
    // a crash right after (as a snapshot's copy of the files would be): nothing logged after the checkpoint
    await store.closeWithoutCheckpoint();
    store = await openStore(dir);
    expect(store.vectorIndex('resources').pendingOps).toBe(0);
    expect(store.vectorIndex('resources').size).toBe(4);
    expect((await topUris(store, 'term frequency rarity'))[0]).toBe('doc://b#1');
  });

  it('refuses to open a tenant with a different embedder than it was written with', async () => {
    await putResources(store, docs.slice(0, 1));
    await store.close();
    const other: Embedder = { id: 'other-embedder', dimension: 384, embed: async (t) => t.map(() => new Float32Array(384)) };
    await expect(openStore(dir, 't1', { embedder: other })).rejects.toMatchObject({ code: 'embedder_mismatch' });
    store = await openStore(dir, 't1', { embedder: new HashEmbedder(384) });
  });
});

describe('tenant manager', () => {
  it('keeps at most openMax stores open, closing the least recently used, and reopens on demand', async () => {
    await store.close();
    const tm = new TenantManager(managerOptions(dir, { openMax: 2 }));
    const closed: string[] = [];
    tm.onLifecycle = (tenant, event) => void (event === 'close' && closed.push(tenant));
    for (const t of ['a', 'b', 'c']) await tm.use(t, true, (s) => putResources(s, [{ uri: `doc://${t}`, content: `tenant ${t}` }]));
    expect(tm.openCount).toBeLessThanOrEqual(2);
    // the least recently used store (a) closes in the background once c opened
    await waitFor('the eviction of tenant a to finish', async () => closed.length > 0, 10_000, 5);
    expect(closed).toEqual(['a']);
    expect(tm.openCount).toBe(2);
    const count = await tm.use('a', false, async (s) => s.count('resources'));
    expect(count).toBe(1);
    expect(tm.activeCount()).toBe(3);
    await tm.close();
  });

  it('does not create a tenant on read', async () => {
    const tm = new TenantManager(managerOptions(dir));
    await expect(tm.use('ghost', false, async () => 1)).rejects.toMatchObject({ code: 'tenant_not_found' });
    await expect(fs.access(path.join(dir, 'tenants', 'ghost', 'db'))).rejects.toThrow();
    await tm.close();
  });
});
