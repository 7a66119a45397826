// The two places operation records live (the interface and the record format are in operations.ts):
//
//  - KvOperationStore: the JetStream KV bucket `percolate_operations`, when NATS is configured, so every node reads
//    every operation (a poll may land on any node). Keys, `.`-separated tokens as KV keys are:
//      op.<id>              the record (JSON): GET by id is one lookup
//      run.<node>.<id>      marker (value "1"): an unfinished operation of <node>; listUnfinished scans these keys
//      ten.<tenant>.<id>    marker: an operation of <tenant>; listForTenant scans these keys
//    KV writes of two keys are not atomic: markers are written before the record (a crash between leaves a marker
//    without a record, skipped by the listings) and the run marker is deleted after the record is finished (a crash
//    between leaves a marker of a finished record, deleted by the next listUnfinished). The bucket's ttl (max_age)
//    is the retention: every entry expires that long after its last write, finished or not, so an operation of a node
//    that stays down longer than the retention is forgotten. The bucket's configuration is fixed by whoever creates it
//    first (Kvm.create keeps an existing bucket as it is): a changed retention needs the stream updated.
//  - LocalOperationStore: a classic-level LevelDB in a directory of the node's own storage, when there is no NATS
//    (one node, so only this node reads it). Same records and markers (`!`-separated), written in one batch each,
//    plus `done!<finished ms>!<id>` (value: the tenant) so pruning finished records reads only the expired ones.
import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { ClassicLevel } from 'classic-level';
import { OPERATIONS_BUCKET } from '../bus/names.js';
import { RemError } from '../rem/errors.js';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';
import { assertTenantId } from '../rem/tenant-id.js';
import { Mutex } from '../store/mutex.js';
import {
  NODE_ID_PATTERN,
  decodeOperation,
  encodeOperation,
  isFinished,
  isOperationId,
  operationLimits,
  settleUpdate,
  type Operation,
  type OperationLimits,
  type OperationStore,
} from './operations.js';

/** Finished operations are kept this long by default (7 days). */
export const OPERATION_RETENTION_MS_DEFAULT = 7 * 24 * 3600_000;
/** Marker keys one listing reads at most (a node's unfinished operations; a tenant's operations in the retention). */
export const OPERATION_LIST_SCAN_MAX_DEFAULT = 10_000;
/** Records read from the bucket at once by a listing. */
const READ_CONCURRENCY = 16;
const CAS_ATTEMPTS_MAX = 50;
/** Jitter between conflicting attempts grows by this much per attempt, so racing writers spread out. */
const CAS_BACKOFF_STEP_MS = 2;

export interface OperationStoreOptions {
  /** How long a finished operation is kept (KV: the bucket's ttl, which applies to every entry). Default 7 days. */
  retentionMs?: number;
  limits?: Partial<OperationLimits>;
  /** Marker keys one listing reads at most. Default OPERATION_LIST_SCAN_MAX_DEFAULT. */
  listScanMax?: number;
  /** Told about unreadable records met by listUnfinished and truncated listings. */
  observer?: Pick<EngineObserver, 'warn'>;
}

export interface KvOperationStoreOptions extends OperationStoreOptions {
  /** Default OPERATIONS_BUCKET. */
  bucket?: string;
  /** Replicas of the bucket when it is created. Default 1. */
  replicas?: number;
}

export interface LocalOperationStoreOptions extends OperationStoreOptions {
  /** The LevelDB directory (created if missing), e.g. `<dataDir>/operations`. */
  dir: string;
  /** How often finished operations past the retention are removed (also once at open). Default 1 hour. */
  pruneEveryMs?: number;
}

export const kvKeys = {
  record: (id: string) => `op.${id}`,
  unfinished: (node: string, id: string) => `run.${node}.${id}`,
  tenant: (tenant: string, id: string) => `ten.${tenant}.${id}`,
};

export const localKeys = {
  record: (id: string) => `op!${id}`,
  unfinished: (node: string, id: string) => `run!${node}!${id}`,
  tenant: (tenant: string, id: string) => `ten!${tenant}!${id}`,
  done: (finishedMs: number, id: string) => `done!${String(Math.max(0, Math.floor(finishedMs))).padStart(15, '0')}!${id}`,
};

function assertNode(node: string): void {
  if (!NODE_ID_PATTERN.test(node)) throw new RemError('invalid_request', `node id must match ${NODE_ID_PATTERN}`);
}

const clampLimit = (limit: number, max: number) => Math.max(0, Math.min(max, Math.floor(Number.isFinite(limit) ? limit : 0)));

/** Keeps the `n` greatest ids (newest operations) of a stream of them, in memory bounded by n. */
function newest(ids: Iterable<string>, n: number): string[] {
  const top: string[] = [];
  for (const id of ids) {
    if (top.length < n) top.push(id);
    else if (n > 0 && id > top[top.length - 1]!) top[top.length - 1] = id;
    else continue;
    top.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  }
  return top;
}

// ---------------------------------------------------------------------------------------------------------------

export class KvOperationStore implements OperationStore {
  private constructor(
    private readonly kv: KV,
    private readonly limits: OperationLimits,
    private readonly scanMax: number,
    private readonly observer: Pick<EngineObserver, 'warn'>,
  ) {}

  /**
   * Opens the bucket, creating it on first use: one value per key (history 1), entries expiring after the retention,
   * values refused by the server above the record bound (a node cannot store a record that others would not read).
   */
  static async open(js: JetStreamClient, opts: KvOperationStoreOptions = {}): Promise<KvOperationStore> {
    const limits = operationLimits(opts.limits);
    const kv = await new Kvm(js).create(opts.bucket ?? OPERATIONS_BUCKET, {
      history: 1,
      ttl: opts.retentionMs ?? OPERATION_RETENTION_MS_DEFAULT,
      maxValueSize: limits.recordBytesMax,
      replicas: opts.replicas ?? 1,
    });
    return new KvOperationStore(kv, limits, opts.listScanMax ?? OPERATION_LIST_SCAN_MAX_DEFAULT, opts.observer ?? consoleObserver);
  }

  async create(op: Operation<string>): Promise<void> {
    const text = encodeOperation(op, this.limits);
    await this.kv.put(kvKeys.unfinished(op.node, op.id), '1');
    await this.kv.put(kvKeys.tenant(op.tenant, op.id), '1');
    await this.kv.create(kvKeys.record(op.id), text);
  }

  async get(id: string): Promise<Operation<string> | undefined> {
    return (await this.read(id))?.op;
  }

  private async read(id: string): Promise<{ op: Operation<string>; revision: number } | undefined> {
    if (!isOperationId(id)) return undefined;
    const e = await this.kv.get(kvKeys.record(id));
    // a bucket created elsewhere may not bound values: the length is checked before the value is decoded
    if (!e || e.operation !== 'PUT' || e.length === 0 || e.length > this.limits.recordBytesMax) return undefined;
    let text: string;
    try {
      text = e.string();
    } catch {
      return undefined;
    }
    const op = decodeOperation(text, this.limits);
    return op && op.id === id ? { op, revision: e.revision } : undefined;
  }

  async update(id: string, change: (op: Operation<string>) => Operation<string> | null): Promise<Operation<string> | undefined> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS_MAX; attempt++) {
      const found = await this.read(id);
      if (!found) return undefined;
      const current = found.op;
      const proposed = change(structuredClone(current));
      if (proposed === null) return current;
      const next = settleUpdate(current, proposed, new Date().toISOString());
      try {
        await this.kv.update(kvKeys.record(id), encodeOperation(next, this.limits), found.revision);
      } catch (err) {
        if (!/wrong last sequence/i.test(String((err as Error).message))) throw err;
        await sleep(Math.random() * CAS_BACKOFF_STEP_MS * (attempt + 1));
        continue;
      }
      if (isFinished(next.status) && !isFinished(current.status)) await this.dropMarker(next.node, id);
      return next;
    }
    throw new Error(`operation ${id}: record kept changing under ${CAS_ATTEMPTS_MAX} updates`);
  }

  /** A finished operation's run marker; if this fails, the next listUnfinished deletes it. */
  private async dropMarker(node: string, id: string): Promise<void> {
    try {
      await this.kv.delete(kvKeys.unfinished(node, id));
    } catch (err) {
      this.observer.warn({ operation: id, err }, 'run marker of a finished operation not deleted (the next resume deletes it)');
    }
  }

  /** The ids in the marker keys under `prefix` (bounded by scanMax). */
  private async scan(prefix: string, what: string): Promise<string[]> {
    const it = await this.kv.keys(`${prefix}.*`);
    const ids: string[] = [];
    try {
      for await (const key of it) {
        const id = key.slice(prefix.length + 1);
        if (isOperationId(id)) ids.push(id);
        if (ids.length >= this.scanMax) {
          this.observer.warn({ prefix, scan_max: this.scanMax }, `${what}: more markers than the scan bound, the listing is partial`);
          break;
        }
      }
    } finally {
      it.stop();
    }
    return ids;
  }

  private async readMany(ids: readonly string[]): Promise<(Operation<string> | undefined)[]> {
    const out: (Operation<string> | undefined)[] = [];
    for (let i = 0; i < ids.length; i += READ_CONCURRENCY) {
      out.push(...(await Promise.all(ids.slice(i, i + READ_CONCURRENCY).map((id) => this.get(id)))));
    }
    return out;
  }

  /**
   * Scans this node's run markers: the cost follows the node's unfinished operations (bounded by the runner's
   * pending and concurrency bounds) plus markers left by crashes, not the size of the bucket.
   */
  async listUnfinished(node: string): Promise<Operation<string>[]> {
    assertNode(node);
    const ids = (await this.scan(`run.${node}`, 'listUnfinished')).sort();
    const ops = await this.readMany(ids);
    const out: Operation<string>[] = [];
    for (let i = 0; i < ids.length; i++) {
      const op = ops[i];
      // a marker without a readable record: being created right now, expired, or a record nobody can read
      if (!op) this.observer.warn({ operation: ids[i], node }, 'unfinished operation without a readable record: skipped');
      else if (isFinished(op.status)) await this.dropMarker(node, op.id);
      else if (op.node === node) out.push(op);
    }
    return out;
  }

  /**
   * Scans the tenant's markers (all of them up to scanMax: the markers come in creation order, the newest are kept)
   * and reads the `limit` newest records.
   */
  async listForTenant(tenant: string, limit: number): Promise<Operation<string>[]> {
    assertTenantId(tenant);
    const ids = newest(await this.scan(`ten.${tenant}`, 'listForTenant'), clampLimit(limit, this.scanMax));
    return (await this.readMany(ids)).filter((op): op is Operation<string> => op !== undefined && op.tenant === tenant);
  }

  /** The bucket's ttl expires entries: nothing to do here. */
  async prune(): Promise<number> {
    return 0;
  }

  /** The connection belongs to the caller. */
  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------------------------

/** Finished records one prune batch removes. */
const PRUNE_BATCH = 500;
/**
 * Writers waiting for the store's lock at most: each running operation has at most two writes in flight (its step
 * and its detail) and each start() one create, so the runner's own bounds keep far below this.
 */
const LOCAL_WAITERS_MAX = 4096;

export class LocalOperationStore implements OperationStore {
  private readonly lock = new Mutex({ waitersMax: LOCAL_WAITERS_MAX, name: 'the operation store' });
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly db: ClassicLevel<string, string>,
    private readonly limits: OperationLimits,
    private readonly scanMax: number,
    private readonly retentionMs: number,
    private readonly observer: Pick<EngineObserver, 'warn'>,
  ) {}

  static async open(opts: LocalOperationStoreOptions): Promise<LocalOperationStore> {
    await fs.mkdir(opts.dir, { recursive: true });
    const db = new ClassicLevel<string, string>(opts.dir, { valueEncoding: 'utf8' });
    await db.open();
    const store = new LocalOperationStore(
      db,
      operationLimits(opts.limits),
      opts.listScanMax ?? OPERATION_LIST_SCAN_MAX_DEFAULT,
      opts.retentionMs ?? OPERATION_RETENTION_MS_DEFAULT,
      opts.observer ?? consoleObserver,
    );
    await store.prune();
    store.timer = setInterval(() => {
      store.prune().catch((err) => store.observer.warn({ err }, 'pruning finished operations failed (retried at the next interval)'));
    }, opts.pruneEveryMs ?? 3600_000);
    store.timer.unref();
    return store;
  }

  async create(op: Operation<string>): Promise<void> {
    const text = encodeOperation(op, this.limits);
    await this.lock.run(async () => {
      if ((await this.db.get(localKeys.record(op.id))) !== undefined) throw new RemError('conflict', `operation ${op.id} exists`);
      const batch = this.db.batch().put(localKeys.record(op.id), text).put(localKeys.tenant(op.tenant, op.id), '1');
      if (!isFinished(op.status)) batch.put(localKeys.unfinished(op.node, op.id), '1');
      await batch.write();
    });
  }

  async get(id: string): Promise<Operation<string> | undefined> {
    if (!isOperationId(id)) return undefined;
    const text = await this.db.get(localKeys.record(id));
    if (text === undefined) return undefined;
    const op = decodeOperation(text, this.limits);
    return op && op.id === id ? op : undefined;
  }

  async update(id: string, change: (op: Operation<string>) => Operation<string> | null): Promise<Operation<string> | undefined> {
    if (!isOperationId(id)) return undefined;
    return this.lock.run(async () => {
      const current = await this.get(id);
      if (!current) return undefined;
      const proposed = change(structuredClone(current));
      if (proposed === null) return current;
      const next = settleUpdate(current, proposed, new Date().toISOString());
      const batch = this.db.batch().put(localKeys.record(id), encodeOperation(next, this.limits));
      if (isFinished(next.status) && !isFinished(current.status)) {
        batch.del(localKeys.unfinished(next.node, id)).put(localKeys.done(Date.parse(next.updated_at), id), next.tenant);
      }
      await batch.write();
      return next;
    });
  }

  async listUnfinished(node: string): Promise<Operation<string>[]> {
    assertNode(node);
    const prefix = `run!${node}!`;
    const keys = await this.db.keys({ gt: prefix, lt: `${prefix}\xff`, limit: this.scanMax }).all();
    const out: Operation<string>[] = [];
    for (const key of keys) {
      const id = key.slice(prefix.length);
      const op = await this.get(id);
      if (!op) this.observer.warn({ operation: id, node }, 'unfinished operation without a readable record: skipped');
      else if (isFinished(op.status)) await this.db.del(key);
      else if (op.node === node) out.push(op);
    }
    return out;
  }

  async listForTenant(tenant: string, limit: number): Promise<Operation<string>[]> {
    assertTenantId(tenant);
    const prefix = `ten!${tenant}!`;
    const n = clampLimit(limit, this.scanMax);
    if (n === 0) return [];
    // ids are time-ordered: the last keys are the newest operations
    const keys = await this.db.keys({ gt: prefix, lt: `${prefix}\xff`, reverse: true, limit: n }).all();
    const out: Operation<string>[] = [];
    for (const key of keys) {
      const op = await this.get(key.slice(prefix.length));
      if (op && op.tenant === tenant) out.push(op);
    }
    return out;
  }

  /** Removes the finished operations that finished more than the retention before `now`. */
  async prune(now = Date.now()): Promise<number> {
    const cutoff = localKeys.done(now - this.retentionMs, '');
    let removed = 0;
    for (;;) {
      const n = await this.lock.run(async () => {
        const entries = await this.db.iterator({ gte: 'done!', lt: cutoff, limit: PRUNE_BATCH }).all();
        const batch = this.db.batch();
        for (const [key, tenant] of entries) {
          const id = key.slice(key.lastIndexOf('!') + 1);
          batch.del(key).del(localKeys.record(id)).del(localKeys.tenant(tenant, id));
        }
        await batch.write();
        return entries.length;
      });
      removed += n;
      if (n < PRUNE_BATCH) return removed;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.lock.run(() => this.db.close());
  }
}
