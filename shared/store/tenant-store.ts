// One tenant's store: a classic-level database with sublevels for the three REM kinds, their secondary indexes,
// vectors and keyword postings, plus one HNSW graph per kind. Every write is one atomic LevelDB batch that carries the
// record, its index entries and the vector log entry; in-memory structures change only after the batch committed.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { VECTOR_PENDING_MAX_DEFAULT } from '../config/config.js';
import type { Embedder } from '../embed/embedder.js';
import { EmbedderMismatchError } from '../embed/embedder.js';
import { RemError } from '../rem/errors.js';
import type { RemKind } from '../rem/types.js';
import { REM_KINDS } from '../rem/types.js';
import { KeywordIndex } from '../index/keyword-index.js';
import { VectorIndex } from '../index/vector-index.js';
import { seqKey, vectorToBuffer, type BatchOp, type BufferSublevel, type JsonSublevel, type StringSublevel } from '../rem/codec.js';
import { sharedHnswPool } from '../index/hnsw-pool.js';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';
import { TimeSlice } from '../rem/time-slice.js';
import { Mutex } from './mutex.js';
import { RecordCache } from './record-cache.js';
import { ClockDriftError, HybridLogicalClock, hlcMax, isHlc } from '../rem/hlc.js';
import type { Op } from '../rem/ops.js';
import { markOutboxPending } from './outbox.js';
import { attachSchemaRegistry } from './schema-registry.js';
import { tenantDir } from '../rem/tenant-id.js';

export interface StoreLimits {
  /** Postings read per query term to find candidates (bounds keyword query cost on very common terms). */
  postingsPerTermMax: number;
  /** Nodes a traversal may visit. */
  traversalNodesMax: number;
  /** Edges a traversal may return. */
  traversalEdgesMax: number;
  /** Keys scanned by a fuzzy entity match. */
  fuzzyScanMax: number;
  /** Candidate ids gathered from a secondary index to pre-filter a vector search. */
  filterCandidatesMax: number;
  contentCharsMax: number;
  /** Items an array checked by a schema's `uniqueItems` may hold (schemas without such a bound are refused). */
  schemaUniqueItemsMax: number;
  /** Deepest nesting of a stored document (metadata, properties) accepted from a replicated op. */
  jsonDepthMax: number;
  /** Largest answer a read builds (records' JSON bytes); listings and searches stop early past it. */
  responseBytesMax: number;
}

/** classic-level's chained batch through its implementor API (see TenantStore.writeBatch). */
interface NativeChainedBatch {
  _put(key: string, value: unknown): void;
  _del(key: string): void;
  _write(options: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface TenantStoreOptions {
  dataDir: string;
  tenant: string;
  embedder: Embedder;
  /** HNSW parameters; `pendingMax` bounds committed vectors awaiting graph insertion (0: insert synchronously). */
  hnsw: { m: number; efConstruction: number; efSearch: number; pendingMax?: number };
  vectorCheckpointOps: number;
  syncWrites: boolean;
  limits: StoreLimits;
  /** Create the tenant when it does not exist yet (writes); reads pass false. */
  create: boolean;
  /** Bytes of record JSON kept in memory for fast reads (0 disables the cache). */
  recordCacheBytes?: number;
  /** Idle HNSW graph objects the process-wide pool keeps for reuse (PERCOLATE_VECTOR_INDEX_POOL_MAX; default 64). */
  vectorIndexPoolMax?: number;
  /** Replication settings; without them the store runs standalone (its own clock, no outbox). */
  replication?: StoreReplication;
  /** Where the store and its indexes report warnings and degraded paths (default: stderr). */
  observer?: EngineObserver;
}

export interface StoreReplication {
  /** The node's clock, shared by all its tenants. */
  clock: HybridLogicalClock;
  /** Keep an outbox of local ops for the publisher. */
  outbox: boolean;
  /** Largest serialized op; a write above it is split into several ops. */
  opBytesMax: number;
  /** Directory of per-tenant "outbox not empty" markers, so a restarted node knows which tenants to drain. */
  markerDir?: string;
  /** Called after a batch that added outbox entries (wakes the publisher). */
  onOutbox?: (tenant: string) => void;
  /** Called when a tenant's persisted HLC high-water mark is beyond the clock's drift bound and was not adopted. */
  onClockRefused?: (tenant: string, hlc: string, aheadMs: number) => void;
}

export const DEFAULT_LIMITS: StoreLimits = {
  postingsPerTermMax: 300,
  traversalNodesMax: 10_000,
  traversalEdgesMax: 50_000,
  fuzzyScanMax: 50_000,
  filterCandidatesMax: 20_000,
  contentCharsMax: 1_000_000,
  schemaUniqueItemsMax: 1000,
  jsonDepthMax: 64,
  responseBytesMax: 16 * 1024 * 1024,
};

export interface TenantMeta {
  tenant: string;
  embedder: { id: string; dimension: number };
  created_at: string;
}

export interface KindParts {
  records: JsonSublevel;
  vectors: VectorIndex;
  vectorStore: BufferSublevel;
  vectorLog: StringSublevel;
  keyword: KeywordIndex;
}

/** One record change inside a commit: `record: null` deletes. */
export interface RecordChange {
  kind: RemKind;
  id: string;
  record: object | null;
  /** Text for the keyword index (ignored on delete). */
  text?: string;
  /** Vector to store (ignored on delete). */
  vector?: Float32Array;
  existed: boolean;
}

/**
 * Extension point for entity writes (the schema registry): `check` may reject a merged entity before it is written
 * (throw a RemError), `indexOps` returns extra batch operations that move secondary-index entries from `old` to `next`.
 */
export interface EntityWriteHook {
  check(next: import('../rem/types.js').Entity): void | Promise<void>;
  indexOps(old: import('../rem/types.js').Entity | undefined, next: import('../rem/types.js').Entity | null): BatchOp[];
  /** The text to embed the entity from, instead of the default; undefined keeps the default. */
  embedText?(e: import('../rem/types.js').Entity): string | undefined;
}

/**
 * Reads of at most this many keys use LevelDB's synchronous get: mostly served from its block cache, they cost a few
 * microseconds each, far less than an async round trip through the thread pool (blocking the loop that briefly is fine).
 */
const SYNC_READ_MAX = 64;
/**
 * ... and until they returned this many characters: decoding a value costs the main thread time in proportion to its
 * size, so a handful of megabyte records is read through the thread pool instead (the rest of the call, at least).
 */
const SYNC_READ_CHARS_MAX = 256 * 1024;

/** Values for `keys`: synchronously while few and small (see SYNC_READ_MAX), the rest in one async call. */
async function readAdaptive(
  keys: readonly string[],
  getSync: (key: string) => string | undefined,
  getMany: (keys: string[]) => Promise<(string | undefined)[]>,
): Promise<(string | undefined)[]> {
  if (keys.length > SYNC_READ_MAX) return getMany([...keys]);
  const out: (string | undefined)[] = new Array(keys.length);
  let chars = 0;
  let i = 0;
  for (; i < keys.length && chars <= SYNC_READ_CHARS_MAX; i++) {
    const v = getSync(keys[i]!);
    out[i] = v;
    if (v !== undefined) chars += v.length;
  }
  if (i < keys.length) {
    const rest = await getMany(keys.slice(i));
    for (let n = 0; n < rest.length; n++) out[i + n] = rest[n];
  }
  return out;
}

export const KIND_SHORT: Record<RemKind, string> = { resources: 'res', entities: 'ent', moments: 'mom' };

export class TenantStore {
  readonly tenant: string;
  readonly dir: string;
  readonly embedder: Embedder;
  readonly limits: StoreLimits;
  readonly db: ClassicLevel<string, unknown>;
  readonly meta: JsonSublevel;
  /** Secondary indexes (entity keys and names, resource uris, moment times). */
  readonly idx: JsonSublevel<string>;
  readonly reverseEdges: JsonSublevel<number>;
  /** Version of every record: its HLC (resources, moments) or its CRDT state (entities). */
  readonly versions: JsonSublevel;
  /** Tombstones of deleted resources and moments: HLC of the delete. */
  readonly tombstones: JsonSublevel<string>;
  /** Local ops not yet acknowledged by JetStream: zero-padded sequence -> op JSON. */
  readonly outbox: JsonSublevel<string>;
  readonly clock: HybridLogicalClock;
  private outboxSeq = 0;
  private outboxCount = 0;
  private hlcHigh: string | undefined;
  /** A persisted high-water mark that was refused at open (beyond the clock's drift bound), for operators. */
  clockRefused: string | undefined;
  private outboxMarked = false;
  private readonly cache: RecordCache;
  /** Incremented by every committed batch (guards the record cache against racing async reads). */
  private writeSeq = 0;
  readonly kinds = {} as Record<RemKind, KindParts>;
  readonly writeLock = new Mutex();
  /** Hooks run on every entity write and delete, inside the write lock, before the batch. */
  readonly entityHooks: EntityWriteHook[] = [];
  private counts: Record<RemKind, number> = { resources: 0, entities: 0, moments: 0 };
  private readonly opts: TenantStoreOptions;
  private closed = false;
  private checkpointing: Promise<void> | undefined;

  private constructor(opts: TenantStoreOptions, dir: string) {
    this.opts = opts;
    this.tenant = opts.tenant;
    this.dir = dir;
    this.embedder = opts.embedder;
    this.limits = opts.limits;
    this.db = new ClassicLevel<string, unknown>(path.join(dir, 'db'), { valueEncoding: 'json' });
    this.meta = this.db.sublevel<string, unknown>('meta', { valueEncoding: 'json' });
    this.idx = this.db.sublevel<string, string>('idx', { valueEncoding: 'utf8' });
    this.reverseEdges = this.db.sublevel<string, number>('redge', { valueEncoding: 'json' });
    this.versions = this.db.sublevel<string, unknown>('ver', { valueEncoding: 'json' });
    this.tombstones = this.db.sublevel<string, string>('tomb', { valueEncoding: 'utf8' });
    this.outbox = this.db.sublevel<string, string>('outbox', { valueEncoding: 'utf8' });
    this.clock = opts.replication?.clock ?? new HybridLogicalClock('local');
    this.cache = new RecordCache(opts.recordCacheBytes ?? 32 * 1024 * 1024);
  }

  get observer(): EngineObserver {
    return this.opts.observer ?? consoleObserver;
  }

  get nodeId(): string {
    return this.clock.node;
  }

  get replication(): StoreReplication | undefined {
    return this.opts.replication;
  }

  /** Highest HLC of any op applied to this tenant. */
  get hlcMax(): string | undefined {
    return this.hlcHigh;
  }

  /** Local ops waiting in the outbox. */
  get outboxDepth(): number {
    return this.outboxCount;
  }

  /** Committed vectors not yet in their HNSW graph (every kind). */
  get vectorsPending(): number {
    let n = 0;
    for (const kind of REM_KINDS) n += this.kinds[kind].vectors.pendingInserts;
    return n;
  }

  /** Resolves once every committed vector is in its HNSW graph (benchmarks and tests that time or inspect the graph). */
  async vectorsSettled(): Promise<void> {
    while (!this.closed && this.vectorsPending > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Forgets that the outbox marker exists (the publisher removed it after draining). */
  clearOutboxMarked(): void {
    this.outboxMarked = false;
  }

  static async exists(dataDir: string, tenant: string): Promise<boolean> {
    try {
      await fs.access(path.join(tenantDir(dataDir, tenant), 'db', 'CURRENT'));
      return true;
    } catch {
      return false;
    }
  }

  static async open(opts: TenantStoreOptions): Promise<TenantStore> {
    const dir = tenantDir(opts.dataDir, opts.tenant);
    if (!opts.create && !(await TenantStore.exists(opts.dataDir, opts.tenant))) {
      throw new RemError('tenant_not_found', `tenant '${opts.tenant}' does not exist`);
    }
    await fs.mkdir(dir, { recursive: true });
    const store = new TenantStore(opts, dir);
    try {
      await store.db.open();
      await store.init();
    } catch (err) {
      for (const kind of REM_KINDS) store.kinds[kind]?.vectors.close(); // graphs go back to the pool
      await store.db.close().catch(() => undefined);
      throw err;
    }
    return store;
  }

  private async init(): Promise<void> {
    let meta = (await this.meta.get('tenant')) as TenantMeta | undefined;
    if (!meta) {
      meta = {
        tenant: this.tenant,
        embedder: { id: this.embedder.id, dimension: this.embedder.dimension },
        created_at: new Date().toISOString(),
      };
      await this.meta.put('tenant', meta);
    } else if (meta.embedder.id !== this.embedder.id || meta.embedder.dimension !== this.embedder.dimension) {
      throw new EmbedderMismatchError(
        `tenant '${this.tenant}' was written with embedder ${meta.embedder.id} (${meta.embedder.dimension} dimensions); ` +
          `this node runs ${this.embedder.id} (${this.embedder.dimension}). Configure the same embedder or re-embed the tenant.`,
      );
    }
    const high = (await this.meta.get('hlc_max')) as string | undefined;
    if (isHlc(high)) {
      try {
        // a clock that stepped back across a restart must still issue timestamps above everything this tenant holds
        this.clock.observe(high);
        this.hlcHigh = high;
      } catch (err) {
        if (!(err instanceof ClockDriftError)) throw err;
        // a high-water mark beyond the drift bound was poisoned (or this node's clock jumped back a long way):
        // adopting it would drag the node's clock there; the next commit writes a sane one instead
        this.clockRefused = high;
        this.opts.replication?.onClockRefused?.(this.tenant, high, err.aheadMs);
      }
    }
    const lastOutbox = await this.outbox.keys({ reverse: true, limit: 1 }).all();
    this.outboxSeq = lastOutbox[0] ? Number(lastOutbox[0]) : 0;
    for await (const _ of this.outbox.keys()) this.outboxCount++;
    // ops left from before a crash or an eviction: wake the publisher once the store is open
    if (this.outboxCount > 0 && this.opts.replication?.onOutbox) {
      const kick = this.opts.replication.onOutbox;
      setImmediate(() => kick(this.tenant));
    }
    for (const kind of REM_KINDS) {
      const s = KIND_SHORT[kind];
      const records = this.db.sublevel<string, object>(s, { valueEncoding: 'json' });
      const vectorStore = this.db.sublevel<string, Buffer>(`v-${s}`, { valueEncoding: 'buffer' });
      const vectorLog = this.db.sublevel<string, string>(`vlog-${s}`, { valueEncoding: 'utf8' });
      const keyword = new KeywordIndex({
        kind,
        postings: this.db.sublevel<string, string>(`kw-${s}`, { valueEncoding: 'utf8' }),
        docs: this.db.sublevel(`kwdoc-${s}`, { valueEncoding: 'json' }),
        df: this.db.sublevel<string, string>(`kwdf-${s}`, { valueEncoding: 'utf8' }),
        meta: this.meta,
        postingsPerTermMax: this.limits.postingsPerTermMax,
        observer: this.observer,
      });
      await keyword.load();
      const vectors = await VectorIndex.open({
        dir: this.dir,
        kind: s,
        dimension: this.embedder.dimension,
        m: this.opts.hnsw.m,
        efConstruction: this.opts.hnsw.efConstruction,
        efSearch: this.opts.hnsw.efSearch,
        pendingMax: this.opts.hnsw.pendingMax ?? VECTOR_PENDING_MAX_DEFAULT,
        vectors: vectorStore,
        log: vectorLog,
        pool: sharedHnswPool(this.opts.vectorIndexPoolMax),
        observer: this.observer,
      });
      this.kinds[kind] = { records, vectors, vectorStore, vectorLog, keyword };
      this.counts[kind] = ((await this.meta.get(`count:${kind}`)) as number | undefined) ?? 0;
    }
    // entity schemas of this tenant: validation and secondary indexes on every entity write
    await attachSchemaRegistry(this);
  }

  get dimension(): number {
    return this.embedder.dimension;
  }

  count(kind: RemKind): number {
    return this.counts[kind];
  }

  async get<T>(kind: RemKind, id: string): Promise<T | undefined> {
    return (await this.getMany<T>(kind, [id]))[0];
  }

  /**
   * Reads keys from several sublevels in one native call (each sublevel read is an async round trip to LevelDB's
   * thread pool; the write path needs records, versions and tombstones together). Values come back as raw strings.
   */
  async readRaw(keys: readonly (readonly [{ readonly prefix: string }, string])[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    return readAdaptive(
      keys.map(([sub, key]) => sub.prefix + key),
      (key) => this.db.getSync(key, { valueEncoding: 'utf8' }) as string | undefined,
      async (rest) => (await this.db.getMany(rest, { valueEncoding: 'utf8' })) as (string | undefined)[],
    );
  }

  /** Records by id (undefined where absent), through the record cache. Each call returns fresh objects. */
  async getMany<T>(kind: RemKind, ids: readonly string[]): Promise<(T | undefined)[]> {
    const json = await this.getManyJson(kind, ids);
    return json.map((j) => (j === undefined ? undefined : (JSON.parse(j) as T)));
  }

  /**
   * Records by id as their stored JSON text (undefined where absent), through the record cache: callers that answer
   * within a byte budget measure a record before they parse it.
   */
  async getManyJson(kind: RemKind, ids: readonly string[]): Promise<(string | undefined)[]> {
    if (ids.length === 0) return [];
    const prefix = KIND_SHORT[kind] + '\u0000';
    const json: (string | undefined)[] = ids.map((id) => this.cache.get(prefix + id));
    const missing: number[] = [];
    json.forEach((j, i) => j === undefined && missing.push(i));
    if (missing.length > 0) {
      const records = this.kinds[kind].records;
      const seq = this.writeSeq;
      const raw = await readAdaptive(
        missing.map((i) => ids[i]!),
        (id) => records.getSync(id, { valueEncoding: 'utf8' }) as string | undefined,
        async (rest) => (await records.getMany(rest, { valueEncoding: 'utf8' })) as (string | undefined)[],
      );
      // an async read that overlapped a write may have read the old value: do not cache it
      const cacheable = seq === this.writeSeq;
      missing.forEach((i, n) => {
        const r = raw[n];
        json[i] = r;
        if (r !== undefined && cacheable) this.cache.set(prefix + ids[i], r);
      });
    }
    return json;
  }

  /**
   * Commits record changes and their index entries in one batch, then publishes them to the in-memory indexes.
   * Callers hold `writeLock` (they read before they write) and pass changes with distinct ids per kind.
   */
  async commit(
    changes: readonly RecordChange[],
    extraOps: readonly BatchOp[] = [],
    repl: { hlcMax?: string; outbox?: readonly Op[] } = {},
  ): Promise<void> {
    this.assertOpen();
    const ops: BatchOp[] = [...extraOps];
    const nextHigh = hlcMax(this.hlcHigh, repl.hlcMax);
    if (nextHigh !== this.hlcHigh) ops.push({ type: 'put', sublevel: this.meta, key: 'hlc_max', value: nextHigh });
    const outboxOps = this.opts.replication?.outbox ? (repl.outbox ?? []) : [];
    let seq = this.outboxSeq;
    for (const op of outboxOps) ops.push({ type: 'put', sublevel: this.outbox, key: seqKey(++seq), value: JSON.stringify(op) });
    if (outboxOps.length > 0 && !this.outboxMarked && this.opts.replication?.markerDir) {
      // the marker is written before the batch: a crash in between leaves a marker for an empty outbox, never the reverse
      await markOutboxPending(this.opts.replication.markerDir, this.tenant);
      this.outboxMarked = true;
    }
    const pendings = [];
    const vectorSeqs = new Map<RecordChange, number>();
    const countDelta: Record<RemKind, number> = { resources: 0, entities: 0, moments: 0 };
    for (const kind of REM_KINDS) {
      const mine = changes.filter((c) => c.kind === kind);
      if (mine.length === 0) continue;
      const parts = this.kinds[kind];
      const pending = await parts.keyword.prepare(mine.map((c) => ({ id: c.id, text: c.record ? (c.text ?? '') : null, isNew: !c.existed })));
      for (const op of pending.ops) ops.push(op); // not push(...ops): a big batch has more keys than a call has arguments
      pendings.push(pending);
      for (const c of mine) {
        if (c.record) {
          ops.push({ type: 'put', sublevel: parts.records, key: c.id, value: c.record });
          if (c.vector) {
            const vseq = parts.vectors.nextSeq();
            vectorSeqs.set(c, vseq);
            ops.push({ type: 'put', sublevel: parts.vectorStore, key: c.id, value: vectorToBuffer(c.vector) });
            ops.push({ type: 'put', sublevel: parts.vectorLog, key: seqKey(vseq), value: c.id });
          }
          if (!c.existed) countDelta[kind]++;
        } else {
          ops.push({ type: 'del', sublevel: parts.records, key: c.id });
          ops.push({ type: 'del', sublevel: parts.vectorStore, key: c.id });
          ops.push({ type: 'put', sublevel: parts.vectorLog, key: seqKey(parts.vectors.nextSeq()), value: c.id });
          if (c.existed) countDelta[kind]--;
        }
      }
      if (countDelta[kind] !== 0) {
        ops.push({ type: 'put', sublevel: this.meta, key: `count:${kind}`, value: this.counts[kind] + countDelta[kind] });
      }
    }
    await this.writeBatch(ops);
    this.writeSeq++;
    for (const c of changes) this.cache.delete(KIND_SHORT[c.kind] + '\u0000' + c.id);
    this.outboxSeq = seq;
    this.outboxCount += outboxOps.length;
    this.hlcHigh = nextHigh;
    for (const p of pendings) p.apply();
    for (const c of changes) {
      const v = this.kinds[c.kind].vectors;
      if (!c.record) v.applyDelete(c.id);
      else if (c.vector) v.applyPut(c.id, c.vector, vectorSeqs.get(c));
    }
    for (const kind of REM_KINDS) this.counts[kind] += countDelta[kind];
    this.maybeCheckpoint();
    if (outboxOps.length > 0) this.opts.replication?.onOutbox?.(this.tenant);
  }

  /**
   * Writes a batch through classic-level's native chained batch, with keys prefixed and values encoded here.
   * abstract-level's public batch() clones and re-validates every operation, which costs more than LevelDB's write
   * itself on the ~20 operations a record needs; and the array form (`_batch`) has the addon read five properties of
   * every operation object, about 3x the main-thread time of one `_put(key, value)` call per operation (measured on
   * 19k operations: 50 ms against 15 ms). `_chainedBatch`, `_put`, `_del` and `_write` are the documented implementor
   * API that the public chained batch ends in. Falls back to batch().
   */
  private async writeBatch(ops: readonly BatchOp[]): Promise<void> {
    const db = this.db as unknown as { _chainedBatch?: () => NativeChainedBatch; status: string };
    if (typeof db._chainedBatch !== 'function' || db.status !== 'open') {
      await this.db.batch(ops as BatchOp[], { sync: this.opts.syncWrites });
      return;
    }
    const batch = db._chainedBatch();
    // encoding a thousand records' keys takes a few hundred microseconds per hundred keys: yield between slices so a
    // large batch does not stall other tenants (nothing is visible before _write, and the write lock is held)
    const slice = new TimeSlice(undefined, 256);
    try {
      for (const o of ops) {
        await slice.maybeYield();
        const op = o as { type: 'put' | 'del'; sublevel?: { prefix: string }; key: string; value?: unknown };
        const key = (op.sublevel ? op.sublevel.prefix : '') + op.key;
        if (op.type === 'del') batch._del(key);
        else batch._put(key, this.encodingOf(op.sublevel ?? this.db).encode(op.value));
      }
      await batch._write({ sync: this.opts.syncWrites });
    } finally {
      await batch.close(); // detaches it from the database (close() would otherwise wait for it)
    }
  }

  private readonly encodings = new Map<object, { encode(v: unknown): unknown; format: string }>();

  private encodingOf(sub: object): { encode(v: unknown): unknown; format: string } {
    let enc = this.encodings.get(sub);
    if (!enc) {
      enc = (sub as { valueEncoding(): { encode(v: unknown): unknown; format: string } }).valueEncoding();
      this.encodings.set(sub, enc);
    }
    return enc;
  }

  /** Oldest outbox entries, at most `limit`. */
  async outboxBatch(limit: number): Promise<{ key: string; op: string }[]> {
    const entries = await this.outbox.iterator({ limit }).all();
    return entries.map(([key, op]) => ({ key, op }));
  }

  /** Removes published outbox entries. */
  async outboxRemove(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.outbox.batch(keys.map((key) => ({ type: 'del' as const, key })));
    this.outboxCount = Math.max(0, this.outboxCount - keys.length);
  }

  /** Checkpoints vector indexes in the background once enough mutations accumulated (bounds replay at open). */
  private maybeCheckpoint(): void {
    if (this.checkpointing) return;
    const due = REM_KINDS.some((k) => this.kinds[k].vectors.pendingOps >= this.opts.vectorCheckpointOps);
    if (!due) return;
    this.checkpointing = this.writeLock
      .run(() => this.checkpointAll())
      .catch(() => undefined)
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  private async checkpointAll(): Promise<void> {
    for (const kind of REM_KINDS) await this.kinds[kind].vectors.checkpoint();
  }

  async embedTexts(texts: string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    return this.embedder.embed(texts);
  }

  async sizeOnDiskBytes(): Promise<number> {
    let total = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(p);
        else if (entry.isFile()) total += (await fs.stat(p)).size;
      }
    };
    await walk(this.dir).catch(() => undefined);
    return total;
  }

  /**
   * Estimated memory this open tenant holds, in bytes, for budgeting hot tenants. Counts: each kind's HNSW graph
   * (hnswlib's fixed ~2.6 MB per graph, capacity x per-element bytes, per-vector links and label nodes; a kind with no
   * graph vectors has no graph), its label maps and pending vectors (VectorIndex.memoryEstimateBytes); the record cache
   * in use (JSON characters plus a per-entry cost); the keyword index's in-memory posting and document-frequency
   * caches; LevelDB's memtables and block cache as LevelDB reports them; and a fixed cost per open LevelDB (its table
   * cache, version set, files and the JS objects of the store). Not counted: V8's transient garbage and requests in
   * flight.
   */
  memoryEstimateBytes(): number {
    let bytes = STORE_FIXED_BYTES + this.cache.sizeBytes + this.cache.size * CACHE_ENTRY_BYTES;
    for (const kind of REM_KINDS) {
      const parts = this.kinds[kind];
      if (!parts) continue;
      bytes += parts.vectors.memoryEstimateBytes() + keywordCacheBytes(parts.keyword);
    }
    if (this.db.status === 'open') {
      try {
        bytes += Number(this.db.getProperty('leveldb.approximate-memory-usage')) || 0;
      } catch {
        /* closing */
      }
    }
    return bytes;
  }

  async info(): Promise<{
    tenant: string;
    counts: Record<RemKind, number>;
    size_bytes: number;
    /** TenantStore.memoryEstimateBytes(). */
    memory_estimate_bytes: number;
    embedder: { id: string; dimension: number };
    created_at: string;
  }> {
    const meta = (await this.meta.get('tenant')) as TenantMeta;
    return {
      tenant: this.tenant,
      counts: { ...this.counts },
      size_bytes: await this.sizeOnDiskBytes(),
      memory_estimate_bytes: this.memoryEstimateBytes(),
      embedder: meta.embedder,
      created_at: meta.created_at,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`tenant store '${this.tenant}' is closed`);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Checkpoints the vector indexes (so the next open skips replay) and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.writeLock.run(async () => {
      if (this.closed) return;
      await this.checkpointAll().catch(() => undefined);
      for (const kind of REM_KINDS) this.kinds[kind]?.vectors.close();
      this.closed = true;
      await this.db.close();
    });
  }
}

/**
 * Fixed memory of one open store beside what memoryEstimateBytes() counts item by item: LevelDB's per-database state
 * and the store's JS objects. Measured: 200 open tenants with one resource each grew a node by 2.77 MB per tenant, of
 * which about 2.65 MB is the one graph.
 */
const STORE_FIXED_BYTES = 128 * 1024;
/** V8 cost of one record-cache entry beside its characters (Map entry, two string headers). */
const CACHE_ENTRY_BYTES = 96;

/**
 * Bytes held by a keyword index's in-memory caches (decoded best postings per hot term, document frequencies). They
 * are private to KeywordIndex: read structurally, and counted as 0 should their shape change.
 */
function keywordCacheBytes(keyword: KeywordIndex): number {
  const k = keyword as unknown as { postingsCache?: unknown; dfCache?: unknown };
  let bytes = 0;
  if (k.postingsCache instanceof Map) {
    for (const [term, p] of k.postingsCache as Map<string, { ids?: unknown[] }>) {
      const n = Array.isArray(p?.ids) ? p.ids.length : 0;
      // per posting: the id string (32 characters and its header), its array slot, tf and dl
      bytes += 120 + term.length + n * (32 + 24 + 8 + 8);
    }
  }
  // document frequencies: not bounded by KeywordIndex (every term written or asked since open); ~10 characters a term
  if (k.dfCache instanceof Map) bytes += (k.dfCache as Map<string, number>).size * (64 + 10);
  return bytes;
}
