// Visible failures: every degraded path the engine takes (a vector index rebuilt from the store, a graph object
// retired, a store that fails to open or close, keyword statistics that drifted) reaches the observer, and the API
// service logs and counts it (percolate_engine_degraded_total{event}).
import fs from 'node:fs/promises';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashEmbedder } from '../shared/embed/hash-embedder.js';
import { HnswPool } from '../shared/index/hnsw-pool.js';
import { KeywordIndex } from '../shared/index/keyword-index.js';
import { DEGRADED_EVENTS, loggingObserver, type EngineObserver } from '../shared/rem/observer.js';
import { deleteResource, putResources } from '../shared/store/resources.js';
import { TenantManager } from '../shared/store/tenant-manager.js';
import { DEFAULT_LIMITS, TenantStore } from '../shared/store/tenant-store.js';
import { startNode } from './support/api.js';
import { managerOptions } from './support/store.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

interface Reported {
  level: 'warn' | 'error' | 'degraded';
  event?: string;
  fields: Record<string, unknown>;
  msg: string;
}

/** An observer that records what it is told. */
function recorder(): EngineObserver & { seen: Reported[]; events(name: string): Reported[] } {
  const seen: Reported[] = [];
  return {
    seen,
    events: (name) => seen.filter((r) => r.event === name),
    warn: (fields, msg) => seen.push({ level: 'warn', fields: fields as Record<string, unknown>, msg }),
    error: (fields, msg) => seen.push({ level: 'error', fields: fields as Record<string, unknown>, msg }),
    degraded: (event, fields, msg) => seen.push({ level: 'degraded', event, fields: fields as Record<string, unknown>, msg }),
  };
}

const embedder = new HashEmbedder(384);
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

function open(observer: EngineObserver, tenant = 't1', pendingMax = 0) {
  return TenantStore.open({
    dataDir: dir,
    tenant,
    embedder,
    hnsw: { m: 16, efConstruction: 100, efSearch: 64, pendingMax },
    vectorCheckpointOps: 100_000,
    syncWrites: false,
    limits: DEFAULT_LIMITS,
    create: true,
    observer,
  });
}

const CONTENTS = Array.from({ length: 40 }, (_, i) => `document ${i} about topic${i % 7} and subject${i}`);

/** A tenant with 40 resources, closed (so its vector checkpoint is written); returns the ids and the checkpoint dir. */
async function tenantWithCheckpoint(): Promise<{ ids: string[]; checkpoint: string }> {
  const obs = recorder();
  const store = await open(obs);
  const ids = await putResources(
    store,
    CONTENTS.map((content, i) => ({ uri: `doc://${i}`, content })),
  );
  await store.close();
  expect(obs.seen).toEqual([]); // a healthy write and close report nothing
  const tdir = store.dir;
  const names = (await fs.readdir(tdir)).filter((n) => n.startsWith('vidx-res-') && !n.includes('.tmp-'));
  expect(names).toHaveLength(1);
  return { ids, checkpoint: path.join(tdir, names[0]!) };
}

/** After a rebuild the index still answers: each document's own text finds it first. */
async function expectSearchWorks(store: TenantStore, ids: string[]): Promise<void> {
  const vi = store.vectorIndex('resources');
  expect(vi.size).toBe(ids.length);
  for (const i of [0, 13, 39]) {
    const [q] = await embedder.embed([CONTENTS[i]!]);
    expect(vi.search(q!, 1)[0]!.id).toBe(ids[i]);
  }
}

describe('vector index rebuilds are reported', () => {
  it('reports nothing for a healthy close and reopen with updates, deletes and pending vectors', async () => {
    const obs = recorder();
    let store = await open(obs);
    const ids = await putResources(
      store,
      CONTENTS.map((content, i) => ({ uri: `doc://${i}`, content })),
    );
    await store.close();
    store = await open(obs, 't1', 1000); // deferred insertion: the updates and deletes below may still be pending at close
    await putResources(store, [{ uri: 'doc://3', content: 'an updated third document' }]);
    for (const i of [5, 6, 7]) await deleteResource(store, ids[i]!);
    await store.close();
    store = await open(obs);
    expect(store.vectorIndex('resources').size).toBe(37);
    await store.close();
    expect(obs.seen).toEqual([]);
  });

  it('reports an unreadable label file as vector_index_rebuilt, and search still works', async () => {
    const { ids, checkpoint } = await tenantWithCheckpoint();
    await fs.writeFile(path.join(checkpoint, 'labels.json'), '{"seq": 4, "labels": [[');
    const obs = recorder();
    const store = await open(obs);
    try {
      const rebuilt = obs.events('vector_index_rebuilt');
      expect(rebuilt).toHaveLength(1);
      expect(rebuilt[0]!.fields).toMatchObject({ kind: 'res', dir: store.dir, checkpoint: path.basename(checkpoint), vectors: 40 });
      expect(String(rebuilt[0]!.fields.reason)).toMatch(/label file unreadable/);
      await expectSearchWorks(store, ids);
    } finally {
      await store.close();
    }
  });

  it('reports a truncated graph file, and a label file that disagrees with its graph', async () => {
    const { ids, checkpoint } = await tenantWithCheckpoint();
    const graph = path.join(checkpoint, 'graph.bin');
    await fs.truncate(graph, Math.floor((await fs.stat(graph)).size / 3));
    let obs = recorder();
    let store = await open(obs);
    expect(String(obs.events('vector_index_rebuilt')[0]?.fields.reason)).toMatch(/graph unreadable/);
    await expectSearchWorks(store, ids);
    await store.close(); // writes a fresh checkpoint

    // one label dropped from an otherwise valid checkpoint: the graph's element count no longer matches
    const fresh = (await fs.readdir(store.dir)).find((n) => n.startsWith('vidx-res-') && !n.includes('.tmp-'))!;
    const file = path.join(store.dir, fresh, 'labels.json');
    const labels = JSON.parse(await fs.readFile(file, 'utf8')) as { labels: unknown[] };
    labels.labels.pop();
    await fs.writeFile(file, JSON.stringify(labels));
    obs = recorder();
    store = await open(obs);
    try {
      expect(String(obs.events('vector_index_rebuilt')[0]?.fields.reason)).toMatch(/graph holds 40 elements, the label file 39 vectors/);
      await expectSearchWorks(store, ids);
    } finally {
      await store.close();
    }
  });

  it('reports a checkpoint lost after the log was trimmed, but not a kind that was never checkpointed', async () => {
    const { ids, checkpoint } = await tenantWithCheckpoint();
    await fs.rm(checkpoint, { recursive: true });
    const obs = recorder();
    const store = await open(obs);
    try {
      expect(obs.events('vector_index_rebuilt').map((r) => r.fields.reason)).toEqual(['checkpoint missing (the log was trimmed past it)']);
      await expectSearchWorks(store, ids);
    } finally {
      await store.closeWithoutCheckpoint();
    }
    // no checkpoint yet, the log complete from its first entry: the normal first open, not a degraded one
    const other = recorder();
    const s2 = await open(other, 't2');
    await putResources(s2, [{ uri: 'doc://x', content: 'never checkpointed' }]);
    await s2.closeWithoutCheckpoint();
    const again = recorder();
    const s3 = await open(again, 't2');
    expect(s3.vectorIndex('resources').size).toBe(1);
    await s3.close();
    expect(again.seen).toEqual([]);
  });

  it('reports a failed checkpoint write once, naming the kind and directory, and loses nothing', async () => {
    const obs = recorder();
    const store = await open(obs);
    const ids = await putResources(
      store,
      CONTENTS.map((content, i) => ({ uri: `doc://${i}`, content })),
    );
    // a non-empty directory where the checkpoint is renamed to: the rename fails
    const seq = (store.vectorIndex('resources') as unknown as { seq: number }).seq;
    const blocker = path.join(store.dir, `vidx-res-${String(seq).padStart(16, '0')}`);
    await fs.mkdir(blocker);
    await fs.writeFile(path.join(blocker, 'in-the-way'), 'x');
    await store.close();
    const failed = obs.seen.filter((r) => r.level === 'degraded');
    expect(failed.map((r) => r.event)).toEqual(['checkpoint_failed']);
    expect(String(failed[0]!.fields.err)).toContain(`vector index 'res' checkpoint in ${store.dir} failed`);

    await fs.rm(blocker, { recursive: true });
    const reopened = recorder();
    const s2 = await open(reopened);
    try {
      await expectSearchWorks(s2, ids);
    } finally {
      await s2.close();
    }
  });
});

describe('the HNSW pool reports retired graph objects', () => {
  it('reports hnsw_wrapper_retired when a read of a corrupt file leaves a wrapper unusable', async () => {
    const obs = recorder();
    const pool = new HnswPool(4, obs);
    const params = { maxElements: 10, m: 8, efConstruction: 50 };
    const w = pool.create('cosine', 4, params);
    w.addPoint([1, 0, 0, 0], 0);
    const file = path.join(dir, 'graph.bin');
    await w.writeIndex(file);
    pool.release(w);
    await fs.truncate(file, 20);
    await expect(pool.load('cosine', 4, file, true)).rejects.toThrow();
    expect(pool.stats.retired).toBe(1);
    const retired = obs.events('hnsw_wrapper_retired');
    expect(retired).toHaveLength(1);
    expect(retired[0]!.fields).toMatchObject({ space: 'cosine:4', retired: 1 });
    expect(String(retired[0]!.fields.why)).toContain('readIndex');

    // a per-call observer (the vector index's) takes precedence over the pool's
    const perCall = recorder();
    const w2 = pool.create('cosine', 4, params);
    w2.addPoint([0, 1, 0, 0], 0);
    await w2.writeIndex(file);
    pool.release(w2);
    await fs.truncate(file, 20);
    await expect(pool.load('cosine', 4, file, true, perCall)).rejects.toThrow();
    expect(perCall.events('hnsw_wrapper_retired')).toHaveLength(1);
    expect(obs.events('hnsw_wrapper_retired')).toHaveLength(1);
  });
});

describe('retired graph objects outlive their pool', () => {
  it('keeps a retired wrapper referenced after its pool is collected (collecting it would free a freed index)', async () => {
    // in a child with --expose-gc: a segfault there must not take the test worker with it
    const script = `
      import fs from 'node:fs';
      import { HnswPool } from './shared/index/hnsw-pool.ts';
      const file = ${JSON.stringify(path.join(dir, 'g.bin'))};
      const quiet = { warn() {}, error() {}, degraded() {} };
      let pool = new HnswPool(4, quiet);
      const retire = async () => {
        const w = pool.create('cosine', 4, { maxElements: 10, m: 8, efConstruction: 50 });
        w.addPoint([1, 0, 0, 0], 0);
        await w.writeIndex(file);
        pool.release(w);
        fs.truncateSync(file, 20);
        await pool.load('cosine', 4, file, true).catch(() => undefined);
        if (pool.stats.retired !== 1) throw new Error('not retired');
      };
      await retire();
      pool = undefined; // nothing else references the retired wrapper
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      console.log('survived');
      process.exit(0); // a natural exit would still run the retired wrapper's destructor at teardown (see hnsw-pool.ts)
    `;
    const { execFile } = await import('node:child_process');
    const result = await new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() }, (err, stdout) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, signal: (err as { signal?: string } | null)?.signal ?? null, stdout }),
      );
    });
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(result.stdout).toContain('survived');
  });
});

describe('the tenant manager reports stores that fail to open or close', () => {
  it('reports an open that fails, but not a tenant that does not exist', async () => {
    const obs = recorder();
    const first = new TenantManager(managerOptions(dir, { observer: obs }));
    await first.use('acme', true, async (s) => putResources(s, [{ uri: 'doc://1', content: 'hello' }]));
    await first.close();
    // another embedder: the store refuses to open
    const other = new TenantManager(managerOptions(dir, { observer: obs, embedder: new HashEmbedder(128) }));
    await expect(other.use('acme', false, async () => undefined)).rejects.toThrow(/embedder/);
    await expect(other.use('nobody', false, async () => undefined)).rejects.toMatchObject({ code: 'tenant_not_found' });
    await other.close();
    expect(obs.seen.map((r) => [r.event, r.fields.tenant])).toEqual([['tenant_open_failed', 'acme']]);
    expect(String(obs.seen[0]!.fields.err)).toMatch(/embedder/);
  });

  it('reports a close that fails on eviction and at shutdown, and keeps serving', async () => {
    const obs = recorder();
    const tm = new TenantManager(managerOptions(dir, { observer: obs, openMax: 1 }));
    const realClose: (() => Promise<void>)[] = [];
    const breakClose = (s: TenantStore) => {
      const close = s.close.bind(s);
      realClose.push(close);
      s.close = async () => {
        throw new Error('disk gone');
      };
    };
    await tm.use('a', true, async (s) => breakClose(s));
    await tm.use('b', true, async (s) => breakClose(s)); // evicts 'a'
    await new Promise((r) => setTimeout(r, 20));
    expect(obs.seen.map((r) => [r.event, r.fields.tenant, r.fields.cause])).toEqual([['tenant_close_failed', 'a', 'eviction']]);
    expect(await tm.use('b', true, async (s) => putResources(s, [{ uri: 'doc://1', content: 'still serving' }]))).toHaveLength(1);
    await tm.close();
    expect(obs.seen.map((r) => [r.event, r.fields.tenant, r.fields.cause])).toEqual([
      ['tenant_close_failed', 'a', 'eviction'],
      ['tenant_close_failed', 'b', 'shutdown'],
    ]);
    expect(obs.seen[1]!.fields.err).toBe('disk gone');
    for (const close of realClose) await close();
  });
});

describe('the keyword index reports statistics that drifted', () => {
  it('clamps a document frequency that would go negative and reports keyword_index_inconsistent', async () => {
    const db = new ClassicLevel<string, unknown>(path.join(dir, 'kw'), { valueEncoding: 'json' });
    await db.open();
    const obs = recorder();
    const kw = new KeywordIndex({
      kind: 'resources',
      postings: db.sublevel<string, string>('p', { valueEncoding: 'utf8' }),
      docs: db.sublevel('d', { valueEncoding: 'json' }),
      df: db.sublevel<string, string>('df', { valueEncoding: 'utf8' }),
      meta: db.sublevel('m', { valueEncoding: 'json' }),
      postingsPerTermMax: 100,
      observer: obs,
    });
    await kw.load();
    const write = async (docs: { id: string; text: string | null }[]) => {
      const p = await kw.prepare(docs);
      await db.batch(p.ops);
      p.apply();
    };
    await write([{ id: 'a', text: 'alpha beta' }]);
    expect(obs.seen).toEqual([]);
    // the stored frequency of 'alpha' lost (a drift): deleting the document would take it to -1
    await db.sublevel<string, string>('df', { valueEncoding: 'utf8' }).del('alpha');
    (kw as unknown as { dfCache: Map<string, number> }).dfCache.clear();
    await write([{ id: 'a', text: null }]);
    const reported = obs.events('keyword_index_inconsistent');
    expect(reported).toHaveLength(1);
    expect(reported[0]!.fields).toMatchObject({ kind: 'resources', negative_df_terms: ['alpha'], negative_df_count: 1 });
    expect(await db.sublevel<string, string>('df', { valueEncoding: 'utf8' }).get('alpha')).toBeUndefined(); // 0: removed, not -1
    await db.close();
  });
});

describe("the API service's observer", () => {
  it('logs each degraded event once at its level, without stacks, and counts it', () => {
    const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
    const counted: string[] = [];
    const log = {
      warn: (fields: object, msg: string) => lines.push({ level: 'warn', fields: fields as Record<string, unknown>, msg }),
      error: (fields: object, msg: string) => lines.push({ level: 'error', fields: fields as Record<string, unknown>, msg }),
    };
    const obs = loggingObserver(log, (e) => counted.push(e));
    obs.degraded('vector_index_rebuilt', { kind: 'res', reason: 'stale' }, 'rebuilt');
    obs.degraded('tenant_close_failed', { tenant: 'a', err: new Error('disk gone') }, 'close failed');
    obs.degraded('something_new', { x: 1 }, 'new event');
    expect(counted).toEqual(['vector_index_rebuilt', 'tenant_close_failed', 'something_new']);
    expect(lines).toEqual([
      { level: 'warn', fields: { event: 'vector_index_rebuilt', kind: 'res', reason: 'stale' }, msg: 'rebuilt' },
      { level: 'error', fields: { event: 'tenant_close_failed', tenant: 'a', err: 'disk gone' }, msg: 'close failed' },
      { level: 'warn', fields: { event: 'something_new', x: 1 }, msg: 'new event' },
    ]);
    expect(DEGRADED_EVENTS.tenant_close_failed).toBe('error');
  });

  it('counts a rebuild at open as percolate_engine_degraded_total{event="vector_index_rebuilt"}', async () => {
    let node = await startNode({}, { dataDir: dir });
    const put = await node.call('POST', '/api/v1/resources', { body: { uri: 'doc://1', content: 'replicated jetstream outbox' } });
    expect(put.status).toBe(201);
    // a search builds the graph (graphs are built on demand), so the close writes a checkpoint of it
    expect((await node.call('POST', '/api/v1/search', { body: { query: 'outbox', mode: 'vector', kinds: ['resources'], limit: 1 } })).status).toBe(200);
    await waitFor('the vector in the graph', async () => /percolate_vectors_pending_insert 0\b/.test((await node.call('GET', '/metrics', { tenant: null })).body));
    await node.app.close(); // checkpoints
    const checkpoints: string[] = [];
    const walk = async (d: string) => {
      for (const e of await fs.readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory() && e.name.startsWith('vidx-res-')) checkpoints.push(p);
        else if (e.isDirectory()) await walk(p);
      }
    };
    await walk(dir);
    expect(checkpoints).toHaveLength(1);
    await fs.writeFile(path.join(checkpoints[0]!, 'labels.json'), 'not json');

    node = await startNode({}, { dataDir: dir });
    try {
      const before = await node.call('GET', '/metrics', { tenant: null });
      expect(before.body).not.toMatch(/percolate_engine_degraded_total\{event="vector_index_rebuilt"\}/);
      const hit = await node.call('POST', '/api/v1/search', { body: { query: 'replicated jetstream outbox', mode: 'vector', kinds: ['resources'], limit: 1 } });
      expect(hit.status).toBe(200);
      expect(hit.body.results[0].id).toBe(put.body.ids[0]);
      const after = await node.call('GET', '/metrics', { tenant: null });
      expect(after.body).toMatch(/percolate_engine_degraded_total\{event="vector_index_rebuilt"\} 1\b/);
    } finally {
      await node.app.close();
    }
  });
});
