// BM25 keyword index for one kind of one tenant, stored in the tenant's LevelDB.
//
// Postings are keyed `term \0 impact \0 id` where `impact` orders a term's postings by their BM25 term weight at
// index time (best first). A query runs in two phases: (1) candidates from at most `postingsPerTermMax` best
// postings of each term, so rare terms are read whole and very common terms cost a bounded read; (2) the best
// candidates are rescored exactly from their per-document term lists, so every returned score is the true BM25.
//
// Memory is bounded: the document-frequency cache and the decoded-postings cache are LRUs bounded by terms (and the
// latter by postings too), each from an option with a default below. A statistic that would go negative (a drifted
// document frequency or count) is clamped to 0 and reported to the observer (`keyword_index_inconsistent`).
import { SLICED_TEXT_CHARS, terms as toTerms, termsSliced } from '../rem/text.js';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';
import { TimeSlice } from '../rem/time-slice.js';
import { readAdaptive } from '../rem/adaptive-read.js';
import type { BatchOp, JsonSublevel, StringSublevel } from '../rem/codec.js';

const K1 = 1.2;
const B = 0.75;
const QUERY_TERMS_MAX = 32;

export interface KeywordStats {
  docs: number;
  totalLen: number;
}

interface DocEntry {
  /** Posting keys written for this document, so an update or delete removes exactly them. */
  keys: string[];
  /** Term frequency for each key (exact rescoring). */
  tf: number[];
  dl: number;
}

/** Candidates rescored exactly per returned hit. */
const RESCORE_FACTOR = 3;
const RESCORE_MIN = 30;
/** Posting reads per query: the first, and one 4x deeper when the bound says a better document may be unread. */
const ROUNDS_MAX = 2;
/** Terms with an idf below this fraction of the query's highest idf are not read for candidates. */
const NEGLIGIBLE_IDF = 0.02;
/** Slack on index-time weights: document-length normalisation drifts as the collection's average length moves. */
const BOUND_SLACK = 1.25;

export interface KeywordIndexOptions {
  kind: string;
  postings: StringSublevel;
  docs: JsonSublevel<DocEntry>;
  df: StringSublevel;
  meta: JsonSublevel<unknown>;
  postingsPerTermMax: number;
  /** Terms whose document frequency stays in memory (LRU). Default KEYWORD_DF_CACHE_TERMS_MAX_DEFAULT. */
  dfCacheTermsMax?: number;
  /** Terms whose decoded best postings stay in memory (LRU). Default KEYWORD_POSTINGS_CACHE_TERMS_MAX_DEFAULT. */
  postingsCacheTermsMax?: number;
  /** Postings held by that cache over all its terms at most. Default KEYWORD_POSTINGS_CACHE_POSTINGS_MAX_DEFAULT. */
  postingsCachePostingsMax?: number;
  /** Where degraded paths are reported (default: stderr). */
  observer?: EngineObserver;
}

export interface KeywordHit {
  id: string;
  score: number;
}

/** Changes computed for a batch; `apply` publishes them to the in-memory caches once the batch has committed. */
export interface KeywordPending {
  ops: BatchOp[];
  apply(): void;
}

function impactOfKey(key: string, term: string): number {
  return (99_999 - Number(key.slice(term.length + 1, term.length + 6))) / 10_000;
}

function impactKey(tf: number, dl: number, avgdl: number): string {
  const w = (tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * dl) / Math.max(avgdl, 1)));
  const q = Math.min(99_999, Math.round(w * 10_000));
  return (99_999 - q).toString().padStart(5, '0');
}

/** A term's best postings, decoded: ids with tf and document length, and whether the list is the whole term. */
interface CachedPostings {
  ids: string[];
  tf: Uint32Array;
  dl: Uint32Array;
  complete: boolean;
  /** Index-time weight of the last posting read: no unread posting of the term weighs more. */
  lastWeight: number;
}

/** Terms whose document frequency stays in memory per index (LRU): ~75 bytes a term, so ~4 MB at the bound. */
export const KEYWORD_DF_CACHE_TERMS_MAX_DEFAULT = 50_000;
/** Terms whose decoded best postings stay in memory per index (LRU); writes touching a term drop its entry. */
export const KEYWORD_POSTINGS_CACHE_TERMS_MAX_DEFAULT = 4096;
/**
 * Postings that cache holds over all its terms at most (~72 bytes each, so ~19 MB at the bound): a term's entry
 * holds up to 4 x max(postingsPerTermMax, 3 x limit) postings, so 4096 terms alone would not bound its bytes.
 */
export const KEYWORD_POSTINGS_CACHE_POSTINGS_MAX_DEFAULT = 262_144;

export class KeywordIndex {
  private stats: KeywordStats = { docs: 0, totalLen: 0 };
  /** LRU (a Map in use order, least recent first) of document frequencies, as committed. */
  private readonly dfCache = new Map<string, number>();
  /** LRU of decoded best postings per term. */
  private readonly postingsCache = new Map<string, CachedPostings>();
  /** Postings held by postingsCache. */
  private postingsCached = 0;
  /**
   * Incremented by every apply(): a read of the store that started before a write committed must not fill a cache
   * after that write published its values (it would cache the old document frequency or postings, and the next
   * write would then compute its document frequency from the stale one and persist it).
   */
  private generation = 0;
  private readonly statsKey: string;
  private readonly dfMax: number;
  private readonly postingsTermsMax: number;
  private readonly postingsMax: number;
  private readonly observer: EngineObserver;

  constructor(private readonly opts: KeywordIndexOptions) {
    this.statsKey = `kwstats:${opts.kind}`;
    this.dfMax = Math.max(1, opts.dfCacheTermsMax ?? KEYWORD_DF_CACHE_TERMS_MAX_DEFAULT);
    this.postingsTermsMax = Math.max(1, opts.postingsCacheTermsMax ?? KEYWORD_POSTINGS_CACHE_TERMS_MAX_DEFAULT);
    this.postingsMax = Math.max(0, opts.postingsCachePostingsMax ?? KEYWORD_POSTINGS_CACHE_POSTINGS_MAX_DEFAULT);
    this.observer = opts.observer ?? consoleObserver;
  }

  /** Entries of the in-memory caches (tests, memory estimates). */
  get cacheSizes(): { dfTerms: number; postingsTerms: number; postings: number } {
    return { dfTerms: this.dfCache.size, postingsTerms: this.postingsCache.size, postings: this.postingsCached };
  }

  private cacheDf(t: string, n: number): void {
    this.dfCache.delete(t);
    this.dfCache.set(t, n);
    if (this.dfCache.size > this.dfMax) this.dfCache.delete(this.dfCache.keys().next().value!);
  }

  private dropPostings(t: string): void {
    const p = this.postingsCache.get(t);
    if (!p) return;
    this.postingsCache.delete(t);
    this.postingsCached -= p.ids.length;
  }

  private cachePostings(t: string, p: CachedPostings): void {
    this.dropPostings(t);
    this.postingsCache.set(t, p);
    this.postingsCached += p.ids.length;
    // least recently used out first (an entry larger than the whole cache goes at once)
    while (this.postingsCache.size > this.postingsTermsMax || this.postingsCached > this.postingsMax) {
      this.dropPostings(this.postingsCache.keys().next().value!);
    }
  }

  async load(): Promise<void> {
    const s = (await this.opts.meta.get(this.statsKey)) as KeywordStats | undefined;
    if (s) this.stats = s;
  }

  get docCount(): number {
    return this.stats.docs;
  }

  private async dfOf(termList: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const missing: string[] = [];
    for (const t of termList) {
      const c = this.dfCache.get(t);
      if (c === undefined) {
        missing.push(t);
      } else {
        out.set(t, c);
        this.dfCache.delete(t); // most recently used: to the end
        this.dfCache.set(t, c);
      }
    }
    if (missing.length > 0) {
      const generation = this.generation;
      const vals = await readAdaptive(missing, (t) => this.opts.df.getSync(t), (rest) => this.opts.df.getMany(rest));
      // a write committed meanwhile: what was read may predate it, so it is used for this call but not cached
      const fresh = generation === this.generation;
      missing.forEach((t, i) => {
        const n = vals[i] === undefined ? 0 : Number(vals[i]);
        if (fresh) this.cacheDf(t, n);
        out.set(t, n);
      });
    }
    return out;
  }

  /**
   * Batch operations that make the index reflect `docs` (text per id; `null` text removes the document).
   * The caller serialises writers per tenant and must call `apply()` only after the batch committed.
   */
  async prepare(docs: ReadonlyArray<{ id: string; text: string | null; isNew?: boolean }>): Promise<KeywordPending> {
    const ops: BatchOp[] = [];
    // documents the caller knows to be new have no postings to remove: skip their lookups
    const lookup = docs.filter((d) => !d.isNew).map((d) => d.id);
    const found = lookup.length > 0 ? await this.opts.docs.getMany(lookup) : [];
    const oldById = new Map(lookup.map((id, i) => [id, found[i]]));
    const olds = docs.map((d) => oldById.get(d.id));
    const stats = { ...this.stats };
    const dfDelta = new Map<string, number>();
    const bump = (t: string, d: number) => dfDelta.set(t, (dfDelta.get(t) ?? 0) + d);
    const avgdl = stats.docs > 0 ? stats.totalLen / stats.docs : 0;

    const slice = new TimeSlice();
    for (let i = 0; i < docs.length; i++) {
      if (slice.due()) await slice.pause(); // a batch of a thousand documents takes tens of milliseconds to tokenise
      const doc = docs[i]!;
      const old = olds[i];
      if (old) {
        for (const key of old.keys) {
          ops.push({ type: 'del', sublevel: this.opts.postings, key });
          bump(key.slice(0, key.indexOf('\u0000')), -1);
        }
        stats.docs -= 1;
        stats.totalLen -= old.dl;
      }
      if (doc.text === null) {
        if (old) ops.push({ type: 'del', sublevel: this.opts.docs, key: doc.id });
        continue;
      }
      // a long text is tokenised a slice at a time too: one record of a million characters takes 150-200 ms
      const tokens = doc.text.length > SLICED_TEXT_CHARS ? await termsSliced(doc.text, slice) : toTerms(doc.text);
      const tf = new Map<string, number>();
      for (const t of tokens) tf.set(t, (tf.get(t) ?? 0) + 1);
      const dl = tokens.length;
      const keys: string[] = [];
      const tfs: number[] = [];
      for (const [t, n] of tf) {
        const key = `${t}\u0000${impactKey(n, dl, avgdl || dl)}\u0000${doc.id}`;
        keys.push(key);
        tfs.push(n);
        ops.push({ type: 'put', sublevel: this.opts.postings, key, value: `${n}:${dl}` });
        bump(t, 1);
      }
      ops.push({ type: 'put', sublevel: this.opts.docs, key: doc.id, value: { keys, tf: tfs, dl } });
      stats.docs += 1;
      stats.totalLen += dl;
    }

    const touched = [...dfDelta.keys()];
    const current = await this.dfOf(touched);
    const nextDf = new Map<string, number>();
    const negative: string[] = [];
    for (const t of touched) {
      const raw = (current.get(t) ?? 0) + (dfDelta.get(t) ?? 0);
      if (raw < 0) negative.push(t);
      const n = Math.max(0, raw);
      nextDf.set(t, n);
      if (n === 0) ops.push({ type: 'del', sublevel: this.opts.df, key: t });
      else ops.push({ type: 'put', sublevel: this.opts.df, key: t, value: String(n) });
    }
    if (stats.docs < 0 || stats.totalLen < 0 || negative.length > 0) {
      // the stored statistics drifted from the postings (nothing the batch itself can cause): clamp and say so; a
      // reindex of the kind recomputes them
      this.observer.degraded(
        'keyword_index_inconsistent',
        { kind: this.opts.kind, docs: stats.docs, total_len: stats.totalLen, negative_df_terms: negative.slice(0, 5), negative_df_count: negative.length },
        'keyword index statistics went negative and were clamped to 0 (BM25 scores of the affected terms are off)',
      );
      stats.docs = Math.max(0, stats.docs);
      stats.totalLen = Math.max(0, stats.totalLen);
    }
    ops.push({ type: 'put', sublevel: this.opts.meta, key: this.statsKey, value: stats });
    return {
      ops,
      apply: () => {
        this.stats = stats;
        this.generation++;
        for (const [t, n] of nextDf) {
          this.cacheDf(t, n);
          this.dropPostings(t);
        }
      },
    };
  }

  /** A term's best `count` postings, from memory when no write touched the term since they were read. */
  private async bestPostings(t: string, count: number): Promise<CachedPostings> {
    const cached = this.postingsCache.get(t);
    if (cached && (cached.complete || cached.ids.length >= count)) {
      this.postingsCache.delete(t);
      this.postingsCache.set(t, cached);
      return cached;
    }
    const generation = this.generation;
    const entries = await this.opts.postings.iterator({ gt: `${t}\u0000`, lt: `${t}\u0001`, limit: count }).all();
    const p: CachedPostings = {
      ids: new Array(entries.length),
      tf: new Uint32Array(entries.length),
      dl: new Uint32Array(entries.length),
      complete: entries.length < count,
      lastWeight: entries.length > 0 ? impactOfKey(entries[entries.length - 1]![0], t) : 0,
    };
    entries.forEach(([key, value], i) => {
      const sep = value.indexOf(':');
      p.ids[i] = key.slice(key.lastIndexOf('\u0000') + 1);
      p.tf[i] = Number(value.slice(0, sep));
      p.dl[i] = Number(value.slice(sep + 1));
    });
    // postings read before a write that touched the term committed are used once, not cached
    if (generation === this.generation) this.cachePostings(t, p);
    return p;
  }

  /**
   * Top `limit` documents by BM25. Candidates come from each term's best postings; when a term was cut short, the
   * best candidates are rescored exactly from their documents, and reads go deeper (up to ROUNDS_MAX times) while a
   * document outside the candidates could still, by the unread postings' weight bound, beat the k-th score.
   */
  async search(query: string, limit: number): Promise<KeywordHit[]> {
    const qterms = [...new Set(toTerms(query))].slice(0, QUERY_TERMS_MAX);
    if (qterms.length === 0 || this.stats.docs === 0 || limit <= 0) return [];
    const df = await this.dfOf(qterms);
    const n = this.stats.docs;
    const avgdl = this.stats.totalLen / n;
    const idf = new Map<string, number>();
    for (const t of qterms) {
      const d = df.get(t) ?? 0;
      if (d > 0) idf.set(t, Math.log(1 + (n - d + 0.5) / (d + 0.5)));
    }
    const weight = (t: string, tf: number, dl: number) => (idf.get(t)! * (tf * (K1 + 1))) / (tf + K1 * (1 - B + (B * dl) / avgdl));
    const rescoreCount = Math.max(limit * RESCORE_FACTOR, RESCORE_MIN);
    let count = Math.max(this.opts.postingsPerTermMax, rescoreCount);
    for (let round = 1; ; round++) {
      const scores = new Map<string, number>();
      let bound = 0;
      // terms far below the query's strongest (a word in nearly every document) are not read for candidates;
      // their whole possible weight goes into the bound instead, and rescoring still counts them exactly
      const idfMax = Math.max(...idf.values());
      const read = [...idf.keys()].filter((t) => idf.get(t)! >= idfMax * NEGLIGIBLE_IDF);
      for (const t of idf.keys()) if (!read.includes(t)) bound += idf.get(t)! * (K1 + 1);
      const lists = await Promise.all(read.map(async (t) => [t, await this.bestPostings(t, count)] as const));
      for (const [t, p] of lists) {
        if (!p.complete) bound += idf.get(t)! * p.lastWeight * BOUND_SLACK;
        for (let i = 0; i < p.ids.length; i++) {
          const id = p.ids[i]!;
          scores.set(id, (scores.get(id) ?? 0) + weight(t, p.tf[i]!, p.dl[i]!));
        }
      }
      // every term read whole: partial scores are exact
      if (bound === 0) return topK(scores, limit);
      const ranked = topK(scores, rescoreCount + 1);
      const candidates = ranked.slice(0, rescoreCount);
      const exact = await this.rescore(candidates, idf, weight);
      const top = topK(exact, limit);
      const kth = top.length >= limit ? top[limit - 1]!.score : 0;
      const bestOutside = ranked[rescoreCount]?.score ?? 0;
      if ((top.length >= limit && bestOutside + bound <= kth) || round === ROUNDS_MAX) return top;
      count *= 4;
    }
  }

  private async rescore(
    candidates: readonly KeywordHit[],
    idf: ReadonlyMap<string, number>,
    weight: (t: string, tf: number, dl: number) => number,
  ): Promise<Map<string, number>> {
    const docs = candidates.length <= 64 ? candidates.map((c) => this.opts.docs.getSync(c.id)) : await this.opts.docs.getMany(candidates.map((c) => c.id));
    const exact = new Map<string, number>();
    candidates.forEach((c, i) => {
      const doc = docs[i];
      if (!doc) return;
      let score = 0;
      doc.keys.forEach((key, j) => {
        const t = key.slice(0, key.indexOf('\u0000'));
        if (idf.has(t)) score += weight(t, doc.tf?.[j] ?? 1, doc.dl);
      });
      exact.set(c.id, score);
    });
    return exact;
  }
}

const better = (a: KeywordHit, b: KeywordHit) => a.score > b.score || (a.score === b.score && a.id < b.id);

/** The k best entries, best first, by a bounded min-heap: O(n log k) instead of sorting every scored document. */
export function topK(scores: Map<string, number>, k: number): KeywordHit[] {
  if (k <= 0) return [];
  const heap: KeywordHit[] = []; // heap[0] is the worst of the kept entries
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!better(heap[parent]!, heap[i]!)) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < heap.length && better(heap[worst]!, heap[l]!)) worst = l;
      if (r < heap.length && better(heap[worst]!, heap[r]!)) worst = r;
      if (worst === i) return;
      [heap[worst], heap[i]] = [heap[i]!, heap[worst]!];
      i = worst;
    }
  };
  for (const [id, score] of scores) {
    const hit = { id, score };
    if (heap.length < k) {
      heap.push(hit);
      up(heap.length - 1);
    } else if (better(hit, heap[0]!)) {
      heap[0] = hit;
      down(0);
    }
  }
  return heap.sort((a, b) => (better(a, b) ? -1 : 1));
}
