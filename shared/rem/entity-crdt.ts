// The entity CRDT: every field is a last-writer-wins register keyed by HLC; properties and edges are LWW maps
// (a null value is a removal that still carries its timestamp); aliases are an add-only LWW map; a delete is a
// watermark that erases every register written at or before it. Merge is commutative, associative and idempotent,
// so replicas that saw the same ops in any order, any number of times, hold the same state.
import { hlcIso } from './hlc.js';
import type { EdgeDelta, EntityDelta } from './ops.js';
import type { Edge, Entity } from './types.js';
import { normalizeKey } from './text.js';

export interface Reg<T> {
  v: T;
  t: string;
}

export interface EntityState {
  /** Delete watermark: registers with t <= del are gone. */
  del?: string;
  /** Earliest put ever seen (created_at), unaffected by deletes. */
  c?: string;
  type?: Reg<string>;
  key?: Reg<string>;
  name?: Reg<string>;
  emb?: Reg<string | null>;
  aliases: Record<string, Reg<string>>;
  props: Record<string, Reg<unknown>>;
  edges: Record<string, Reg<{ rel: string; to: string; properties: Record<string, unknown>; weight: number } | null>>;
}

export const emptyEntityState = (): EntityState => ({ aliases: ownMap(), props: ownMap(), edges: ownMap() });

// The maps of a state are keyed by what clients send (property names, aliases), so they are null-prototype objects
// and are read through own-property checks only: a property named `constructor` or `toString` must be an ordinary
// key, not the inherited function (which silently swallowed such writes), and `__proto__` must not be a setter.
function ownMap<T>(src?: Record<string, T>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  if (src) for (const k of Object.keys(src)) out[k] = src[k]!;
  return out;
}

function own<T>(m: Record<string, T>, k: string): T | undefined {
  return Object.hasOwn(m, k) ? m[k] : undefined;
}

/** Sets `o[k]` on an ordinary object as an own property, whatever `k` is (`__proto__` included). */
export function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

export const edgeKey = (rel: string, to: string) => `${rel}\u0000${to}`;

function newer<T>(cur: Reg<T> | undefined, t: string): boolean {
  // equal timestamps can only be the same op applied again: keep what is there (idempotence)
  return cur === undefined || t > cur.t;
}

function live(t: string, del: string | undefined): boolean {
  return del === undefined || t > del;
}

/** Applies a delta written at `t` (returns a new state, or `state` itself when the delta changes nothing). */
export function applyEntityDelta(state: EntityState, d: EntityDelta, t: string): EntityState {
  return mergeEntityDelta(state, d, t, false).state;
}

/**
 * Applies a delta written at `t` and says whether it changed anything (it did not when every register it writes holds
 * a newer value already, or it is the same op again). The input is not modified, and comes back as is when nothing
 * changed; with `mutable`, the caller owns `state` (a result of an earlier merge in the same batch), which is then
 * updated in place: a batch of many deltas to one entity copies its maps once, not once per delta.
 */
export function mergeEntityDelta(state: EntityState, d: EntityDelta, t: string, mutable: boolean): { state: EntityState; changed: boolean } {
  // registers are never modified in place, so copying the maps (not the registers) is enough
  let s: EntityState | undefined = mutable ? state : undefined;
  let changed = false;
  const w = (): EntityState => {
    changed = true;
    return (s ??= { ...state, aliases: ownMap(state.aliases), props: ownMap(state.props), edges: ownMap(state.edges) });
  };
  const cur = (): EntityState => s ?? state;
  if (state.c === undefined || t < state.c) w().c = t;
  if (!live(t, state.del)) return { state: s ?? state, changed };
  const reg = <T>(r: Reg<T> | undefined, v: T): Reg<T> | undefined => (newer(r, t) ? { v, t } : undefined);
  let r: Reg<unknown> | undefined;
  if ((r = reg(state.type, d.type))) w().type = r as Reg<string>;
  if ((r = reg(state.key, d.key))) w().key = r as Reg<string>;
  if (d.name !== undefined && (r = reg(state.name, d.name))) w().name = r as Reg<string>;
  if (d.embedding !== undefined && (r = reg(state.emb, d.embedding))) w().emb = r as EntityState['emb'];
  for (const a of d.aliases ?? []) {
    const k = normalizeKey(a);
    if (k && (r = reg(own(cur().aliases, k), a))) w().aliases[k] = r as Reg<string>;
  }
  const props = d.properties ?? {};
  for (const k of Object.keys(props)) {
    const v = props[k];
    if ((r = reg(own(cur().props, k), v === undefined ? null : v))) w().props[k] = r as Reg<unknown>;
  }
  for (const e of d.edges ?? []) {
    const k = edgeKey(e.rel, e.to);
    if ((r = reg(own(cur().edges, k), { rel: e.rel, to: e.to, properties: e.properties, weight: e.weight }))) w().edges[k] = r as EntityState['edges'][string];
  }
  for (const e of d.edges_remove ?? []) {
    const k = edgeKey(e.rel, e.to);
    if ((r = reg(own(cur().edges, k), null))) w().edges[k] = r as EntityState['edges'][string];
  }
  return { state: s ?? state, changed };
}

/**
 * Whether a delta at `t` lost last-writer-wins to a newer write (for the conflict metric): a register it writes with
 * another value was written later, or the entity was deleted after it. Type and key registers are left out: every
 * delta writes them, with the same value but for spelling.
 */
export function entityDeltaLost(state: EntityState, d: EntityDelta, t: string): boolean {
  if (!live(t, state.del)) return true;
  const lost = (cur: Reg<unknown> | undefined, v: unknown) => cur !== undefined && cur.t > t && JSON.stringify(cur.v) !== JSON.stringify(v);
  if (d.name !== undefined && lost(state.name, d.name)) return true;
  if (d.embedding !== undefined && lost(state.emb, d.embedding)) return true;
  const props = d.properties ?? {};
  for (const k of Object.keys(props)) if (lost(own(state.props, k), props[k] ?? null)) return true;
  for (const e of d.edges ?? []) if (lost(own(state.edges, edgeKey(e.rel, e.to)), { rel: e.rel, to: e.to, properties: e.properties, weight: e.weight })) return true;
  for (const e of d.edges_remove ?? []) if (lost(own(state.edges, edgeKey(e.rel, e.to)), null)) return true;
  return false;
}

function dropUpTo<T>(map: Record<string, Reg<T>>, del: string): Record<string, Reg<T>> {
  const out = ownMap<Reg<T>>();
  for (const k of Object.keys(map)) if (map[k]!.t > del) out[k] = map[k]!;
  return out;
}

/** Applies a delete at `t`: everything written at or before `t` disappears; later writes survive. */
export function applyEntityDelete(state: EntityState, t: string): EntityState {
  if (state.del !== undefined && state.del >= t) return state;
  const keep = <T>(r: Reg<T> | undefined) => (r && r.t > t ? r : undefined);
  return {
    del: t,
    ...(state.c !== undefined ? { c: state.c } : {}),
    ...(keep(state.type) ? { type: state.type } : {}),
    ...(keep(state.key) ? { key: state.key } : {}),
    ...(keep(state.name) ? { name: state.name } : {}),
    ...(keep(state.emb) ? { emb: state.emb } : {}),
    aliases: dropUpTo(state.aliases, t),
    props: dropUpTo(state.props, t),
    edges: dropUpTo(state.edges, t),
  };
}

/** Merges two states (join of the semilattice); used to prove convergence, and equal to replaying both op sets. */
export function mergeEntityStates(a: EntityState, b: EntityState): EntityState {
  const del = a.del === undefined ? b.del : b.del === undefined ? a.del : a.del > b.del ? a.del : b.del;
  const pick = <T>(x: Reg<T> | undefined, y: Reg<T> | undefined) => {
    const w = x === undefined ? y : y === undefined ? x : y.t > x.t ? y : x;
    return w && live(w.t, del) ? w : undefined;
  };
  const mergeMap = <T>(x: Record<string, Reg<T>>, y: Record<string, Reg<T>>) => {
    const out = ownMap<Reg<T>>();
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      const w = pick(own(x, k), own(y, k));
      if (w) out[k] = w;
    }
    return out;
  };
  const c = a.c === undefined ? b.c : b.c === undefined ? a.c : a.c < b.c ? a.c : b.c;
  const s: EntityState = { aliases: mergeMap(a.aliases, b.aliases), props: mergeMap(a.props, b.props), edges: mergeMap(a.edges, b.edges) };
  if (del !== undefined) s.del = del;
  if (c !== undefined) s.c = c;
  for (const f of ['type', 'key', 'name', 'emb'] as const) {
    const w = pick<unknown>(a[f], b[f]);
    if (w) (s as unknown as Record<string, unknown>)[f] = w;
  }
  return s;
}

const byKey = <T>(m: Record<string, T>) => Object.keys(m).sort();

/** Canonical serialisation (sorted keys) so equal states hash equally on every replica. */
export function canonicalEntityState(s: EntityState): string {
  const sortObj = (m: Record<string, unknown>) => {
    const out: Record<string, unknown> = {};
    for (const k of byKey(m)) setOwn(out, k, m[k]);
    return out;
  };
  return JSON.stringify({
    del: s.del ?? null,
    c: s.c ?? null,
    type: s.type ?? null,
    key: s.key ?? null,
    name: s.name ?? null,
    emb: s.emb ?? null,
    aliases: sortObj(s.aliases),
    props: sortObj(s.props),
    edges: sortObj(s.edges),
  });
}

/** The entity as clients see it, or undefined when the state holds no live put (never written, or deleted). */
export function entityView(id: string, s: EntityState): Entity | undefined {
  if (!s.key || !s.type) return undefined;
  const aliases = Object.values(s.aliases)
    .sort((x, y) => (x.t < y.t ? -1 : x.t > y.t ? 1 : x.v < y.v ? -1 : 1))
    .map((r) => r.v);
  const properties: Record<string, unknown> = {};
  for (const k of byKey(s.props)) if (s.props[k]!.v !== null) setOwn(properties, k, s.props[k]!.v);
  const edges: Edge[] = [];
  for (const k of byKey(s.edges)) {
    const r = s.edges[k]!;
    if (r.v) edges.push({ rel: r.v.rel, to: r.v.to, properties: r.v.properties, weight: r.v.weight, updated_at: hlcIso(r.t) });
  }
  return {
    id,
    type: s.type.v,
    key: s.key.v,
    name: s.name?.v ?? s.key.v,
    aliases,
    properties,
    edges,
    created_at: hlcIso(s.c ?? s.key.t),
    updated_at: hlcIso(s.key.t),
  };
}

/** Coalesces two deltas of the same entity within one write (the later one wins field by field). */
export function coalesceDeltas(a: EntityDelta, b: EntityDelta): EntityDelta {
  const out: EntityDelta = { type: b.type, key: b.key };
  const name = b.name ?? a.name;
  if (name !== undefined) out.name = name;
  const emb = b.embedding !== undefined ? b.embedding : a.embedding;
  if (emb !== undefined) out.embedding = emb;
  if (a.aliases || b.aliases) out.aliases = [...(a.aliases ?? []), ...(b.aliases ?? [])];
  if (a.properties || b.properties) out.properties = { ...(a.properties ?? {}), ...(b.properties ?? {}) };
  const edges = new Map<string, EdgeDelta | null>();
  for (const d of [a, b]) {
    for (const e of d.edges ?? []) edges.set(edgeKey(e.rel, e.to), e);
    for (const e of d.edges_remove ?? []) edges.set(edgeKey(e.rel, e.to), null);
  }
  const adds: EdgeDelta[] = [];
  const removes: { rel: string; to: string }[] = [];
  for (const [k, e] of edges) {
    if (e) adds.push(e);
    else {
      const [rel, to] = k.split('\u0000') as [string, string];
      removes.push({ rel, to });
    }
  }
  if (adds.length) out.edges = adds;
  if (removes.length) out.edges_remove = removes;
  return out;
}
