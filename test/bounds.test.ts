// Closed bounds and asserted invariants: the keyword caches stay at their bounds (and never cache a read that a write
// overtook), a mutex refuses waiters beyond its bound, the SSE parser refuses an event beyond its size, the tenant
// manager's access times stay bounded without a metrics scrape, the HLC refuses to issue a timestamp twice, and the
// vector index throws when its bookkeeping breaks.
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseSse, SSE_EVENT_CHARS_MAX_DEFAULT } from '../shared/chat/sse.js';
import { toHttpError } from '../shared/http/errors.js';
import {
  KEYWORD_DF_CACHE_TERMS_MAX_DEFAULT,
  KEYWORD_POSTINGS_CACHE_POSTINGS_MAX_DEFAULT,
  KEYWORD_POSTINGS_CACHE_TERMS_MAX_DEFAULT,
  KeywordIndex,
  type KeywordIndexOptions,
} from '../shared/index/keyword-index.js';
import { HybridLogicalClock } from '../shared/rem/hlc.js';
import { terms } from '../shared/rem/text.js';
import type { EngineObserver } from '../shared/rem/observer.js';
import { Mutex, MUTEX_WAITERS_MAX_DEFAULT } from '../shared/store/mutex.js';
import { ACTIVE_TRACKED_MAX_DEFAULT, TenantManager } from '../shared/store/tenant-manager.js';
import type { TenantStore } from '../shared/store/tenant-store.js';
import { putResources } from '../shared/store/resources.js';
import { managerOptions, openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  vi.restoreAllMocks();
  await cleanup();
});

const silent: EngineObserver = { warn: () => undefined, error: () => undefined, degraded: () => undefined };

async function keywordIndex(over: Partial<KeywordIndexOptions> = {}, name = 'kw') {
  const db = new ClassicLevel<string, unknown>(path.join(dir, name), { valueEncoding: 'json' });
  await db.open();
  const df = db.sublevel<string, string>('df', { valueEncoding: 'utf8' });
  const kw = new KeywordIndex({
    kind: 'resources',
    postings: db.sublevel<string, string>('p', { valueEncoding: 'utf8' }),
    docs: db.sublevel('d', { valueEncoding: 'json' }),
    df,
    meta: db.sublevel('m', { valueEncoding: 'json' }),
    postingsPerTermMax: 100,
    observer: silent,
    ...over,
  });
  await kw.load();
  const write = async (docs: { id: string; text: string | null }[]) => {
    const p = await kw.prepare(docs);
    await db.batch(p.ops);
    p.apply();
  };
  return { db, df, kw, write };
}

describe('keyword index caches', () => {
  it('keeps the document-frequency cache at its bound, least recently used out first, and still scores exactly', async () => {
    expect(KEYWORD_DF_CACHE_TERMS_MAX_DEFAULT).toBe(50_000);
    const { db, kw, write } = await keywordIndex({ dfCacheTermsMax: 50 });
    // 200 distinct terms, 20 per document
    for (let d = 0; d < 10; d++) await write([{ id: `d${d}`, text: Array.from({ length: 20 }, (_, i) => `w${d * 20 + i}x`).join(' ') }]);
    expect(kw.cacheSizes.dfTerms).toBe(50);
    // the oldest cached term, read again, is kept over the six terms read next
    const hot = 'w150x';
    await kw.search(hot, 1);
    for (let d = 0; d < 3; d++) await kw.search(`w${d * 20}x w${d * 20 + 1}x`, 1);
    const cache = (kw as unknown as { dfCache: Map<string, number> }).dfCache;
    expect(cache.has(hot)).toBe(true);
    expect(kw.cacheSizes.dfTerms).toBe(50);
    // an evicted term is read from the store again: the same hit
    const [hit] = await kw.search('w3x', 1);
    expect(hit!.id).toBe('d0');
    expect(kw.cacheSizes.dfTerms).toBe(50);
    await db.close();
  });

  it('keeps the postings cache within its term and posting bounds', async () => {
    expect(KEYWORD_POSTINGS_CACHE_TERMS_MAX_DEFAULT).toBe(4096);
    expect(KEYWORD_POSTINGS_CACHE_POSTINGS_MAX_DEFAULT).toBe(262_144);
    const { db, kw, write } = await keywordIndex({ postingsCacheTermsMax: 8, postingsCachePostingsMax: 20 });
    // t0..t19 are in two documents each, 'mid' in ten
    await write(Array.from({ length: 40 }, (_, i) => ({ id: `d${i}`, text: `t${i % 20} filler${i}${i < 10 ? ' mid' : ''}` })));
    for (let t = 0; t < 20; t++) await kw.search(`t${t}`, 5);
    expect(kw.cacheSizes).toMatchObject({ postingsTerms: 8, postings: 16 }); // the term bound
    await kw.search('mid', 5);
    expect(kw.cacheSizes).toMatchObject({ postingsTerms: 6, postings: 20 }); // the posting bound: three terms out for one
    expect((kw as unknown as { postingsCache: Map<string, unknown> }).postingsCache.has(terms('mid')[0]!)).toBe(true);
    // a term with more postings than the whole cache holds is answered but not cached
    const small = await keywordIndex({ postingsCachePostingsMax: 10 }, 'kw2');
    await db.close();
    await small.write(Array.from({ length: 30 }, (_, i) => ({ id: `d${i}`, text: `common filler${i}` })));
    expect((await small.kw.search('common', 3)).length).toBe(3);
    expect(small.kw.cacheSizes.postings).toBe(0);
    await small.db.close();
  });

  it('does not cache a document frequency read that a committed write overtook (it would persist a wrong one)', async () => {
    const { db, df, kw, write } = await keywordIndex();
    await write([{ id: 'a', text: 'shared alpha' }]);
    (kw as unknown as { dfCache: Map<string, number> }).dfCache.clear();
    // a search reads df('shared') = 1 from the store, and a write commits df = 2 before that read returns
    const getMany = df.getMany.bind(df);
    let gate!: () => void;
    const gated = new Promise<void>((r) => (gate = r));
    let first = true;
    vi.spyOn(df, 'getMany').mockImplementation((async (keys: string[]) => {
      const vals = await getMany(keys);
      if (first) {
        first = false;
        await gated;
      }
      return vals;
    }) as never);
    const search = kw.search('shared', 5);
    await new Promise((r) => setTimeout(r, 20)); // the search's read is done and waits at the gate
    await write([{ id: 'b', text: 'shared beta' }]);
    gate();
    await search;
    // the next write must start from df = 2, not the search's stale 1
    await write([{ id: 'c', text: 'shared gamma' }]);
    expect(await df.get(terms('shared')[0]!)).toBe('3');
    await db.close();
  });
});

describe('mutex waiters', () => {
  it('refuses a caller beyond waitersMax with RemError overloaded (HTTP 503), and admits callers again once it drains', async () => {
    expect(new Mutex().waitersMax).toBe(MUTEX_WAITERS_MAX_DEFAULT);
    expect(MUTEX_WAITERS_MAX_DEFAULT).toBe(1024);
    const m = new Mutex({ waitersMax: 2 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const order: number[] = [];
    const holder = m.run(async () => {
      await held;
      order.push(0);
    });
    const w1 = m.run(async () => void order.push(1));
    const w2 = m.run(async () => void order.push(2));
    expect(m.waiters).toBe(2);
    const refused = m.run(async () => void order.push(3));
    await expect(refused).rejects.toMatchObject({ name: 'RemError', code: 'overloaded' });
    await expect(refused).rejects.toThrow(/too many writers waiting .* at most 2/);
    expect(toHttpError(await refused.catch((e: unknown) => e)).statusCode).toBe(503);
    release();
    await Promise.all([holder, w1, w2]);
    expect(order).toEqual([0, 1, 2]);
    expect(m.waiters).toBe(0);
    await m.run(async () => void order.push(4));
    expect(order).toEqual([0, 1, 2, 4]);
  });

  it('releases the lock when fn throws, and counts nothing for a refused caller', async () => {
    const m = new Mutex({ waitersMax: 0 });
    await expect(m.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    let release!: () => void;
    const holder = m.run(() => new Promise<void>((r) => (release = r)));
    await expect(m.run(async () => undefined)).rejects.toMatchObject({ code: 'overloaded' });
    release();
    await holder;
    await expect(m.run(async () => 'ok')).resolves.toBe('ok');
  });
});

describe('SSE parser bound', () => {
  async function* chunks(parts: string[]): AsyncGenerator<Uint8Array> {
    const enc = new TextEncoder();
    for (const p of parts) yield enc.encode(p);
  }
  const collect = async (parts: string[], max?: number) => {
    const out: { event: string; data: string }[] = [];
    for await (const e of parseSse(chunks(parts), max === undefined ? {} : { eventCharsMax: max })) out.push(e);
    return out;
  };

  it('fails a stream whose line never ends as soon as it passes the bound, without reading on', async () => {
    expect(SSE_EVENT_CHARS_MAX_DEFAULT).toBe(1024 * 1024);
    let pulled = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      const chunk = new TextEncoder().encode('x'.repeat(1000));
      yield new TextEncoder().encode('data: ');
      for (let i = 0; i < 10_000; i++) {
        pulled++;
        yield chunk;
      }
    }
    const run = async () => {
      for await (const _ of parseSse(endless(), { eventCharsMax: 10_000 })) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: 'provider_error', message: expect.stringMatching(/server-sent event larger than 10000 characters/) });
    expect(pulled).toBe(10); // 6 + 10 x 1000 characters: refused at the tenth chunk
  });

  it('fails a stream whose event never ends (data lines without a blank line) beyond the bound', async () => {
    const lines = Array.from({ length: 200 }, () => `data: ${'y'.repeat(100)}\n`);
    await expect(collect(lines, 10_000)).rejects.toThrow(/larger than 10000/);
    // the same lines as separate events are fine: the bound is per event
    const events = await collect(
      lines.map((l) => l + '\n'),
      10_000,
    );
    expect(events).toHaveLength(200);
  });

  it('passes an event at the bound, and the default bound admits a large chat chunk', async () => {
    const data = 'z'.repeat(99);
    expect(await collect([`data: ${data}\n\n`], 100)).toEqual([{ event: 'message', data }]);
    await expect(collect([`data: ${data}z\n\n`], 100)).rejects.toThrow(/larger than 100/);
    const big = 'q'.repeat(200_000);
    expect((await collect([`data: ${big}\n\n`]))[0]!.data).toBe(big);
  });
});

describe('tenant access times', () => {
  it('stay bounded by activeTrackedMax as accesses come; the active count keeps evicted tenants within the window', async () => {
    expect(ACTIVE_TRACKED_MAX_DEFAULT).toBe(100_000);
    let now = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const tm = new TenantManager(managerOptions(dir, { openMax: 2, activeTrackedMax: 5, activeWindowMs: 60_000 }));
    try {
      for (let i = 0; i < 12; i++) {
        await tm.use(`t${i}`, true, async () => undefined);
        expect(tm.trackedTenants).toBeLessThanOrEqual(5);
      }
      expect(tm.trackedTenants).toBe(5);
      // an access refreshes a tenant: it is not the one forgotten next
      await tm.use('t7', true, async () => undefined); // t7..t11 tracked, t7 now the most recent
      await tm.use('t0', true, async () => undefined); // six: the least recent (t8) goes
      expect(tm.trackedTenants).toBe(5);
      expect(tm.presence('t8')?.access_count_1h).toBe(0);
      expect(tm.presence('t7')?.access_count_1h).toBe(2);
      // closed (evicted) tenants whose last access the catalog remembers count as active until the window passes
      await waitFor('evictions to settle', async () => tm.openCount <= 2, 10_000, 5);
      expect(tm.activeCount(now)).toBe(12);
      now += 61_000;
      expect(tm.activeCount(now)).toBe(0);
    } finally {
      await tm.close();
    }
  });
});

describe('HLC monotonicity', () => {
  it('throws when the clock would issue a timestamp that is not after the previous one', () => {
    const clock = new HybridLogicalClock('n1', () => 42);
    let prev = '';
    for (let i = 0; i < 10_000; i++) {
      const t = clock.now();
      expect(t > prev).toBe(true);
      prev = t;
    }
    // force the clock back to a state it already issued from (a bug, or memory corruption)
    Object.assign(clock, { wallMs: 0, counter: 0 });
    expect(() => clock.now()).toThrow(/HLC invariant broken: 000000000000042\.000000\.n1 is not after 000000000000042\.009999\.n1/);
  });
});

describe('vector index invariants', () => {
  let store: TenantStore;
  afterEach(async () => {
    if (store && !store.isClosed) await store.close();
  });
  const v = (i: number) => Float32Array.from({ length: 384 }, (_, d) => Math.sin(i * 13 + d));

  it('holds through puts, updates and deletes, deferred or not', async () => {
    store = await openStore(dir, 't1', { pendingMax: 3 });
    const vi = store.vectorIndex('resources');
    for (let i = 0; i < 20; i++) vi.applyPut(`r${i % 7}`, v(i));
    for (let i = 0; i < 7; i += 2) vi.applyDelete(`r${i}`);
    vi.flushPending();
    for (let i = 0; i < 7; i++) vi.applyPut(`r${i}`, v(100 + i));
    expect(vi.size).toBe(7);
    await store.vectorsSettled();
    expect(vi.search(v(103), 1)[0]!.id).toBe('r3');
  });

  it('throws when the label maps disagree', async () => {
    store = await openStore(dir, 't1', { pendingMax: 0 });
    const vi = store.vectorIndex('resources');
    vi.applyPut('a', v(1));
    vi.applyPut('b', v(2));
    (vi as unknown as { idOf: Map<number, string> }).idOf.clear();
    expect(() => vi.applyPut('c', v(3))).toThrow(/vector index 'res' invariant broken: label maps disagree \(3 ids, 1 labels\)/);
  });

  it("throws when the graph's element count drifts from the labels and deleted slots", async () => {
    store = await openStore(dir, 't1', { pendingMax: 10 });
    const vi = store.vectorIndex('resources');
    vi.applyPut('a', v(1));
    vi.flushPending();
    (vi as unknown as { deleted: number }).deleted = 5; // a slot count the graph does not have
    expect(() => vi.applyDelete('zzz')).toThrow(/the graph holds 1 elements, the label map 1 vectors and 5 deleted slots/);
  });

  it('throws when an id in the graph has no graph to be removed from', async () => {
    store = await openStore(dir, 't1', { pendingMax: 10 });
    const vi = store.vectorIndex('resources');
    vi.applyPut('a', v(1));
    vi.flushPending();
    const internals = vi as unknown as { index: unknown };
    const index = internals.index;
    internals.index = undefined;
    try {
      expect(() => vi.applyPut('a', v(2))).toThrow(/'a' has label 0 but there is no graph/);
    } finally {
      internals.index = index;
    }
  });

  it('checks the stores it writes: a healthy store passes every write', async () => {
    store = await openStore(dir, 't1');
    const ids = await putResources(
      store,
      Array.from({ length: 30 }, (_, i) => ({ uri: `doc://${i}`, content: `text ${i}` })),
    );
    expect(store.vectorIndex('resources').size).toBe(ids.length);
  });
});
