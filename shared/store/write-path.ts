// The single write path: local writes and replicated ops are both applied here, in one LevelDB batch per call.
//
// Resources and moments are last-writer-wins on the whole record by HLC; a delete leaves a tombstone so an older
// write that arrives later stays deleted. Entities merge as a CRDT (rem/entity-crdt.ts). Each record's version (its
// HLC, or the entity's CRDT state) lives in the `ver` key space, tombstones in `tomb`. Local writes also put their
// ops in the outbox, in the same batch, so a write is never acknowledged without its replication record.
//
// The path knows the kinds only through their specs (kind-specs.ts) and the store only through WriteTarget, so it
// imports neither the kinds' operations nor the store.
import type { SpaceOp } from '../rem/codec.js';
import { applyEntityDelete, applyEntityDelta, emptyEntityState, entityDeltaLost, entityView, mergeEntityDelta, type EntityState } from '../rem/entity-crdt.js';
import { RemError } from '../rem/errors.js';
import { hlcIso, hlcMax, type HybridLogicalClock } from '../rem/hlc.js';
import { buildOps, decodeVector, encodeLocalVectors, mutationVector, type EntityDelta, type Mutation, type Op, type RecordOp } from '../rem/ops.js';
import { entityText } from '../rem/record-text.js';
import type { Entity, RemKind, RemRecord } from '../rem/types.js';
import { KIND_SPECS } from './kind-specs.js';
import { KIND_SHORT, SEP } from './keys.js';
import type { Mutex } from './mutex.js';
import type { EntityWriteHook, ReadKey, RecordChange, StoreReplication } from './store-types.js';

/** What the write path needs of a tenant store. */
export interface WriteTarget {
  readonly tenant: string;
  readonly nodeId: string;
  readonly clock: HybridLogicalClock;
  readonly replication: StoreReplication | undefined;
  readonly entityHooks: readonly EntityWriteHook[];
  readonly writeLock: Mutex;
  /** Values of records, versions and tombstones, in one call. */
  readRaw(keys: readonly ReadKey[]): Promise<(string | undefined)[]>;
  embedTexts(texts: string[]): Promise<Float32Array[]>;
  /** Writes the changes and key-space ops in one batch (the caller holds the write lock). */
  commit(changes: readonly RecordChange[], extra: readonly SpaceOp[], repl: { hlcMax?: string; outbox?: readonly Op[] }): Promise<void>;
}

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
  /** entities: a mutation of this batch changed the state (which is then a copy this batch owns and updates in place) */
  stateChanged?: boolean;
  /** new vector for a put (resources/moments carry theirs; entities are embedded from their merged text) */
  vector: Float32Array | undefined;
}

export interface ApplyResult {
  /** Mutations that changed state. */
  applied: number;
  /** Mutations already reflected (replays, or older than the current version or tombstone). */
  skipped: number;
  hlcMax: string | undefined;
  /** Replicated ops dropped because a purge of the tenant made them obsolete. */
  purged?: number;
  /** Replicated mutations that lost last-writer-wins to a newer write of another op, by kind (replays are not counted). */
  conflicts?: Partial<Record<RemKind | 'schemas', number>>;
}

/** Vectors computed before the write lock, by the text they embed (see prepareEntityVectors). */
export type VectorsByText = ReadonlyMap<string, Float32Array>;

async function load(target: WriteTarget, keys: { kind: RemKind; id: string }[]): Promise<Map<string, Touched>> {
  const out = new Map<string, Touched>();
  const reads: ReadKey[] = [];
  for (const k of keys) {
    const vkey = versionKey(k.kind, k.id);
    if (out.has(vkey)) continue;
    out.set(vkey, { kind: k.kind, id: k.id } as Touched);
    reads.push([k.kind, k.id], ['ver', vkey], ['tomb', vkey]);
  }
  const raw = await target.readRaw(reads);
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

/** The text an entity is embedded from: a hook's (the schema's embedding_fields) or the default entity text. */
function embedText(target: WriteTarget, e: Entity): string {
  for (const hook of target.entityHooks) {
    const text = hook.embedText?.(e);
    if (text !== undefined) return text;
  }
  return entityText(e);
}

/** Whether an entity's merged state needs a freshly computed vector, and from which text. */
function entityNeedsVector(target: WriteTarget, t: Pick<Touched, 'oldRecord' | 'oldState'>, state: EntityState, view: Entity): string | undefined {
  if (state.emb?.v) return undefined; // an explicit embedding
  const text = embedText(target, view);
  if (!t.oldRecord || t.oldState?.emb?.v || embedText(target, t.oldRecord as Entity) !== text) return text;
  return undefined;
}

/**
 * Embeds, before the write lock is taken, the entities that `mutations` will change: their current states are read
 * and the deltas merged provisionally at `hlc`, and the texts that will need a vector are embedded. Under the lock the
 * write path merges again and takes these vectors for texts that came out the same (a concurrent write in between
 * only means a text is embedded again there). So a slow embedder (transformers.js) never holds a tenant's writes.
 */
export async function prepareEntityVectors(
  target: WriteTarget,
  items: readonly { mutation: Mutation; hlc: string }[],
): Promise<Map<string, Float32Array>> {
  // only puts that carry text (name, aliases, properties) can need a new vector: deletes and edge-only updates (the
  // bulk of a graph's replication traffic) are not read twice; should one still need a vector (an entity created by
  // an edge-only delta), the write path embeds it under the lock
  const entityItems = items.filter((x) => {
    if (x.mutation.kind !== 'entities' || x.mutation.type !== 'put') return false;
    const d = x.mutation.delta;
    return d.name !== undefined || d.aliases !== undefined || d.properties !== undefined;
  });
  const out = new Map<string, Float32Array>();
  if (entityItems.length === 0) return out;
  const touched = await load(
    target,
    entityItems.map((x) => ({ kind: 'entities' as const, id: x.mutation.id })),
  );
  for (const { mutation: m, hlc } of entityItems) {
    const t = touched.get(versionKey('entities', m.id))!;
    const before = t.state ?? emptyEntityState();
    t.state = m.type === 'put' ? applyEntityDelta(before, (m as { delta: EntityDelta }).delta, hlc) : applyEntityDelete(before, hlc);
  }
  const texts = new Set<string>();
  for (const t of touched.values()) {
    if (!t.state) continue;
    const view = entityView(t.id, t.state);
    if (!view) continue;
    const text = entityNeedsVector(target, t, t.state, view);
    if (text !== undefined) texts.add(text);
  }
  const list = [...texts];
  const vectors = await target.embedTexts(list);
  list.forEach((text, i) => out.set(text, vectors[i]!));
  return out;
}

/**
 * Applies ops in order (merging into what the store holds) and commits the result in one batch.
 * The caller holds the write lock. `local` ops go to the outbox and run the entity write hooks' checks; `vectors`
 * are entity vectors computed ahead of the lock (prepareEntityVectors).
 */
export async function applyOps(target: WriteTarget, ops: readonly RecordOp[], opts: { local: boolean; vectors?: VectorsByText }): Promise<ApplyResult> {
  // remote timestamps move the node's clock: one beyond the drift bound must not get that far (validateOp refuses
  // such ops first; this keeps the invariant for every caller)
  if (!opts.local) for (const op of ops) target.clock.checkRemote(op.hlc);
  const touched = await load(
    target,
    ops.flatMap((op) => op.mutations.map((m) => ({ kind: m.kind, id: m.id }))),
  );
  let applied = 0;
  let skipped = 0;
  let maxHlc: string | undefined;
  const conflicts: Partial<Record<RemKind, number>> = {};
  const lost = (kind: RemKind) => {
    if (!opts.local) conflicts[kind] = (conflicts[kind] ?? 0) + 1;
  };
  for (const op of ops) {
    maxHlc = hlcMax(maxHlc, op.hlc);
    for (const m of op.mutations) {
      const t = touched.get(versionKey(m.kind, m.id))!;
      if (m.kind === 'entities') {
        const before = t.state ?? emptyEntityState();
        if (m.type === 'put' && t.state !== undefined && entityDeltaLost(t.state, m.delta, op.hlc)) lost('entities');
        let after: EntityState;
        let changed: boolean;
        if (m.type === 'put') ({ state: after, changed } = mergeEntityDelta(before, m.delta, op.hlc, t.stateChanged === true));
        else changed = (after = applyEntityDelete(before, op.hlc)) !== before;
        if (!changed && t.state !== undefined) skipped++;
        else applied++;
        if (changed) t.stateChanged = true;
        t.state = after;
        continue;
      }
      if (m.type === 'put') {
        if ((t.ver !== undefined && t.ver >= op.hlc) || (t.tomb !== undefined && t.tomb >= op.hlc)) {
          // the same op again (equal version) is a replay; an older one lost to a newer write or delete
          if ((t.ver !== undefined && t.ver > op.hlc) || (t.tomb !== undefined && t.tomb > op.hlc)) lost(m.kind);
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
          if (t.ver !== undefined && t.ver > op.hlc) lost(m.kind); // a newer write outlives this delete
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
  const toEmbed: { t: Touched; text: string }[] = [];
  for (const t of touched.values()) {
    if (t.kind !== 'entities' || !t.state) continue;
    if (!t.stateChanged) continue; // replay: nothing changed
    const view = entityView(t.id, t.state);
    t.record = view;
    if (!view) continue;
    if (t.state.emb?.v) {
      t.vector = decodeVector(t.state.emb.v);
      continue;
    }
    const text = entityNeedsVector(target, t, t.state, view);
    if (text === undefined) continue;
    const ready = opts.vectors?.get(text);
    if (ready) t.vector = ready;
    else toEmbed.push({ t, text });
  }
  if (toEmbed.length > 0) {
    const vectors = await target.embedTexts(toEmbed.map((x) => x.text));
    toEmbed.forEach((x, i) => (x.t.vector = vectors[i]));
  }

  const changes: RecordChange[] = [];
  const extra: SpaceOp[] = [];
  for (const t of touched.values()) {
    const vkey = versionKey(t.kind, t.id);
    if (t.kind === 'entities') {
      if (t.state && t.stateChanged) {
        extra.push({ type: 'put', space: 'ver', key: vkey, value: t.state });
      }
      const old = t.oldRecord as Entity | undefined;
      const next = t.record as Entity | undefined;
      if (opts.local && next) for (const hook of target.entityHooks) await hook.check(next);
      append(extra, KIND_SPECS.entities.indexOps(old, next));
      for (const hook of target.entityHooks) append(extra, hook.indexOps(old, next ?? null));
    } else {
      if (t.ver !== t.oldVer) {
        extra.push(t.ver === undefined ? { type: 'del', space: 'ver', key: vkey } : { type: 'put', space: 'ver', key: vkey, value: t.ver });
      }
      if (t.tomb !== t.oldTomb) {
        extra.push(t.tomb === undefined ? { type: 'del', space: 'tomb', key: vkey } : { type: 'put', space: 'tomb', key: vkey, value: t.tomb });
      }
      append(extra, KIND_SPECS[t.kind].indexOps(t.oldRecord, t.record));
    }
    if (t.record) {
      if (t.record === t.oldRecord) continue;
      const change: RecordChange = { kind: t.kind, id: t.id, record: t.record, text: KIND_SPECS[t.kind].keywordText(t.record), existed: !!t.oldRecord };
      if (t.vector) change.vector = t.vector;
      changes.push(change);
    } else if (t.oldRecord) {
      changes.push({ kind: t.kind, id: t.id, record: null, existed: true });
    }
  }
  await target.commit(changes, extra, { hlcMax: maxHlc, outbox: opts.local ? ops : [] });
  // later local writes must be stamped after everything this node has seen
  if (!opts.local && maxHlc) target.clock.observe(maxHlc);
  return { applied, skipped, hlcMax: maxHlc, ...(Object.keys(conflicts).length > 0 ? { conflicts } : {}) };
}

/** Appends without `push(...items)`, whose argument count is bounded by the stack (a batch's keys are not). */
function append<T>(target: T[], items: readonly T[]): void {
  for (const x of items) target.push(x);
}

/** Created/updated times of a record written locally at `hlc` (created_at survives updates of the same record). */
export function stampTimes<T extends { created_at: string; updated_at: string }>(record: T, old: T | undefined, hlc: string): T {
  record.created_at = old?.created_at ?? hlcIso(hlc);
  record.updated_at = hlcIso(hlc);
  return record;
}

/** Applies validated replicated ops (from the applier or POST /sync): entity vectors first, then under the lock. */
export async function applyReplicated(target: WriteTarget, ops: readonly RecordOp[]): Promise<ApplyResult> {
  const vectors = await prepareEntityVectors(
    target,
    ops.flatMap((op) => op.mutations.map((mutation) => ({ mutation, hlc: op.hlc }))),
  );
  return target.writeLock.run(() => applyOps(target, ops, { local: false, vectors }));
}

const OP_BYTES_DEFAULT = 512 * 1024;

/** Builds a local write's mutations once it has its HLC (it may read current records). */
export type Build = (hlc: string) => Promise<Mutation[]> | Mutation[];

interface PendingWrite {
  build: Build;
  vectors: VectorsByText | undefined;
  resolve: (r: ApplyResult) => void;
  reject: (err: unknown) => void;
}

/** Local writes of one group commit at most (each still gets its own HLC and op). */
const GROUP_WRITES_MAX = 256;

function opsFor(target: WriteTarget, hlc: string, mutations: Mutation[]): RecordOp[] {
  // standalone: one op, vectors stay binary; replicated: vectors get their wire form and big writes are split
  if (target.replication?.outbox) {
    encodeLocalVectors(mutations);
    return buildOps(target.tenant, target.nodeId, hlc, mutations, target.replication.opBytesMax ?? OP_BYTES_DEFAULT);
  }
  return [{ v: 1, op_id: `${hlc}#0`, tenant: target.tenant, node: target.nodeId, hlc, mutations }];
}

/**
 * The local writes of one tenant: each gets one HLC, its `build` turns that into mutations (it may read current
 * records), and the result goes through the shared merge path. Writes that arrive while the tenant's lock is held
 * are committed together (group commit: one read pass, one LevelDB batch); if that group fails, its writes are
 * retried one by one so one write's error (a schema violation, say) never fails another's. At most `queueMax` writes
 * wait; more are refused with `overloaded` rather than queued without bound.
 */
export class LocalWriter {
  private readonly queue: PendingWrite[] = [];

  constructor(
    private readonly target: WriteTarget,
    private readonly queueMax: number,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  /** Runs one write; `ahead` are entity mutations whose vectors can be computed before the lock. */
  async write(build: Build, ahead?: readonly Mutation[]): Promise<ApplyResult> {
    if (this.queue.length >= this.queueMax) {
      throw new RemError('overloaded', `tenant '${this.target.tenant}' has ${this.queue.length} writes waiting (at most ${this.queueMax}); retry later`);
    }
    const vectors = ahead && ahead.length > 0 ? await prepareEntityVectors(this.target, ahead.map((mutation) => ({ mutation, hlc: this.target.clock.now() }))) : undefined;
    return new Promise<ApplyResult>((resolve, reject) => {
      this.queue.push({ build, vectors, resolve, reject });
      if (this.queue.length === 1) this.startDrain();
    });
  }

  /** Queues a drain behind whoever waits for the lock now. */
  private startDrain(): void {
    this.target.writeLock.run(() => this.drain()).catch((err: unknown) => {
      // the lock refused the drain (too many waiters): fail what is queued rather than strand it
      for (const w of this.queue.splice(0)) w.reject(err);
    });
  }

  private async drain(): Promise<void> {
    const queue = this.queue;
    while (queue.length > 0) {
      const group = queue.slice(0, GROUP_WRITES_MAX);
      const built: { w: PendingWrite; ops: RecordOp[] }[] = [];
      for (const w of group) {
        try {
          const hlc = this.target.clock.now();
          built.push({ w, ops: opsFor(this.target, hlc, await w.build(hlc)) });
        } catch (err) {
          w.reject(err);
        }
      }
      const vectors = new Map<string, Float32Array>();
      for (const b of built) for (const [text, v] of b.w.vectors ?? []) vectors.set(text, v);
      const apply = (ops: RecordOp[]) => (ops.length > 0 ? applyOps(this.target, ops, { local: true, vectors }) : Promise.resolve({ applied: 0, skipped: 0, hlcMax: undefined }));
      try {
        const result = await apply(built.flatMap((b) => b.ops));
        for (const b of built) b.w.resolve(result);
      } catch (err) {
        if (built.length === 1) built[0]!.w.reject(err);
        else {
          for (const b of built) {
            try {
              b.w.resolve(await apply(b.ops));
            } catch (e) {
              b.w.reject(e);
            }
          }
        }
      }
      // removed only now, so a write arriving meanwhile sees a non-empty queue and does not start a second drain
      queue.splice(0, group.length);
      if (queue.length > 0 && this.target.writeLock.waiters > 0) {
        // others wait for the lock (a snapshot capture, a checkpoint, replicated ops, a close): a steady stream of
        // local writes must not starve them, so the rest of the queue drains behind them
        this.startDrain();
        return;
      }
    }
  }
}
