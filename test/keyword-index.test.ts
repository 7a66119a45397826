// BM25 through the store: with the per-term posting read bounded (two-phase search), every returned score still
// equals a brute-force BM25 over the same documents.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/dataset.js';
import { HashEmbedder } from '../shared/embed/hash-embedder.js';
import { terms } from '../shared/rem/text.js';
import { putResources, deleteResource } from '../shared/store/resources.js';
import { DEFAULT_LIMITS, TenantStore } from '../shared/store/tenant-store.js';
import { tempDir } from './support/tmp.js';

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'sigma', 'kappa', 'lambda'];
let tmp: { dir: string; cleanup: () => Promise<void> };
let store: TenantStore;
const texts = new Map<string, string>();

function bruteBm25(query: string): Map<string, number> {
  const docs = [...texts.entries()].map(([id, t]) => [id, terms(t)] as const);
  const n = docs.length;
  const avgdl = docs.reduce((s, [, ts]) => s + ts.length, 0) / n;
  const out = new Map<string, number>();
  for (const q of new Set(terms(query))) {
    const df = docs.filter(([, ts]) => ts.includes(q)).length;
    if (df === 0) continue;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    for (const [id, ts] of docs) {
      const tf = ts.filter((x) => x === q).length;
      if (tf === 0) continue;
      const w = (idf * (tf * 2.2)) / (tf + 1.2 * (1 - 0.75 + (0.75 * ts.length) / avgdl));
      out.set(id, (out.get(id) ?? 0) + w);
    }
  }
  return out;
}

beforeAll(async () => {
  tmp = await tempDir();
  store = await TenantStore.open({
    dataDir: tmp.dir,
    tenant: 'kw',
    embedder: new HashEmbedder(),
    hnsw: { m: 16, efConstruction: 100, efSearch: 64 },
    vectorCheckpointOps: 100_000,
    syncWrites: false,
    limits: { ...DEFAULT_LIMITS, postingsPerTermMax: 5 }, // far fewer than the documents holding common words
    create: true,
  });
  const rand = mulberry32(99);
  const inputs = Array.from({ length: 120 }, (_, i) => {
    const len = 3 + Math.floor(rand() * 10);
    const content = Array.from({ length: len }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
    return { uri: `kw://${i}`, content };
  });
  const ids = await putResources(store, inputs);
  ids.forEach((id, i) => texts.set(id, inputs[i]!.content));
  // updates and deletes must leave no stale postings behind
  const [updated] = await putResources(store, [{ uri: 'kw://0', content: 'omega omega omega rare' }]);
  texts.set(updated!, 'omega omega omega rare');
  await deleteResource(store, ids[1]!);
  texts.delete(ids[1]!);
});

afterAll(async () => {
  await store.close();
  await tmp.cleanup();
});

describe('keyword index (BM25)', () => {
  it.each(['alpha', 'omega rare', 'beta gamma delta', 'sigma kappa lambda alpha'])('returns exact BM25 scores for %j despite bounded posting reads', async (q) => {
    const hits = await store.keywordIndex('resources').search(q, 10);
    const truth = bruteBm25(q);
    expect(hits.length).toBe(Math.min(10, truth.size));
    for (const h of hits) expect(h.score).toBeCloseTo(truth.get(h.id)!, 9);
    // and no document outside the returned set beats the last returned score by more than rounding
    const best = [...truth.values()].sort((a, b) => b - a);
    expect(hits[0]!.score).toBeCloseTo(best[0]!, 9);
  });

  it('finds a rare term exactly and forgets deleted documents', async () => {
    const hits = await store.keywordIndex('resources').search('rare', 5);
    expect(hits.map((h) => texts.get(h.id))).toEqual(['omega omega omega rare']);
    const all = await store.keywordIndex('resources').search(WORDS.join(' '), 200);
    expect(all.length).toBe(texts.size);
  });
});
