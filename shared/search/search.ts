// Search over one tenant: vector (HNSW), keyword (BM25) or hybrid (reciprocal rank fusion), with filters.
//
// Filters that a secondary index can answer (resource uri prefix, moment time range) first gather candidate ids:
// a small candidate set is scored exactly (brute force over its vectors), a larger one filters inside the HNSW walk.
// Remaining predicates (metadata equality, other time fields) are checked on the hydrated records, widening the
// candidate pool until `limit` results pass or the pool is exhausted.
import type { Entity, Moment, RemKind, RemRecord, Resource } from '../rem/types.js';
import { ByteBudget, textBytes } from '../rem/byte-budget.js';
import { TimeSlice } from '../rem/time-slice.js';
import { RemError, invalid } from '../rem/errors.js';
import { parseTime } from '../rem/validate.js';
import { HIGH, MOMENT_TIME_PREFIX, RESOURCE_URI_PREFIX, momentTimeBound } from '../store/keys.js';
import type { TenantStore } from '../store/tenant-store.js';
import { reciprocalRankFusion } from '../index/fusion.js';
import { bufferToVector } from '../rem/codec.js';

export type SearchMode = 'vector' | 'keyword' | 'hybrid';
export const SEARCH_MODES: readonly SearchMode[] = ['hybrid', 'vector', 'keyword'];

export type Scalar = string | number | boolean | null;

export interface SearchFilters {
  /** Resources whose uri starts with this (other kinds have no uri and are excluded). */
  uri_prefix?: string;
  /** Equality on metadata (resources, moments) or properties (entities). */
  metadata?: Record<string, Scalar>;
  /** Time range (RFC 3339) on moments' start_time, resources' created_at, entities' updated_at. */
  from?: string;
  to?: string;
}

export interface SearchRequest {
  /** Query text (keyword and hybrid modes need it; vector mode embeds it unless `vector` is given). */
  query?: string;
  /** A precomputed query vector of the tenant's dimension (vector and hybrid modes). */
  vector?: Float32Array;
  kinds: readonly RemKind[];
  mode: SearchMode;
  limit: number;
  filters?: SearchFilters;
  /** HNSW ef for this query (defaults to the index's efSearch). */
  ef?: number;
  /** Bytes of records (as JSON) the answer may hold; defaults to the store's `responseBytesMax`. */
  bytesMax?: number;
}

export interface SearchAnswer {
  hits: SearchHit[];
  /** True when hits were left out because the answer reached its byte budget. */
  truncated: boolean;
}

export interface SearchHit<R = RemRecord> {
  kind: RemKind;
  id: string;
  score: number;
  record: R;
}

/** Sets below this size are scored exactly instead of walking the graph with a filter. */
const EXACT_CANDIDATES_MAX = 2000;
const POOL_MAX = 4096;

interface Plan {
  /** Candidate ids from a secondary index, or undefined when no index applies (or too many to collect). */
  candidates?: Set<string>;
  predicate: (r: RemRecord) => boolean;
  /** True when no record of this kind can match. */
  empty: boolean;
}

function timeOf(kind: RemKind, r: RemRecord): string {
  if (kind === 'moments') return (r as Moment).start_time;
  if (kind === 'entities') return (r as Entity).updated_at;
  return (r as Resource).created_at;
}

function metadataOf(kind: RemKind, r: RemRecord): Record<string, unknown> {
  return kind === 'entities' ? (r as Entity).properties : (r as Resource | Moment).metadata;
}

async function collect(store: TenantStore, gte: string, lt: string, max: number): Promise<Set<string> | undefined> {
  const ids = await store.values<string>('idx', { gte, lt, limit: max + 1 }).all();
  return ids.length > max ? undefined : new Set(ids);
}

async function plan(store: TenantStore, kind: RemKind, f: SearchFilters | undefined): Promise<Plan> {
  if (!f) return { predicate: () => true, empty: false };
  const fromMs = f.from !== undefined ? parseTime(f.from, 'filters.from') : undefined;
  const toMs = f.to !== undefined ? parseTime(f.to, 'filters.to') : undefined;
  const meta = f.metadata ? Object.entries(f.metadata) : [];
  if (f.uri_prefix !== undefined && kind !== 'resources') return { predicate: () => false, empty: true };
  const predicate = (r: RemRecord) => {
    if (f.uri_prefix !== undefined && !(r as Resource).uri.startsWith(f.uri_prefix)) return false;
    if (fromMs !== undefined || toMs !== undefined) {
      const t = Date.parse(timeOf(kind, r));
      if (fromMs !== undefined && t < fromMs) return false;
      if (toMs !== undefined && t > toMs) return false;
    }
    const m = metadataOf(kind, r);
    // own properties only: a filter on `constructor` must not see Object.prototype's
    for (const [k, v] of meta) if ((Object.hasOwn(m, k) ? m[k] : undefined) !== v) return false;
    return true;
  };
  let candidates: Set<string> | undefined;
  const max = store.limits.filterCandidatesMax;
  if (kind === 'resources' && f.uri_prefix !== undefined) {
    candidates = await collect(store, RESOURCE_URI_PREFIX + f.uri_prefix, RESOURCE_URI_PREFIX + f.uri_prefix + HIGH, max);
  } else if (kind === 'moments' && (fromMs !== undefined || toMs !== undefined)) {
    const gte = fromMs !== undefined ? momentTimeBound(fromMs) : MOMENT_TIME_PREFIX;
    const lt = toMs !== undefined ? momentTimeBound(toMs + 1) : MOMENT_TIME_PREFIX + HIGH;
    candidates = await collect(store, gte, lt, max);
  }
  return { candidates, predicate, empty: candidates !== undefined && candidates.size === 0 };
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function norm(a: Float32Array): number {
  return Math.sqrt(dot(a, a));
}

/** What one search call carries through its kinds: the byte budget per list, and each kept record's size. */
interface Hydration {
  bytesMax: number;
  /** Shared by the call's lists: parsing big records yields between time slices. */
  slice: TimeSlice;
  sizes: Map<RemRecord, number>;
  truncated: boolean;
}

/** Records read per round while hydrating, so a large pool of big records is never held in memory at once. */
const HYDRATE_CHUNK = 128;

/**
 * Hydrates hits in order, dropping ids whose record vanished or fails the predicate, and stopping once `limit` passed
 * or the kept records fill the byte budget (the first record always fits, so a caller can make progress).
 */
async function hydrate(
  store: TenantStore,
  kind: RemKind,
  hits: readonly { id: string; score: number }[],
  predicate: (r: RemRecord) => boolean,
  limit: number,
  h: Hydration,
): Promise<SearchHit[]> {
  const out: SearchHit[] = [];
  const budget = new ByteBudget(h.bytesMax);
  for (let start = 0; start < hits.length && out.length < limit; start += HYDRATE_CHUNK) {
    const chunk = hits.slice(start, start + HYDRATE_CHUNK);
    const json = await store.getManyJson(kind, chunk.map((x) => x.id));
    for (let i = 0; i < chunk.length && out.length < limit; i++) {
      if (h.slice.due()) await h.slice.pause();
      const j = json[i];
      if (j === undefined) continue;
      const r = JSON.parse(j) as RemRecord;
      if (!predicate(r)) continue;
      const bytes = textBytes(j);
      if (!budget.take(bytes) && out.length > 0) {
        h.truncated = true;
        return out;
      }
      h.sizes.set(r, bytes);
      out.push({ kind, id: chunk[i]!.id, score: chunk[i]!.score, record: r });
    }
  }
  return out;
}

async function vectorSearch(store: TenantStore, kind: RemKind, q: Float32Array, limit: number, p: Plan, h: Hydration, ef?: number): Promise<SearchHit[]> {
  const vi = store.vectorIndex(kind);
  // a query with no features (empty or only punctuation) has no direction to compare against
  if (norm(q) === 0) return [];
  if (p.candidates && p.candidates.size <= EXACT_CANDIDATES_MAX) {
    const ids = [...p.candidates];
    const bufs = await store.storedVectors(kind, ids);
    const qn = norm(q) || 1;
    const scored: { id: string; score: number }[] = [];
    ids.forEach((id, i) => {
      const b = bufs[i];
      if (!b) return;
      const v = bufferToVector(b);
      scored.push({ id, score: dot(q, v) / (qn * (norm(v) || 1)) });
    });
    scored.sort((a, b) => b.score - a.score);
    return hydrate(store, kind, scored, p.predicate, limit, h);
  }
  // a graph built on demand (this node only replicated the tenant so far) gets its backlog first
  await store.serveVectors();
  const accept = p.candidates ? (id: string) => p.candidates!.has(id) : undefined;
  let k = limit;
  for (;;) {
    const hits = vi.search(q, k, ef, accept);
    const out = await hydrate(store, kind, hits, p.predicate, limit, h);
    if (out.length >= limit || h.truncated || hits.length < k || k >= POOL_MAX) return out;
    k = Math.min(POOL_MAX, k * 4);
  }
}

async function keywordSearch(store: TenantStore, kind: RemKind, query: string, limit: number, p: Plan, h: Hydration): Promise<SearchHit[]> {
  // postings on demand (this node only replicated the tenant so far): the logged records are indexed first
  await store.serveKeywords(kind);
  const kw = store.keywordIndex(kind);
  let k = limit;
  for (;;) {
    let hits = await kw.search(query, k);
    const exhausted = hits.length < k;
    if (p.candidates) hits = hits.filter((h) => p.candidates!.has(h.id));
    const out = await hydrate(store, kind, hits, p.predicate, limit, h);
    if (out.length >= limit || h.truncated || exhausted || k >= POOL_MAX) return out;
    k = Math.min(POOL_MAX, k * 4);
  }
}

async function searchKind(store: TenantStore, kind: RemKind, req: SearchRequest, qvec: Float32Array | undefined, h: Hydration): Promise<SearchHit[]> {
  const p = await plan(store, kind, req.filters);
  if (p.empty) return [];
  if (req.mode === 'vector') return vectorSearch(store, kind, qvec!, req.limit, p, h, req.ef);
  if (req.mode === 'keyword') return keywordSearch(store, kind, req.query ?? '', req.limit, p, h);
  // hybrid: fuse a deeper list from each side so items ranked well by only one still surface
  const depth = Math.max(req.limit * 2, 20);
  const [v, k] = await Promise.all([vectorSearch(store, kind, qvec!, depth, p, h, req.ef), keywordSearch(store, kind, req.query ?? '', depth, p, h)]);
  const records = new Map<string, RemRecord>();
  for (const x of v) records.set(x.id, x.record);
  for (const x of k) records.set(x.id, x.record);
  return reciprocalRankFusion([v, k])
    .slice(0, req.limit)
    .map((f) => ({ kind, id: f.id, score: f.score, record: records.get(f.id)! }));
}

/** Ranked hits across the requested kinds (scores are comparable within one mode). */
export async function search(store: TenantStore, req: SearchRequest): Promise<SearchHit[]> {
  return (await searchBounded(store, req)).hits;
}

/**
 * Ranked hits across the requested kinds, within the byte budget: records are hydrated in chunks and measured as
 * they are read, and the answer stops before the hit that would exceed the budget (`truncated`).
 */
export async function searchBounded(store: TenantStore, req: SearchRequest): Promise<SearchAnswer> {
  if (req.mode !== 'vector' && !req.query) throw invalid(`${req.mode} search needs query text`);
  if (req.query === undefined && req.vector === undefined) throw invalid('search needs query text or a vector');
  if (req.vector && req.vector.length !== store.dimension) {
    throw new RemError('invalid_embedding', `vector must have ${store.dimension} dimensions`);
  }
  const h: Hydration = { bytesMax: req.bytesMax ?? store.limits.responseBytesMax, slice: new TimeSlice(), sizes: new Map(), truncated: false };
  const qvec = req.mode === 'keyword' ? undefined : (req.vector ?? (await store.embedTexts([req.query!]))[0]);
  const perKind = await Promise.all(req.kinds.map((kind) => searchKind(store, kind, req, qvec, h)));
  const all = perKind.flat();
  all.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
  const budget = new ByteBudget(h.bytesMax);
  const hits: SearchHit[] = [];
  for (const hit of all) {
    if (hits.length === req.limit) break;
    if (!budget.take(h.sizes.get(hit.record) ?? 0) && hits.length > 0) {
      h.truncated = true;
      break;
    }
    hits.push(hit);
  }
  return { hits, truncated: h.truncated };
}
