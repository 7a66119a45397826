// Entities: mutable graph nodes identified by (type, normalised key). Upserts merge properties field by field
// (null removes a field) and edges by (rel, to); edges are stored inline and in a reverse index for incoming traversal.
import { ByteBudget, RESPONSE_BYTES_BOUND, edgeBytes, textBytes } from '../rem/byte-budget.js';
import { TimeSlice } from '../rem/time-slice.js';
import { RemError } from '../rem/errors.js';
import { entityId } from '../rem/ids.js';
import { checkEntityInput, EDGE_TARGETS_PER_WRITE_MAX, resolveEntityRef } from '../rem/rules.js';
import { normalizeKey } from '../rem/text.js';
import type { Entity, EntityInput } from '../rem/types.js';
import { checkEmbedding } from '../rem/validate.js';
import {
  ENTITY_NAME_PREFIX,
  HIGH,
  SEP,
  entityKeyKey,
  entityKeyPrefix,
} from './keys.js';
import { coalesceDeltas } from '../rem/entity-crdt.js';
import { encodeVector, type EntityDelta, type Mutation } from '../rem/ops.js';
import { checkWriteQuota } from './quota.js';
import { deleteLocal, type WriteOptions } from './whole-records.js';
import type { TenantStore } from './tenant-store.js';

export { entityText } from '../rem/record-text.js';

/** Validates one entity input and turns it into a CRDT delta (edge targets resolved to ids). */
function toDelta(store: TenantStore, input: EntityInput, i: number): { id: string; delta: EntityDelta } {
  const f = `entities[${i}]`;
  const { type, key, aliases, properties, edges, removes } = checkEntityInput(input, f);
  const raw: EntityDelta = { type, key };
  if (input.name !== undefined) raw.name = input.name;
  if (aliases.length) raw.aliases = aliases;
  if (input.properties !== undefined) raw.properties = properties;
  if (edges.length) raw.edges = edges;
  if (removes.length) raw.edges_remove = removes;
  if (input.embedding !== undefined) raw.embedding = encodeVector(checkEmbedding(input.embedding, store.dimension, `${f}.embedding`));
  // an edge both added and removed in one input is removed (removal listed last wins)
  return { id: entityId(type, key), delta: coalesceDeltas({ type, key }, raw) };
}

/**
 * Every edge endpoint is an entity. An edge to `{type, key}` whose entity does not exist creates it, with only its
 * type and key (its name reads as its key until it is written in full; a later write merges as usual), in the same
 * write, so every replica gets it with the edge. An edge to a bare id that names no entity (in the store or in this
 * batch) is refused: no node could ever name its target.
 */
async function edgeTargets(store: TenantStore, inputs: readonly EntityInput[], written: ReadonlySet<string>): Promise<Map<string, EntityDelta>> {
  const byRef = new Map<string, { type: string; key: string }>();
  const bare = new Map<string, string>();
  inputs.forEach((input, i) =>
    (input.edges ?? []).forEach((e, j) => {
      const id = resolveEntityRef(e.to, `entities[${i}].edges[${j}].to`);
      if (written.has(id)) return;
      if (typeof e.to === 'string') bare.set(id, `entities[${i}].edges[${j}]`);
      else byRef.set(id, { type: e.to.type, key: e.to.key });
    }),
  );

  const ids = [...new Set([...byRef.keys(), ...bare.keys()])];
  const found = await store.getManyJson('entities', ids);
  const exists = new Set(ids.filter((_, k) => found[k] !== undefined));
  for (const [id, field] of bare) {
    if (!exists.has(id)) throw new RemError('edge_target_not_found', `${field}.to: no entity has id ${id} (name a new target by {"type","key"} to create it)`, { path: field, id });
  }
  const stubs = new Map<string, EntityDelta>();
  for (const [id, ref] of byRef) if (!exists.has(id)) stubs.set(id, { type: ref.type, key: ref.key });
  if (stubs.size > EDGE_TARGETS_PER_WRITE_MAX) {
    throw new RemError('limit_exceeded', `the write would create ${stubs.size} edge targets (edges to {"type","key"} that do not exist); at most ${EDGE_TARGETS_PER_WRITE_MAX}: write the targets first, or in smaller batches`);
  }
  return stubs;
}

/** Upserts entities (merging into existing ones); returns ids in input order. Repeated ids merge in order. */
export async function putEntities(store: TenantStore, inputs: readonly EntityInput[], opts: WriteOptions = {}): Promise<string[]> {
  const prepared = inputs.map((input, i) => toDelta(store, input, i));
  const deltas = new Map<string, EntityDelta>();
  for (const p of prepared) {
    const prev = deltas.get(p.id);
    deltas.set(p.id, prev ? coalesceDeltas(prev, p.delta) : p.delta);
  }
  // targets go after the entities written: a stub is only ever the first version of an entity
  for (const [id, stub] of await edgeTargets(store, inputs, new Set(deltas.keys()))) deltas.set(id, stub);
  if (opts.quota) await checkWriteQuota(store, opts.quota, 'entities', [...deltas.keys()]);
  const mutations = [...deltas].map(([id, delta]): Mutation => ({ type: 'put', kind: 'entities', id, delta }));
  // the same mutations go ahead of the write: their vectors are embedded before the tenant's write lock is taken
  await store.writeLocal(() => mutations, mutations);
  return prepared.map((p) => p.id);
}

export async function deleteEntity(store: TenantStore, id: string): Promise<boolean> {
  return deleteLocal(store, 'entities', id);
}

/** Entities whose natural key matches (case- and space-insensitive), optionally of one type. */
export async function lookupEntities(store: TenantStore, key: string, type?: string, limit = 100): Promise<Entity[]> {
  return (await lookupEntitiesBounded(store, key, type, limit)).entities;
}

/** lookupEntities within the store's answer budget: `truncated` when matches were left out for their size. */
export async function lookupEntitiesBounded(
  store: TenantStore,
  key: string,
  type?: string,
  limit = 100,
): Promise<{ entities: Entity[]; truncated: boolean; bytes: number[] }> {
  const nkey = normalizeKey(key);
  if (!nkey) return { entities: [], truncated: false, bytes: [] };
  let ids: string[];
  if (type !== undefined) {
    const id = await store.getKey<string>('idx', entityKeyKey(normalizeKey(type), nkey));
    ids = id ? [id] : [];
  } else {
    const prefix = entityKeyPrefix(nkey);
    ids = await store.values<string>('idx', { gte: prefix, lt: prefix + HIGH, limit }).all();
  }
  return readWithinBudget(store, ids);
}

/**
 * Entities by id, in order, until the next would exceed the store's `responseBytesMax` (the first always fits):
 * measured from their stored JSON before parsing, since an entity can be megabytes of properties and edges.
 */
async function readWithinBudget(store: TenantStore, ids: readonly string[]): Promise<{ entities: Entity[]; truncated: boolean; bytes: number[] }> {
  const json = await store.getManyJson('entities', ids);
  const budget = new ByteBudget(store.limits.responseBytesMax);
  const entities: Entity[] = [];
  const sizes: number[] = [];
  const slice = new TimeSlice();
  for (const j of json) {
    if (slice.due()) await slice.pause();
    if (j === undefined) continue;
    const size = textBytes(j);
    if (!budget.take(size) && entities.length > 0) return { entities, truncated: true, bytes: sizes };
    entities.push(JSON.parse(j) as Entity);
    sizes.push(size);
  }
  return { entities, truncated: false, bytes: sizes };
}

function trigrams(s: string): Map<string, number> {
  const padded = `  ${s} `;
  const out = new Map<string, number>();
  for (let i = 0; i + 3 <= padded.length; i++) {
    const g = padded.slice(i, i + 3);
    out.set(g, (out.get(g) ?? 0) + 1);
  }
  return out;
}

/** Dice coefficient over character trigrams: 1 for equal strings, tolerant of typos and word order. */
export function trigramSimilarity(a: string, b: string): number {
  if (a === b) return 1;
  const ta = trigrams(a);
  const tb = trigrams(b);
  let shared = 0;
  let total = 0;
  for (const [g, n] of ta) {
    total += n;
    shared += Math.min(n, tb.get(g) ?? 0);
  }
  for (const n of tb.values()) total += n;
  return total === 0 ? 0 : (2 * shared) / total;
}

export type FuzzyMatch = 'exact' | 'prefix' | 'fuzzy';
export interface FuzzyHit {
  entity: Entity;
  score: number;
  match: FuzzyMatch;
  matched: string;
}

/** Exact, then prefix, then trigram-fuzzy matches on keys, names and aliases; best match per entity, scored in (0, 1]. */
export async function fuzzyEntities(
  store: TenantStore,
  text: string,
  opts: { limit: number; threshold?: number },
): Promise<{ hits: FuzzyHit[]; truncated: boolean; bound?: 'fuzzy_scan_max' | typeof RESPONSE_BYTES_BOUND }> {
  const q = normalizeKey(text);
  if (!q) return { hits: [], truncated: false };
  const threshold = opts.threshold ?? 0.3;
  const best = new Map<string, { score: number; match: FuzzyMatch; matched: string }>();
  const offer = (id: string, score: number, match: FuzzyMatch, matched: string) => {
    const prev = best.get(id);
    if (!prev || prev.score < score) best.set(id, { score, match, matched });
  };
  const nameOf = (key: string) => key.slice(ENTITY_NAME_PREFIX.length, key.lastIndexOf(SEP));
  // exact and prefix: one range scan starting at the query
  const from = ENTITY_NAME_PREFIX + q;
  for await (const [key, id] of store.iterator<string>('idx', { gte: from, lt: from + HIGH, limit: opts.limit * 20 })) {
    const name = nameOf(key);
    if (name === q) offer(id, 1, 'exact', name);
    else offer(id, 0.7 + 0.25 * (q.length / name.length), 'prefix', name);
  }
  let truncated = false;
  if (best.size < opts.limit) {
    let scanned = 0;
    for await (const [key, id] of store.iterator<string>('idx', { gte: ENTITY_NAME_PREFIX, lt: ENTITY_NAME_PREFIX + HIGH })) {
      if (++scanned > store.limits.fuzzyScanMax) {
        truncated = true;
        break;
      }
      const name = nameOf(key);
      let sim = trigramSimilarity(q, name);
      // a query matching one word of a longer name well ("curie" in "marie curie") counts too
      for (const word of name.split(' ')) if (word !== name) sim = Math.max(sim, 0.9 * trigramSimilarity(q, word));
      if (sim >= threshold) offer(id, 0.7 * sim, 'fuzzy', name);
    }
  }
  const ranked = [...best.entries()].sort((a, b) => b[1].score - a[1].score || (a[0] < b[0] ? -1 : 1)).slice(0, opts.limit);
  const json = await store.getManyJson('entities', ranked.map(([id]) => id));
  const budget = new ByteBudget(store.limits.responseBytesMax);
  const hits: FuzzyHit[] = [];
  let bound: 'fuzzy_scan_max' | typeof RESPONSE_BYTES_BOUND | undefined = truncated ? 'fuzzy_scan_max' : undefined;
  for (let i = 0; i < ranked.length; i++) {
    const j = json[i];
    if (j === undefined) continue;
    if (!budget.take(textBytes(j)) && hits.length > 0) {
      truncated = true;
      bound = RESPONSE_BYTES_BOUND;
      break;
    }
    hits.push({ entity: JSON.parse(j) as Entity, ...ranked[i]![1] });
  }
  return { hits, truncated, ...(bound ? { bound } : {}) };
}

export type Direction = 'out' | 'in' | 'both';
export interface GraphEdge {
  from: string;
  rel: string;
  to: string;
  weight: number;
  properties?: Record<string, unknown>;
}
/** Which bound stopped a traversal early. */
export type NeighborhoodBound = 'traversal_nodes_max' | 'traversal_edges_max' | 'response_bytes_max' | 'time_ms_max';
export interface Neighborhood {
  nodes: (Entity & { depth: number })[];
  edges: GraphEdge[];
  truncated: boolean;
  /** The bound that stopped the walk, when `truncated`. */
  bound?: NeighborhoodBound;
}

export interface NeighborOptions {
  depth: number;
  direction: Direction;
  rel?: string;
  /** Nodes the walk may visit (at most store.limits.traversalNodesMax). */
  nodesMax?: number;
  /** Edges the answer may hold (at most store.limits.traversalEdgesMax). */
  edgesMax?: number;
  /** Bytes the answer's nodes and edges may take (a ByteBudget): the walk stops before the first that does not fit. */
  bytes?: { take(bytes: number): boolean };
  /** Counts the walk's work; it stops when this says time is up (a query's Budget). */
  clock?: { tick(units: number): boolean };
}

/** Edges gathered and settled together: new nodes at their far ends are read in one call. */
const WALK_CHUNK = 256;

/**
 * Breadth-first neighbourhood up to `depth` hops. The answer holds the nodes reached (each with its depth) and the
 * edges between them; it stops at the first bound it meets, says which in `bound`, and keeps what it had: `nodesMax`
 * nodes visited, `edgesMax` edges, the byte budget for nodes (measured from their stored JSON before they are parsed)
 * and edges, or the clock. An edge to an entity that does not exist is kept and its far end walked (it may have
 * incoming edges) but not listed among the nodes.
 */
export async function neighbors(store: TenantStore, startId: string, opts: NeighborOptions): Promise<Neighborhood> {
  const nodesMax = Math.min(opts.nodesMax ?? store.limits.traversalNodesMax, store.limits.traversalNodesMax);
  const edgesMax = Math.min(opts.edgesMax ?? store.limits.traversalEdgesMax, store.limits.traversalEdgesMax);
  const { bytes, clock } = opts;
  const [startJson] = await store.getManyJson('entities', [startId]);
  if (startJson === undefined) throw new RemError('not_found', `entity ${startId} not found`);
  const visited = new Set<string>();
  const records = new Map<string, Entity & { depth: number }>();
  const nodes: (Entity & { depth: number })[] = [];
  const edges = new Map<string, GraphEdge>();
  let bound: NeighborhoodBound | undefined;
  const stop = (b: NeighborhoodBound) => {
    bound ??= b;
    return false;
  };
  /** Visits a node (its JSON undefined when the entity does not exist); false when the byte budget is spent. */
  const admit = (id: string, json: string | undefined, depth: number): boolean => {
    if (json !== undefined) {
      // `,"depth":n` and the comma between nodes
      if (bytes && !bytes.take(Buffer.byteLength(json, 'utf8') + 16)) return stop('response_bytes_max');
      const node = JSON.parse(json) as Entity & { depth: number };
      node.depth = depth;
      records.set(id, node);
      nodes.push(node);
    }
    visited.add(id);
    return true;
  };
  // properties of incoming edges (the reverse index holds weights only) come from the source record, indexed once
  const outProps = new Map<string, Map<string, Record<string, unknown>>>();
  const propertiesOf = (from: string, rel: string, to: string): Record<string, unknown> => {
    const r = records.get(from);
    if (!r) return {};
    let m = outProps.get(from);
    if (!m) {
      m = new Map(r.edges.map((x) => [`${x.rel}${SEP}${x.to}`, x.properties]));
      outProps.set(from, m);
    }
    return m.get(`${rel}${SEP}${to}`) ?? {};
  };
  const slice = new TimeSlice();
  const breathe = () => slice.maybeYield();
  /** Settles a chunk of edges found at depth `d` (`far` is the end away from the frontier); false stops the walk. */
  const settle = async (chunk: GraphEdge[], far: (e: GraphEdge) => string, d: number, next: string[]): Promise<boolean> => {
    const fresh = [...new Set(chunk.map(far).filter((x) => !visited.has(x)))].slice(0, nodesMax - visited.size);
    const json = await store.getManyJson('entities', fresh);
    const jsonOf = new Map(fresh.map((x, i) => [x, json[i]]));
    for (const e of chunk) {
      if (clock && !clock.tick(32)) return stop('time_ms_max');
      const key = `${e.from}${SEP}${e.rel}${SEP}${e.to}`;
      if (edges.has(key)) continue;
      const other = far(e);
      if (!visited.has(other)) {
        if (visited.size >= nodesMax) return stop('traversal_nodes_max');
        if (!admit(other, jsonOf.get(other), d)) return false;
        next.push(other);
      }
      if (edges.size >= edgesMax) return stop('traversal_edges_max');
      e.properties ??= propertiesOf(e.from, e.rel, e.to);
      if (bytes && !bytes.take(edgeBytes(e) + 1)) return stop('response_bytes_max');
      edges.set(key, e);
    }
    await breathe();
    return true;
  };

  if (!admit(startId, startJson, 0)) return { nodes, edges: [], truncated: true, bound };
  let frontier = [startId];
  walk: for (let d = 1; d <= opts.depth && frontier.length > 0; d++) {
    const next: string[] = [];
    for (const id of frontier) {
      if (opts.direction !== 'in') {
        const out = records.get(id)?.edges ?? [];
        const to = (e: GraphEdge) => e.to;
        let chunk: GraphEdge[] = [];
        for (const e of out) {
          if (opts.rel !== undefined && e.rel !== opts.rel) continue;
          chunk.push({ from: id, rel: e.rel, to: e.to, weight: e.weight, properties: e.properties });
          if (chunk.length >= WALK_CHUNK) {
            if (!(await settle(chunk, to, d, next))) break walk;
            chunk = [];
          }
        }
        if (chunk.length > 0 && !(await settle(chunk, to, d, next))) break walk;
      }
      if (opts.direction !== 'out') {
        const prefix = opts.rel !== undefined ? `${id}${SEP}${opts.rel}${SEP}` : `${id}${SEP}`;
        const from = (e: GraphEdge) => e.from;
        const it = store.iterator<number>('redge', { gte: prefix, lt: prefix + HIGH });
        try {
          for (;;) {
            const entries = await it.nextv(WALK_CHUNK);
            if (entries.length === 0) break;
            const chunk = entries.map(([key, weight]): GraphEdge => {
              const [, rel, src] = key.split(SEP) as [string, string, string];
              return { from: src, rel, to: id, weight };
            });
            if (!(await settle(chunk, from, d, next))) break walk;
          }
        } finally {
          await it.close();
        }
      }
    }
    frontier = next;
  }
  const out: Neighborhood = { nodes, edges: [...edges.values()], truncated: bound !== undefined };
  if (bound) out.bound = bound;
  return out;
}
