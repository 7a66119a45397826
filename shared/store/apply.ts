// The single write path: local writes and replicated ops are both applied here, in one LevelDB batch per call.
//
// Resources and moments are last-writer-wins on the whole record by HLC; a delete leaves a tombstone so an older
// write that arrives later stays deleted. Entities merge as a CRDT (replication/entity-crdt.ts). Each record's
// version (its HLC, or the entity's CRDT state) lives in the `ver` sublevel, tombstones in `tomb`. Local writes also
// put their ops in the outbox, in the same batch, so a write is never acknowledged without its replication record.
import type { Entity, Moment, RemKind, RemRecord, Resource } from '../rem/types.js';
import { applyEntityDelete, applyEntityDelta, emptyEntityState, entityView, type EntityState } from '../rem/entity-crdt.js';
import { hlcIso, hlcMax } from '../rem/hlc.js';
import { buildOps, decodeVector, encodeLocalVectors, localPut, mutationVector, type Mutation, type Op } from '../rem/ops.js';
import type { BatchOp } from '../rem/codec.js';
import { entityText, recordText } from '../rem/record-text.js';
import { entityIndexOps } from './entities.js';
import { momentIndexOps } from './moments.js';
import { resourceIndexOps } from './resources.js';
import { SEP } from './keys.js';
import type { RecordChange, TenantStore } from './tenant-store.js';
import { KIND_SHORT } from './tenant-store.js';

export const versionKey = (kind: RemKind, id: string) => `${KIND_SHORT[kind]}${SEP}${id}`;

interface Touched {
  kind: RemKind;
  id: string;
  oldRecord: RemRecord | undefined;
  record: RemRecord | undefined;
  /** resources/moments: HLC of the live record */
  ver: string | undefined;
  oldVer: string | undefined;
  tomb: string | undefined;
  oldTomb: string | undefined;
  /** entities: CRDT state */
  state: EntityState | undefined;
  oldState: EntityState | undefined;
  /** new vector for a put (resources/moments carry theirs; entities are embedded from their merged text) */
  vector: Float32Array | undefined;
}

export interface ApplyResult {
  /** Mutations that changed state. */
  applied: number;
  /** Mutations already reflected (replays, or older than the current version or tombstone). */
  skipped: number;
  hlcMax: string | undefined;
}

async function load(store: TenantStore, keys: { kind: RemKind; id: string }[]): Promise<Map<string, Touched>> {
  const out = new Map<string, Touched>();
  const reads: (readonly [{ readonly prefix: string }, string])[] = [];
  for (const k of keys) {
    const vkey = versionKey(k.kind, k.id);
    if (out.has(vkey)) continue;
    out.set(vkey, { kind: k.kind, id: k.id } as Touched);
    reads.push([store.kinds[k.kind].records, k.id], [store.versions, vkey], [store.tombstones, vkey]);
  }
  const raw = await store.readRaw(reads);
  let i = 0;
  for (const t of out.values()) {
    const [record, ver, tomb] = [raw[i], raw[i + 1], raw[i + 2]];
    i += 3;
    t.oldRecord = t.record = record === undefined ? undefined : (JSON.parse(record) as RemRecord);
    if (t.kind === 'entities') {
      t.oldState = t.state = ver === undefined ? undefined : (JSON.parse(ver) as EntityState);
    } else {
      t.oldVer = t.ver = ver === undefined ? undefined : (JSON.parse(ver) as string);
      t.oldTomb = t.tomb = tomb;
    }
  }
  return out;
}

/** Applies validated replicated ops (from the applier or POST /sync) under the tenant's write lock. */
export function applyReplicated(store: TenantStore, ops: readonly Op[]): Promise<ApplyResult> {
  return store.writeLock.run(() => applyOps(store, ops, { local: false }));
}

/**
 * Applies ops in order (merging into what the store holds) and commits the result in one batch.
 * The caller holds `store.writeLock`. `local` ops go to the outbox and run the entity write hooks' checks.
 */
export async function applyOps(store: TenantStore, ops: readonly Op[], opts: { local: boolean }): Promise<ApplyResult> {
  // remote timestamps move the node's clock: one beyond the drift bound must not get that far (validateOp refuses
  // such ops first; this keeps the invariant for every caller)
  if (!opts.local) for (const op of ops) store.clock.checkRemote(op.hlc);
  const touched = await load(
    store,
    ops.flatMap((op) => op.mutations.map((m) => ({ kind: m.kind, id: m.id }))),
  );
  let applied = 0;
  let skipped = 0;
  let maxHlc: string | undefined;
  for (const op of ops) {
    maxHlc = hlcMax(maxHlc, op.hlc);
    for (const m of op.mutations) {
      const t = touched.get(versionKey(m.kind, m.id))!;
      if (m.kind === 'entities') {
        const before = t.state ?? emptyEntityState();
        const after = m.type === 'put' ? applyEntityDelta(before, m.delta, op.hlc) : applyEntityDelete(before, op.hlc);
        if (JSON.stringify(after) === JSON.stringify(before) && t.state !== undefined) skipped++;
        else applied++;
        t.state = after;
        continue;
      }
      if (m.type === 'put') {
        if ((t.ver !== undefined && t.ver >= op.hlc) || (t.tomb !== undefined && t.tomb >= op.hlc)) {
          skipped++;
          continue;
        }
        // a local write keeps the record's creation time; replicas take the record exactly as its origin wrote it
        if (opts.local) stampTimes(m.record, t.oldRecord as typeof m.record | undefined, op.hlc);
        t.record = m.record;
        t.ver = op.hlc;
        t.tomb = undefined;
        t.vector = mutationVector(m);
        applied++;
      } else {
        if ((t.ver !== undefined && t.ver > op.hlc) || (t.tomb !== undefined && t.tomb >= op.hlc)) {
          skipped++;
          continue;
        }
        t.record = undefined;
        t.ver = undefined;
        t.tomb = op.hlc;
        t.vector = undefined;
        applied++;
      }
    }
  }

  // entities: the view and the vector follow from the merged state
  const toEmbed: Touched[] = [];
  for (const t of touched.values()) {
    if (t.kind !== 'entities' || !t.state) continue;
    if (t.oldState && JSON.stringify(t.state) === JSON.stringify(t.oldState)) continue; // replay: nothing changed
    const view = entityView(t.id, t.state);
    t.record = view;
    if (!view) continue;
    if (t.state.emb?.v) t.vector = decodeVector(t.state.emb.v);
    else if (!t.oldRecord || t.oldState?.emb?.v || embedText(store, t.oldRecord as Entity) !== embedText(store, view)) toEmbed.push(t);
  }
  if (toEmbed.length > 0) {
    const vectors = await store.embedTexts(toEmbed.map((t) => embedText(store, t.record as Entity)));
    toEmbed.forEach((t, i) => (t.vector = vectors[i]));
  }

  const changes: RecordChange[] = [];
  const extra: BatchOp[] = [];
  for (const t of touched.values()) {
    const vkey = versionKey(t.kind, t.id);
    if (t.kind === 'entities') {
      if (t.state && JSON.stringify(t.state) !== JSON.stringify(t.oldState)) {
        extra.push({ type: 'put', sublevel: store.versions, key: vkey, value: t.state });
      }
      const old = t.oldRecord as Entity | undefined;
      const next = t.record as Entity | undefined;
      if (opts.local && next) for (const hook of store.entityHooks) await hook.check(next);
      append(extra, entityIndexOps(store, old, next ?? null));
      for (const hook of store.entityHooks) append(extra, hook.indexOps(old, next ?? null));
    } else {
      if (t.ver !== t.oldVer) {
        extra.push(t.ver === undefined ? { type: 'del', sublevel: store.versions, key: vkey } : { type: 'put', sublevel: store.versions, key: vkey, value: t.ver });
      }
      if (t.tomb !== t.oldTomb) {
        extra.push(t.tomb === undefined ? { type: 'del', sublevel: store.tombstones, key: vkey } : { type: 'put', sublevel: store.tombstones, key: vkey, value: t.tomb });
      }
      if (t.kind === 'resources') append(extra, resourceIndexOps(store, t.oldRecord as Resource | undefined, t.record as Resource | undefined));
      else append(extra, momentIndexOps(store, t.oldRecord as Moment | undefined, t.record as Moment | undefined));
    }
    if (t.record) {
      if (t.record === t.oldRecord) continue;
      const change: RecordChange = { kind: t.kind, id: t.id, record: t.record, text: recordText(t.kind, t.record), existed: !!t.oldRecord };
      if (t.vector) change.vector = t.vector;
      changes.push(change);
    } else if (t.oldRecord) {
      changes.push({ kind: t.kind, id: t.id, record: null, existed: true });
    }
  }
  await store.commit(changes, extra, { hlcMax: maxHlc, outbox: opts.local ? ops : [] });
  // later local writes must be stamped after everything this node has seen
  if (!opts.local && maxHlc) store.clock.observe(maxHlc);
  return { applied, skipped, hlcMax: maxHlc };
}

/** Appends without `push(...items)`, whose argument count is bounded by the stack (a batch's keys are not). */
function append<T>(target: T[], items: readonly T[]): void {
  for (const x of items) target.push(x);
}

/** The text an entity is embedded from: a hook's (the schema's embedding_fields) or the default entity text. */
function embedText(store: TenantStore, e: Entity): string {
  for (const hook of store.entityHooks) {
    const text = hook.embedText?.(e);
    if (text !== undefined) return text;
  }
  return entityText(e);
}

/** Created/updated times of a record written locally at `hlc` (created_at survives updates of the same record). */
export function stampTimes<T extends { created_at: string; updated_at: string }>(record: T, old: T | undefined, hlc: string): T {
  record.created_at = old?.created_at ?? hlcIso(hlc);
  record.updated_at = hlcIso(hlc);
  return record;
}

const OP_BYTES_DEFAULT = 512 * 1024;

type Build = (hlc: string) => Promise<Mutation[]> | Mutation[];

interface PendingWrite {
  build: Build;
  resolve: (r: ApplyResult) => void;
  reject: (err: unknown) => void;
}

/** Local writes of one group commit at most (each still gets its own HLC and op). */
const GROUP_WRITES_MAX = 256;
const pendingWrites = new WeakMap<TenantStore, PendingWrite[]>();

function opsFor(store: TenantStore, hlc: string, mutations: Mutation[]): Op[] {
  // standalone: one op, vectors stay binary; replicated: vectors get their wire form and big writes are split
  if (store.replication?.outbox) {
    encodeLocalVectors(mutations);
    return buildOps(store.tenant, store.nodeId, hlc, mutations, store.replication.opBytesMax ?? OP_BYTES_DEFAULT);
  }
  return [{ v: 1, op_id: `${hlc}#0`, tenant: store.tenant, node: store.nodeId, hlc, mutations }];
}

/**
 * Runs one local write: it gets one HLC, `build` turns that into mutations (it may read current records), and the
 * result goes through the shared merge path. Writes that arrive while the tenant's lock is held are committed
 * together (group commit: one read pass, one LevelDB batch); if that group fails, its writes are retried one by one
 * so one write's error (a schema violation, say) never fails another's.
 */
export function writeLocal(store: TenantStore, build: Build): Promise<ApplyResult> {
  return new Promise<ApplyResult>((resolve, reject) => {
    let queue = pendingWrites.get(store);
    if (!queue) pendingWrites.set(store, (queue = []));
    queue.push({ build, resolve, reject });
    if (queue.length === 1) void store.writeLock.run(() => drainWrites(store));
  });
}

async function drainWrites(store: TenantStore): Promise<void> {
  const queue = pendingWrites.get(store)!;
  while (queue.length > 0) {
    const group = queue.slice(0, GROUP_WRITES_MAX);
    const built: { w: PendingWrite; ops: Op[] }[] = [];
    for (const w of group) {
      try {
        const hlc = store.clock.now();
        built.push({ w, ops: opsFor(store, hlc, await w.build(hlc)) });
      } catch (err) {
        w.reject(err);
      }
    }
    try {
      const ops = built.flatMap((b) => b.ops);
      const result = ops.length > 0 ? await applyOps(store, ops, { local: true }) : { applied: 0, skipped: 0, hlcMax: undefined };
      for (const b of built) b.w.resolve(result);
    } catch (err) {
      if (built.length === 1) built[0]!.w.reject(err);
      else {
        for (const b of built) {
          try {
            b.w.resolve(b.ops.length > 0 ? await applyOps(store, b.ops, { local: true }) : { applied: 0, skipped: 0, hlcMax: undefined });
          } catch (e) {
            b.w.reject(e);
          }
        }
      }
    }
    // removed only now, so a write arriving meanwhile sees a non-empty queue and does not start a second drain
    queue.splice(0, group.length);
  }
}

/**
 * Upserts whole records (resources, moments) written locally: within one call the last record for an id wins,
 * records without an explicit vector are embedded in one embedder call, and created/updated times are stamped by
 * the apply path from the write's HLC. Returns the ids in input order.
 */
export async function putWholeRecords<K extends 'resources' | 'moments', P extends { id: string; vector?: Float32Array }>(
  store: TenantStore,
  kind: K,
  prepared: readonly P[],
  text: (p: P) => string,
  record: (p: P) => K extends 'resources' ? Resource : Moment,
): Promise<string[]> {
  const byId = new Map<string, P>();
  for (const p of prepared) byId.set(p.id, p);
  const unique = [...byId.values()];
  const toEmbed = unique.filter((p) => !p.vector);
  const vectors = await store.embedTexts(toEmbed.map(text));
  toEmbed.forEach((p, i) => (p.vector = vectors[i]));
  await writeLocal(store, () => unique.map((p) => localPut(kind, p.id, record(p), p.vector!)));
  return prepared.map((p) => p.id);
}

/** Deletes one record locally; false when it does not exist. */
export async function deleteLocal(store: TenantStore, kind: RemKind, id: string): Promise<boolean> {
  let existed = false;
  await writeLocal(store, async () => {
    existed = (await store.get(kind, id)) !== undefined;
    return existed ? [{ type: 'delete', kind, id }] : [];
  });
  return existed;
}
