// One tenant's store: a classic-level database with sublevels for the three REM kinds, their secondary indexes,
// vectors and keyword postings, plus one HNSW graph per kind. Every write is one atomic LevelDB batch that carries the
// record, its index entries, the vector log entry and its keyword postings (or, on demand, its keyword log entry:
// keyword-backlog.ts); in-memory structures change only after the batch committed.
//
// The store is closed to the outside: callers read through its methods (records by id, scans of named key spaces,
// the indexes' own interfaces) and write through `writeLocal` and `applyReplicated`, which take the write lock
// themselves; no sublevel leaves this module.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AbstractIterator, AbstractKeyIterator, AbstractValueIterator } from 'abstract-level';
import { ClassicLevel } from 'classic-level';
import { VECTOR_PENDING_MAX_DEFAULT } from '../config/config.js';
import type { Embedder } from '../embed/embedder.js';
import { EmbedderMismatchError } from '../embed/embedder.js';
import { sharedHnswPool } from '../index/hnsw-pool.js';
import { KeywordIndex } from '../index/keyword-index.js';
import { VectorIndex } from '../index/vector-index.js';
import { asWriteActivity } from '../index/write-activity.js';
import { vectorToBuffer, seqKey, type BatchOp, type BufferSublevel, type JsonSublevel, type KeyRange, type KeySpace, type SpaceOp, type StringSublevel } from '../rem/codec.js';
import { RemError } from '../rem/errors.js';
import { ClockDriftError, HybridLogicalClock, hlcMax, isHlc } from '../rem/hlc.js';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';
import { isSchemaOp, type Mutation, type Op, type RecordOp } from '../rem/ops.js';
import { tenantDir } from '../rem/tenant-id.js';
import type { RemKind } from '../rem/types.js';
import { REM_KINDS } from '../rem/types.js';
import { BatchWriter, type StoreOp } from './batch-writer.js';
import { KeywordBacklog } from './keyword-backlog.js';
import { KIND_SPECS } from './kind-specs.js';
import { KIND_SHORT } from './keys.js';
import { Mutex } from './mutex.js';
import { Outbox } from './outbox.js';
import { readAdaptive } from '../rem/adaptive-read.js';
import { RecordCache } from './record-cache.js';
import { SchemaRegistry } from './schema-registry.js';
import type { EntityWriteHook, ReadKey, RecordChange, StoreLimits, StoreReplication } from './store-types.js';
import { LocalWriter, applyReplicated, type ApplyResult, type Build } from './write-path.js';

export { DEFAULT_LIMITS, type StoreLimits, type StoreReplication, type RecordChange, type EntityWriteHook } from './store-types.js';
export type { ApplyResult } from './write-path.js';

export interface TenantStoreOptions {
  dataDir: string;
  tenant: string;
  embedder: Embedder;
  /**
   * HNSW parameters; `pendingMax` bounds committed vectors awaiting graph insertion (0: insert synchronously);
   * `onDemand` builds the graphs only once the tenant is searched here (see serveVectors), and at low priority before,
   * taking at most `drainCpuPercent` of a core (default 100).
   */
  hnsw: { m: number; efConstruction: number; efSearch: number; pendingMax?: number; onDemand?: boolean; idleMs?: number; drainCpuPercent?: number };
  /**
   * Keyword postings on demand: commits log the ids they change instead of indexing their text until the kind is
   * searched here (serveKeywords), and the log is indexed at low priority before (keyword-backlog.ts), with the
   * graphs' `idleMs` and `drainCpuPercent`. Default false.
   */
  keywordOnDemand?: boolean;
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
  /** The HLC of the tenant's latest purge: replicated ops at or before it are obsolete and dropped (counted as purged). */
  purgeFloor?: () => string | undefined;
}

export interface TenantMeta {
  tenant: string;
  embedder: { id: string; dimension: number };
  created_at: string;
}

interface KindParts {
  records: JsonSublevel;
  vectors: VectorIndex;
  vectorStore: BufferSublevel;
  vectorLog: StringSublevel;
  keyword: KeywordIndex;
  /** Ids whose keyword postings are still to be written (on demand, or left from before a restart). */
  keywordLog: KeywordBacklog;
}

export class TenantStore {
  readonly tenant: string;
  readonly dir: string;
  readonly embedder: Embedder;
  readonly limits: StoreLimits;
  readonly clock: HybridLogicalClock;
  /** The tenant's entity schemas (validation, secondary indexes, embedded fields). */
  readonly schemas: SchemaRegistry;
  /** Serialises the tenant's writers (merges read-modify-write; checkpoints and schema backfills hold it too). */
  readonly writeLock = new Mutex();
  /** Hooks run on every entity write and delete, inside the write lock, before the batch (the schema registry). */
  readonly entityHooks: readonly EntityWriteHook[];
  /** A persisted high-water mark that was refused at open (beyond the clock's drift bound), for operators. */
  clockRefused: string | undefined;
  private readonly db: ClassicLevel<string, unknown>;
  private readonly spaces: Record<KeySpace, JsonSublevel>;
  private readonly outbox: Outbox;
  private readonly batches: BatchWriter;
  private readonly writer: LocalWriter;
  private hlcHigh: string | undefined;
  private readonly cache: RecordCache;
  /** Incremented by every committed batch (guards the record cache against racing async reads). */
  private writeSeq = 0;
  private readonly kinds = {} as Record<RemKind, KindParts>;
  private counts: Record<RemKind, number> = { resources: 0, entities: 0, moments: 0 };
  private readonly opts: TenantStoreOptions;
  private closed = false;
  private checkpointing: Promise<void> | undefined;
  /** serveVectors() in progress or done. */
  private serving: Promise<void> | undefined;
  /**
   * Set when this store was restored from the sync stream: every op of the tenant up to this stream sequence is in it.
   * The node's consumer delivers those ops again, and the applier acknowledges them without decoding them.
   */
  replayedThroughSeq: number | undefined;
  private diskUsage: { bytes: number; atMs: number } | undefined;
  /** The directory walk in progress: concurrent callers share it instead of each starting one of their own. */
  private diskWalk: Promise<number> | undefined;

  private constructor(opts: TenantStoreOptions, dir: string) {
    this.opts = opts;
    this.tenant = opts.tenant;
    this.dir = dir;
    this.embedder = opts.embedder;
    this.limits = opts.limits;
    this.db = new ClassicLevel<string, unknown>(path.join(dir, 'db'), { valueEncoding: 'json' });
    this.spaces = {
      meta: this.db.sublevel<string, unknown>('meta', { valueEncoding: 'json' }),
      idx: this.db.sublevel<string, string>('idx', { valueEncoding: 'utf8' }),
      redge: this.db.sublevel<string, number>('redge', { valueEncoding: 'json' }),
      ver: this.db.sublevel<string, unknown>('ver', { valueEncoding: 'json' }),
      tomb: this.db.sublevel<string, string>('tomb', { valueEncoding: 'utf8' }),
    };
    this.outbox = new Outbox(this.db.sublevel<string, string>('outbox', { valueEncoding: 'utf8' }), opts.tenant, opts.replication?.markerDir, this.writeLock, {
      memoryBytesMax: opts.replication?.outboxMemoryBytesMax,
    });
    this.batches = new BatchWriter(this.db, this.spaces, opts.syncWrites);
    this.clock = opts.replication?.clock ?? new HybridLogicalClock('local');
    this.cache = new RecordCache(opts.recordCacheBytes ?? 32 * 1024 * 1024);
    this.schemas = new SchemaRegistry(this);
    this.entityHooks = [this.schemas];
    this.writer = new LocalWriter(this, opts.limits.writeQueueMax);
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
    return this.outbox.depth;
  }

  /** Local writes waiting for the write lock (bounded by limits.writeQueueMax). */
  get writesWaiting(): number {
    return this.writer.waiting;
  }

  /** Committed vectors not yet in their HNSW graph (every kind). */
  get vectorsPending(): number {
    return this.sumOverKinds((p) => p.vectors.pendingInserts);
  }

  /** Logged vectors not yet in the pending set or the graph (graphs on demand; an estimate). */
  get vectorsBacklog(): number {
    return this.sumOverKinds((p) => p.vectors.backlog);
  }

  /** Records whose keyword postings are still to be written (every kind; an estimate). */
  get keywordBacklog(): number {
    return this.sumOverKinds((p) => p.keywordLog.size);
  }

  private sumOverKinds(f: (parts: KindParts) => number): number {
    let n = 0;
    for (const kind of REM_KINDS) n += f(this.kinds[kind]);
    return n;
  }

  /**
   * A kind's keyword index is searched here: with postings on demand, later commits index at once, and the records
   * logged before are indexed now (a chunk per write-lock hold). Resolves once none is left, so a keyword search
   * never misses a committed record. Idempotent.
   */
  serveKeywords(kind: RemKind): Promise<void> {
    return this.kinds[kind].keywordLog.serve();
  }

  /** Resolves once every committed vector is in its HNSW graph (benchmarks and tests that time or inspect the graph). */
  async vectorsSettled(): Promise<void> {
    await this.serveVectors();
    while (!this.closed && this.vectorsPending > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * The tenant is searched here: with graphs on demand, later puts are inserted as they
   * commit and the backlog (vectors logged while the tenant was only replicated here) moves into the pending sets,
   * where searches find them exactly until the drain has inserted them. Resolves once the backlog moved; what it
   * costs is reading the backlog's vectors, not inserting them (that follows in the background), up to 65,536
   * pending vectors per index; a larger backlog also waits for the inserts beyond that. Idempotent.
   */
  serveVectors(): Promise<void> {
    if (!this.opts.hnsw.onDemand) return Promise.resolve();
    this.serving ??= (async () => {
      for (const kind of REM_KINDS) {
        const vi = this.kinds[kind].vectors;
        vi.activate();
        // chunk by chunk, so writes interleave; past PROMOTE_PENDING_MAX the move waits for the drain, which bounds
        // the memory a promotion takes (a backlog that large costs its inserts before the first search answers)
        for (;;) {
          while (!this.closed && vi.pendingInserts > PROMOTE_PENDING_MAX) await new Promise((r) => setTimeout(r, 5));
          if (this.closed || (await this.writeLock.run(() => vi.moveBacklog(BACKLOG_MOVE_CHUNK))) === 0) break;
        }
      }
    })().catch((err: unknown) => {
      this.serving = undefined;
      throw err;
    });
    return this.serving;
  }

  /** Low-priority work of a graph on demand: puts paused, so a pending set's worth of the backlog moves to the drain. */
  private moveBacklogIdle(kind: RemKind): void {
    const vi = this.kinds[kind].vectors;
    this.writeLock
      .run(() => vi.moveBacklog(Math.max(1, this.opts.hnsw.pendingMax ?? VECTOR_PENDING_MAX_DEFAULT)))
      .catch((err: unknown) => {
        if (!this.closed) this.observer.degraded('vector_backlog_failed', { tenant: this.tenant, kind, err: String(err) }, 'moving logged vectors into the graph failed; the next search or open retries');
      });
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
      store.closeIndexes();
      await store.db.close().catch((closeErr: unknown) =>
        store.observer.degraded('store_close_failed', { tenant: opts.tenant, err: String(closeErr) }, 'a store that failed to open did not close cleanly'),
      );
      throw err;
    }
    return store;
  }

  private async init(): Promise<void> {
    const meta = this.spaces.meta;
    let info = (await meta.get('tenant')) as TenantMeta | undefined;
    if (!info) {
      info = {
        tenant: this.tenant,
        embedder: { id: this.embedder.id, dimension: this.embedder.dimension },
        created_at: new Date().toISOString(),
      };
      await meta.put('tenant', info);
    } else if (info.embedder.id !== this.embedder.id || info.embedder.dimension !== this.embedder.dimension) {
      throw new EmbedderMismatchError(
        `tenant '${this.tenant}' was written with embedder ${info.embedder.id} (${info.embedder.dimension} dimensions); ` +
          `this node runs ${this.embedder.id} (${this.embedder.dimension}). Configure the same embedder or re-embed the tenant.`,
      );
    }
    const high = (await meta.get('hlc_max')) as string | undefined;
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
    await this.outbox.load();
    // ops left from before a crash or an eviction: wake the publisher once the store is open
    if (this.outbox.depth > 0 && this.opts.replication?.onOutbox) {
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
        meta,
        postingsPerTermMax: this.limits.postingsPerTermMax,
        observer: this.observer,
      });
      await keyword.load();
      const keywordLog = await KeywordBacklog.open({
        kind,
        log: this.db.sublevel<string, string>(`kwq-${s}`, { valueEncoding: 'utf8' }),
        keyword,
        onDemand: this.opts.keywordOnDemand ?? false,
        idleMs: this.opts.hnsw.idleMs,
        drainCpuPercent: this.opts.hnsw.drainCpuPercent,
        lock: this.writeLock,
        texts: (ids) => this.keywordTexts(kind, ids),
        write: (ops) => this.batches.write(ops),
        observer: this.observer,
      });
      const vectors = await VectorIndex.open({
        dir: this.dir,
        kind: s,
        dimension: this.embedder.dimension,
        m: this.opts.hnsw.m,
        efConstruction: this.opts.hnsw.efConstruction,
        efSearch: this.opts.hnsw.efSearch,
        pendingMax: this.opts.hnsw.pendingMax ?? VECTOR_PENDING_MAX_DEFAULT,
        onDemand: this.opts.hnsw.onDemand,
        idleMs: this.opts.hnsw.idleMs,
        drainCpuPercent: this.opts.hnsw.drainCpuPercent,
        onIdleBacklog: () => this.moveBacklogIdle(kind),
        vectors: vectorStore,
        log: vectorLog,
        pool: sharedHnswPool(this.opts.vectorIndexPoolMax),
        observer: this.observer,
      });
      this.kinds[kind] = { records, vectors, vectorStore, vectorLog, keyword, keywordLog };
      this.counts[kind] = ((await meta.get(`count:${kind}`)) as number | undefined) ?? 0;
    }
    // entity schemas of this tenant: validation and secondary indexes on every entity write
    await this.schemas.load();
    for (const kind of REM_KINDS) this.kinds[kind].keywordLog.start();
  }

  get dimension(): number {
    return this.embedder.dimension;
  }

  count(kind: RemKind): number {
    return this.counts[kind];
  }

  // ---- reads ----

  async get<T>(kind: RemKind, id: string): Promise<T | undefined> {
    return (await this.getMany<T>(kind, [id]))[0];
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
   * Reads records, versions and tombstones in one native call (each sublevel read is an async round trip to
   * LevelDB's thread pool; the write path needs the three together). Values come back as raw strings.
   */
  async readRaw(keys: readonly ReadKey[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    return readAdaptive(
      keys.map(([where, key]) => this.sublevelOf(where).prefix + key),
      (key) => this.db.getSync(key, { valueEncoding: 'utf8' }) as string | undefined,
      async (rest) => (await this.db.getMany(rest, { valueEncoding: 'utf8' })) as (string | undefined)[],
    );
  }

  /** The keyword text of each record as stored now (null where absent), read past the record cache. */
  private async keywordTexts(kind: RemKind, ids: readonly string[]): Promise<(string | null)[]> {
    const raw = await this.readRaw(ids.map((id) => [kind, id] as ReadKey));
    const spec = KIND_SPECS[kind] as { keywordText(r: unknown): string };
    return raw.map((json) => (json === undefined ? null : spec.keywordText(JSON.parse(json))));
  }

  private sublevelOf(where: RemKind | KeySpace): JsonSublevel {
    return where === 'resources' || where === 'entities' || where === 'moments' ? this.kinds[where].records : this.spaces[where];
  }

  /** The value of `key` in a named key space (decoded: JSON for meta, ver and redge; text for idx and tomb). */
  async getKey<T = unknown>(space: KeySpace, key: string): Promise<T | undefined> {
    return (await this.spaces[space].get(key)) as T | undefined;
  }

  /** Entries of a named key space in key order (LevelDB's iterator: `nextv`, `all`, `for await`, `close`). */
  iterator<V = unknown>(space: KeySpace, range: KeyRange = {}): AbstractIterator<unknown, string, V> {
    return this.spaces[space].iterator(range) as unknown as AbstractIterator<unknown, string, V>;
  }

  /** Keys of a named key space in key order. */
  keys(space: KeySpace, range: KeyRange = {}): AbstractKeyIterator<unknown, string> {
    return this.spaces[space].keys(range) as unknown as AbstractKeyIterator<unknown, string>;
  }

  /** Values of a named key space in key order. */
  values<V = unknown>(space: KeySpace, range: KeyRange = {}): AbstractValueIterator<unknown, string, V> {
    return this.spaces[space].values(range) as unknown as AbstractValueIterator<unknown, string, V>;
  }

  /** Every record of a kind as its stored JSON text, in id order (full scans). */
  recordTexts(kind: RemKind, range: KeyRange = {}): AbstractValueIterator<unknown, string, string> {
    return this.kinds[kind].records.values({ ...range, valueEncoding: 'utf8' } as never) as unknown as AbstractValueIterator<unknown, string, string>;
  }

  /** The HNSW index of a kind (search, size, pending inserts). */
  vectorIndex(kind: RemKind): VectorIndex {
    return this.kinds[kind].vectors;
  }

  /** The keyword (BM25) index of a kind. */
  keywordIndex(kind: RemKind): KeywordIndex {
    return this.kinds[kind].keyword;
  }

  /** Stored vectors by record id (the source of truth the graphs are built from). */
  async storedVectors(kind: RemKind, ids: readonly string[]): Promise<(Buffer | undefined)[]> {
    return (await this.kinds[kind].vectorStore.getMany([...ids])) as (Buffer | undefined)[];
  }

  // ---- writes ----

  /**
   * Runs one local write: it gets one HLC, `build` turns that into mutations, and the result goes through the write
   * path (group commit with the tenant's other writes). `ahead`: entity mutations whose vectors can be computed before
   * the write lock (see write-path.ts).
   */
  writeLocal(build: Build, ahead?: readonly Mutation[]): Promise<ApplyResult> {
    return asWriteActivity(() => this.writer.write(build, ahead));
  }

  /**
   * Applies validated replicated ops (the applier, POST /sync and a restore's replay): the one path for all three;
   * takes the write lock. Record ops merge in batches; a schema op between them applies in its place in the order.
   */
  applyReplicated(all: readonly Op[]): Promise<ApplyResult> {
    return asWriteActivity(() => this.applyReplicatedNow(all));
  }

  private async applyReplicatedNow(all: readonly Op[]): Promise<ApplyResult> {
    // ops from before a purge of the tenant (late deliveries, a peer's old outbox) must not bring data back
    const floor = this.opts.purgeFloor?.();
    const ops = floor === undefined ? all : all.filter((op) => op.hlc > floor);
    const total: ApplyResult = { applied: 0, skipped: 0, hlcMax: undefined, ...(ops.length < all.length ? { purged: all.length - ops.length } : {}) };
    const add = (r: Pick<ApplyResult, 'applied' | 'skipped' | 'conflicts'>) => {
      total.applied += r.applied;
      total.skipped += r.skipped;
      for (const [kind, n] of Object.entries(r.conflicts ?? {}) as [keyof NonNullable<ApplyResult['conflicts']>, number][]) {
        const conflicts = (total.conflicts ??= {});
        conflicts[kind] = (conflicts[kind] ?? 0) + n;
      }
    };
    let run: RecordOp[] = [];
    for (const op of ops) {
      total.hlcMax = hlcMax(total.hlcMax, op.hlc);
      if (!isSchemaOp(op)) {
        run.push(op as RecordOp);
        continue;
      }
      if (run.length > 0) add(await applyReplicated(this, run));
      run = [];
      add(await this.schemas.applyReplicated(op));
    }
    if (run.length > 0) add(await applyReplicated(this, run));
    return total;
  }

  /** Writes key-space ops in one batch outside a record change (schema backfills). The caller holds the write lock. */
  async writeKeys(ops: readonly SpaceOp[]): Promise<void> {
    this.assertOpen();
    await this.batches.write(ops);
  }

  /** Deletes a range of a named key space (a schema's dropped index). The caller holds the write lock. */
  async clearKeys(space: KeySpace, range: KeyRange): Promise<void> {
    this.assertOpen();
    await this.spaces[space].clear(range);
  }

  /**
   * Commits record changes and their key-space ops in one batch, then publishes them to the in-memory indexes.
   * Called by the write path, which holds `writeLock` and passes changes with distinct ids per kind.
   */
  async commit(changes: readonly RecordChange[], extraOps: readonly SpaceOp[] = [], repl: { hlcMax?: string; outbox?: readonly Op[] } = {}): Promise<void> {
    this.assertOpen();
    const ops: StoreOp[] = [...extraOps];
    const nextHigh = hlcMax(this.hlcHigh, repl.hlcMax);
    if (nextHigh !== this.hlcHigh) ops.push({ type: 'put', space: 'meta', key: 'hlc_max', value: nextHigh });
    const outboxed = await this.outbox.prepare(this.opts.replication?.outbox ? (repl.outbox ?? []) : []);
    for (const op of outboxed.batch) ops.push(op);
    const pendings = [];
    const logged: { committed(): void }[] = [];
    const vectorSeqs = new Map<RecordChange, number>();
    const countDelta: Record<RemKind, number> = { resources: 0, entities: 0, moments: 0 };
    for (const kind of REM_KINDS) {
      const mine = changes.filter((c) => c.kind === kind);
      if (mine.length === 0) continue;
      const parts = this.kinds[kind];
      if (parts.keywordLog.logging) {
        const entries = parts.keywordLog.entries(mine.map((c) => c.id));
        for (const op of entries.ops) ops.push(op);
        logged.push(entries);
      } else {
        // a record new to the store has no postings to remove, unless a logged delete of it has not been indexed yet
        const noStale = parts.keywordLog.size === 0;
        const pending = await parts.keyword.prepare(mine.map((c) => ({ id: c.id, text: c.record ? (c.text ?? '') : null, isNew: noStale && !c.existed })));
        for (const op of pending.ops) ops.push(op); // not push(...ops): a big batch has more keys than a call has arguments
        pendings.push(pending);
      }
      for (const c of mine) {
        if (c.record) {
          ops.push({ type: 'put', sublevel: parts.records, key: c.id, value: c.record } as BatchOp);
          if (c.vector) {
            const vseq = parts.vectors.nextSeq();
            vectorSeqs.set(c, vseq);
            ops.push({ type: 'put', sublevel: parts.vectorStore, key: c.id, value: vectorToBuffer(c.vector) } as BatchOp);
            ops.push({ type: 'put', sublevel: parts.vectorLog, key: seqKey(vseq), value: c.id } as BatchOp);
          }
          if (!c.existed) countDelta[kind]++;
        } else {
          ops.push({ type: 'del', sublevel: parts.records, key: c.id } as BatchOp);
          ops.push({ type: 'del', sublevel: parts.vectorStore, key: c.id } as BatchOp);
          ops.push({ type: 'put', sublevel: parts.vectorLog, key: seqKey(parts.vectors.nextSeq()), value: c.id } as BatchOp);
          if (c.existed) countDelta[kind]--;
        }
      }
      if (countDelta[kind] !== 0) ops.push({ type: 'put', space: 'meta', key: `count:${kind}`, value: this.counts[kind] + countDelta[kind] });
    }
    await this.batches.write(ops);
    this.writeSeq++;
    for (const c of changes) this.cache.delete(KIND_SHORT[c.kind] + '\u0000' + c.id);
    outboxed.committed();
    this.hlcHigh = nextHigh;
    for (const p of pendings) p.apply();
    for (const l of logged) l.committed();
    for (const c of changes) {
      const v = this.kinds[c.kind].vectors;
      if (!c.record) v.applyDelete(c.id);
      else if (c.vector) v.applyPut(c.id, c.vector, vectorSeqs.get(c));
    }
    for (const kind of REM_KINDS) this.counts[kind] += countDelta[kind];
    this.maybeCheckpoint();
    if (outboxed.batch.length > 0) this.opts.replication?.onOutbox?.(this.tenant);
  }

  // ---- outbox (the publisher) ----

  /** Oldest outbox entries, at most `limit`. */
  outboxBatch(limit: number): Promise<{ key: string; op: string }[]> {
    return this.outbox.oldest(limit);
  }

  /** Removes published outbox entries (their deletion goes with the next batch the store writes). */
  outboxRemove(keys: readonly string[]): void {
    this.outbox.remove(keys);
  }

  /** Deletes published outbox entries now instead of with the next batch (before a snapshot that leaves this node). */
  flushOutbox(): Promise<void> {
    return this.writeLock.run(() => this.outbox.flushPublished());
  }

  /** The publisher drained the outbox: its marker is removed once the tenant had no local write for a while. */
  outboxDrained(): void {
    this.outbox.drained();
  }

  // ---- maintenance ----

  /** Checkpoints vector indexes in the background once enough mutations accumulated (bounds replay at open). */
  private maybeCheckpoint(): void {
    if (this.checkpointing) return;
    const due = REM_KINDS.some((k) => this.kinds[k].vectors.pendingOps >= this.opts.vectorCheckpointOps);
    if (!due) return;
    this.checkpointing = this.writeLock
      .run(() => this.checkpointAll())
      .catch((err: unknown) =>
        this.observer.degraded('checkpoint_failed', { tenant: this.tenant, err: String(err) }, 'vector index checkpoint failed; the log is replayed at the next open'),
      )
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  /**
   * Brings every vector into its graph and checkpoints the indexes now, so that the files hold a current graph: taken
   * before a tenant leaves the node (offload), the restore then opens without re-inserting the logged vectors.
   */
  async checkpointVectors(): Promise<void> {
    this.assertOpen();
    await this.vectorsSettled();
    await this.writeLock.run(() => this.checkpointAll());
  }

  private async checkpointAll(): Promise<void> {
    for (const kind of REM_KINDS) await this.kinds[kind].vectors.checkpoint();
  }

  async embedTexts(texts: string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    return this.embedder.embed(texts);
  }

  /** Compacts the whole database (benchmarks that measure reads of a settled store). */
  async compact(): Promise<void> {
    await this.db.compactRange('\u0000', '\u{10ffff}');
  }

  /** Bytes of the tenant's files; `maxAgeMs` accepts a figure measured that recently (the walk costs a syscall per file). */
  async sizeOnDiskBytes(maxAgeMs = 0): Promise<number> {
    if (this.diskUsage && Date.now() - this.diskUsage.atMs <= maxAgeMs) return this.diskUsage.bytes;
    // Without sharing, every write that arrived while the cached figure was stale started a walk of its own: at
    // 1,000 writes/s dozens ran at once, 4 % of the node's CPU in readdir and stat (profile of bench:replication)
    this.diskWalk ??= this.walkDisk().finally(() => (this.diskWalk = undefined));
    return this.diskWalk;
  }

  private async walkDisk(): Promise<number> {
    const startedMs = Date.now();
    let total = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(p);
        else if (entry.isFile()) total += (await fs.stat(p)).size;
      }
    };
    // files come and go under a running store (LevelDB compactions, checkpoints): a vanished file is not an error
    await walk(this.dir).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
    this.diskUsage = { bytes: total, atMs: startedMs };
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
    const meta = (await this.spaces.meta.get('tenant')) as TenantMeta;
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
      await this.checkpointAll().catch((err: unknown) =>
        this.observer.degraded('checkpoint_failed', { tenant: this.tenant, err: String(err) }, 'vector index checkpoint at close failed; the log is replayed at the next open'),
      );
      this.closeIndexes();
      await this.outbox.close().catch((err: unknown) =>
        this.observer.degraded('outbox_marker_failed', { tenant: this.tenant, err: String(err) }, 'the outbox marker of a drained tenant could not be removed; the next start opens the tenant to check'),
      );
      this.closed = true;
      await this.db.close();
    });
  }

  /** Closes the database without a checkpoint, as a crash would leave it (tests of recovery). */
  async closeWithoutCheckpoint(): Promise<void> {
    this.closeIndexes();
    this.outbox.abandon();
    this.closed = true;
    await this.db.close();
  }

  /** Graphs back to the pool, background drains stopped (kinds an open that failed midway did not reach are skipped). */
  private closeIndexes(): void {
    for (const kind of REM_KINDS) {
      this.kinds[kind]?.vectors.close();
      this.kinds[kind]?.keywordLog.close();
    }
  }
}

/**
 * Fixed memory of one open store beside what memoryEstimateBytes() counts item by item: LevelDB's per-database state
 * and the store's JS objects. Measured: 200 open tenants with one resource each grew a node by 2.77 MB per tenant, of
 * which about 2.65 MB is the one graph.
 */
const STORE_FIXED_BYTES = 128 * 1024;
/** Backlog entries moved per write-lock hold when a tenant starts being served (reads that many vectors). */
const BACKLOG_MOVE_CHUNK = 1000;
/** Pending vectors of one index a promotion fills at most (about 100 MB of 384-dim vectors) before waiting for the drain. */
const PROMOTE_PENDING_MAX = 65_536;
/** V8 cost of one record-cache entry beside its characters (Map entry, two string headers). */
const CACHE_ENTRY_BYTES = 96;

/** Bytes held by a keyword index's in-memory caches (decoded best postings of hot terms, document frequencies). */
function keywordCacheBytes(keyword: KeywordIndex): number {
  const sizes = keyword.cacheSizes;
  // per posting: the id string (32 characters and its header), its array slot, tf and dl; per term a Map entry
  // and its string; per document frequency a Map entry, its term (~10 characters) and the number
  return sizes.postingsTerms * 130 + sizes.postings * (32 + 24 + 8 + 8) + sizes.dfTerms * (64 + 10);
}
