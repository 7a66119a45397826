// Keyword postings on demand: a store whose tenant is not keyword-searched here commits records with a log entry
// instead of their postings, indexes the log at low priority once writes pause or at once when a keyword search
// arrives, and answers exactly what a store that indexed every commit answers, across updates, deletes, restarts and
// a crash.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../scripts/prng.js';
import { resourceId } from '../shared/rem/ids.js';
import type { Op } from '../shared/rem/ops.js';
import { search } from '../shared/search/search.js';
import type { TenantStore } from '../shared/store/tenant-store.js';
import { docsOp, hlcAt } from './support/ops.js';
import { openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const DIM = 384;
const WORDS = ['amber', 'basalt', 'cobalt', 'dune', 'ember', 'fjord', 'glacier', 'harbor', 'island', 'jungle', 'kelp', 'lagoon', 'mesa', 'nebula', 'oasis', 'prairie'];
let cleanups: (() => Promise<void>)[] = [];
let open: TenantStore[] = [];

beforeEach(() => {
  cleanups = [];
  open = [];
});
afterEach(async () => {
  for (const s of open) if (!s.isClosed) await s.close();
  for (const c of cleanups) await c();
});

async function dataDir(): Promise<string> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  return dir;
}

async function storeAt(dir: string, keywordOnDemand: boolean, idleMs = 60_000): Promise<TenantStore> {
  // graphs on demand too (as on a node), with no low-priority work unless a test asks for it
  const s = await openStore(dir, 't1', { onDemand: true, keywordOnDemand, idleMs });
  open.push(s);
  return s;
}

const vector = (seed: number) => {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: DIM }, () => rand() * 2 - 1);
};

let wall = Date.now() - 600_000;
type Change = { i: number; text: string | null };
/** One replicated op from peer `p`: puts of doc://<i> with the text as content, deletes where text is null. */
function op(changes: Change[]): Op {
  return docsOp('t1', 'p', hlcAt(wall++, 'p'), changes.map(({ i, text }) => ({ i, content: text, vector: text === null ? undefined : vector(i) })));
}

/** Keyword hits as `id score` lines, ties in id order (the two stores may break ties differently). */
async function keywordHits(s: TenantStore, query: string): Promise<string[]> {
  const hits = await search(s, { query, kinds: ['resources'], mode: 'keyword', limit: 100 });
  return hits.map((h) => ({ id: h.id, score: Math.round(h.score! * 1e6) / 1e6 })).sort((a, b) => b.score - a.score || a.id.localeCompare(b.id)).map((h) => `${h.id} ${h.score}`);
}

describe('keyword postings on demand', () => {
  it('applies replicated puts without postings, and the first keyword search indexes and finds them', async () => {
    const s = await storeAt(await dataDir(), true);
    for (let b = 0; b < 300; b += 50) await s.applyReplicated([op(Array.from({ length: 50 }, (_, j) => ({ i: b + j, text: `record ${b + j} ${WORDS[(b + j) % WORDS.length]}` })))]);
    const kw = s.keywordIndex('resources');
    expect(kw.docCount).toBe(0); // not one posting written
    expect(s.keywordBacklog).toBe(300);
    const hits = await search(s, { query: 'glacier', kinds: ['resources'], mode: 'keyword', limit: 100 });
    expect(hits.map((h) => h.id).sort()).toEqual(
      Array.from({ length: 300 }, (_, i) => i)
        .filter((i) => WORDS[i % WORDS.length] === 'glacier')
        .map((i) => resourceId(`doc://${i}`, 0))
        .sort(),
    );
    expect(s.keywordBacklog).toBe(0);
    expect(kw.docCount).toBe(300);
    // served now: a later put is indexed as it commits
    await s.applyReplicated([op([{ i: 1000, text: 'volcano' }])]);
    expect(s.keywordBacklog).toBe(0);
    expect(kw.docCount).toBe(301);
  });

  it('indexes the log at low priority once writes pause, without a search', async () => {
    const s = await storeAt(await dataDir(), true, 20);
    await s.applyReplicated([op(Array.from({ length: 1200 }, (_, i) => ({ i, text: `entry ${i} ${WORDS[i % WORDS.length]}` })))]);
    expect(s.keywordBacklog).toBe(1200);
    const kw = s.keywordIndex('resources');
    await waitFor('the keyword backlog to be indexed', async () => s.keywordBacklog === 0 && kw.docCount === 1200, 10_000);
    // still not served: the next commit logs again
    await s.applyReplicated([op([{ i: 5000, text: 'volcano' }])]);
    expect(s.keywordBacklog).toBe(1);
    expect(kw.docCount).toBe(1200);
  });

  it('keeps the log across a crash: nothing committed is missing from keyword search', async () => {
    const dir = await dataDir();
    let s = await storeAt(dir, true);
    await s.applyReplicated([op(Array.from({ length: 40 }, (_, i) => ({ i, text: `crash ${i} ${WORDS[i % WORDS.length]}` })))]);
    await s.closeWithoutCheckpoint();
    s = await storeAt(dir, true);
    expect(s.keywordBacklog).toBe(40);
    expect((await keywordHits(s, 'crash')).length).toBe(40);
  });

  it('answers exactly what a store that indexed every commit answers, across updates, deletes, restarts and a change of mode', async () => {
    const rand = mulberry32(7);
    const text = () => Array.from({ length: 2 + Math.floor(rand() * 6) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
    const ops: Op[] = [];
    for (let n = 0; n < 60; n++) {
      ops.push(op(Array.from({ length: 1 + Math.floor(rand() * 6) }, () => ({ i: Math.floor(rand() * 40), text: rand() < 0.3 ? null : text() }))));
    }
    const eager = await storeAt(await dataDir(), false);
    for (const o of ops) await eager.applyReplicated([o]);

    // on demand, reopened every 15 ops: on demand, eager with the log left from before (its records' old postings
    // must still go), on demand again, and one keyword search halfway
    const dir = await dataDir();
    let lazy = await storeAt(dir, true);
    for (let n = 0; n < ops.length; n++) {
      if (n > 0 && n % 15 === 0) {
        await lazy.close();
        lazy = await storeAt(dir, n !== 30);
      }
      if (n === 40) await keywordHits(lazy, 'amber');
      await lazy.applyReplicated([ops[n]!]);
    }
    expect(lazy.keywordBacklog).toBeGreaterThan(0); // the searches below index what is still logged
    for (const w of WORDS) expect(await keywordHits(lazy, w), w).toEqual(await keywordHits(eager, w));
    expect(await keywordHits(lazy, 'amber basalt cobalt')).toEqual(await keywordHits(eager, 'amber basalt cobalt'));
    expect(lazy.keywordIndex('resources').docCount).toBe(eager.keywordIndex('resources').docCount);
  });

  it('removes the postings of a record deleted while logged when an eager store creates it again', async () => {
    const dir = await dataDir();
    let s = await storeAt(dir, true);
    await s.applyReplicated([op([{ i: 1, text: 'amber basalt' }, { i: 2, text: 'amber' }])]);
    expect((await keywordHits(s, 'basalt')).length).toBe(1); // indexed
    await s.close();
    s = await storeAt(dir, true);
    await s.applyReplicated([op([{ i: 1, text: null }])]); // logged: its postings are still there
    await s.close();
    s = await storeAt(dir, false); // eager, with that delete still logged
    await s.applyReplicated([op([{ i: 1, text: 'cobalt' }])]);
    expect(await keywordHits(s, 'basalt')).toEqual([]);
    expect((await keywordHits(s, 'cobalt')).map((h) => h.split(' ')[0])).toEqual([resourceId('doc://1', 0)]);
    expect(s.keywordIndex('resources').docCount).toBe(2);
  });
});
