// The tenants of this node and their presence levels:
//
//   hot   the store is open (indexes in memory), at most `openMax` of them and `hotMemoryBytesMax` of estimated memory;
//   warm  closed, files on local disk (opened again on the next request, in tens of milliseconds);
//   cold  no local files: the latest snapshot in object storage plus the sync stream hold the tenant (ColdStorage).
//
// Callers lease a store with `use(tenant, create, fn)`; a leased store is never closed underneath them, and a request
// for a warm or cold tenant brings it back transparently (concurrent requests wait on one load). A tenant with no
// local files is looked for in object storage and the sync stream before it is called unknown, so any node can serve
// any tenant; negative answers are remembered briefly (bounded), so unknown ids cannot each cost a lookup.
//
// Demotion: over a budget (hot count, hot memory, local disk) the tenants with the lowest retention score go first
// (shared/store/retention-score.ts); idle tenants are demoted by age too. Pinned tenants never go below warm. What the
// node knows of its tenants survives restarts in the catalog (shared/store/tenant-catalog.ts), which is read in the
// background: start-up opens no tenant and reads no tenant directory.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { LifecycleConfig } from '../config/lifecycle-config.js';
import type { Embedder } from '../embed/embedder.js';
import { TenantStore, type StoreLimits, type StoreReplication, type TenantStoreOptions } from './tenant-store.js';
import { RemError } from '../rem/errors.js';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';
import { assertTenantId, isTenantId, tenantDir } from '../rem/tenant-id.js';
import { AccessStats } from './access-stats.js';
import { retentionScore, SCORE_WEIGHTS_DEFAULT } from './retention-score.js';
import { TenantCatalog, type CatalogEntry, type SnapshotRef } from './tenant-catalog.js';

export type { SnapshotRef } from './tenant-catalog.js';

/** Window for "active" tenants (a request within it), by default. */
export const ACTIVE_WINDOW_MS_DEFAULT = 5 * 60_000;
/**
 * Tenants whose access counts are tracked at most (about 250 bytes each, so ~25 MB at the bound). Beyond it the least
 * recently seen is forgotten: the active count then saturates at this many and its score counts no accesses.
 */
export const ACTIVE_TRACKED_MAX_DEFAULT = 100_000;

export type TenantState = 'hot' | 'warm' | 'cold';

/**
 * Where cold tenants live: object storage for snapshots and the sync stream for the ops after them. Implemented in
 * shared/lifecycle over S3 and NATS; absent on a node with neither, which then has no cold state.
 */
export interface ColdStorage {
  /** Whether snapshots can be written (S3 configured); without, tenants are never made cold. */
  readonly snapshots: boolean;
  /**
   * A consistent snapshot of the open store in object storage (its writes are held while its files are captured).
   * The returned ref names the sync stream sequence the snapshot covers.
   */
  snapshot(store: TenantStore): Promise<SnapshotRef>;
  /** Fills the absent directory `dir` with the tenant's latest snapshot; undefined when it has none. */
  fetchLatest(tenant: string, dir: string): Promise<SnapshotRef | undefined>;
  /** Whether the sync stream holds an op of the tenant after `afterSeq` (a tenant with no snapshot may still exist). */
  hasOps(tenant: string, afterSeq: number): Promise<boolean>;
  /**
   * Applies every op of the tenant in the sync stream after `afterSeq` to the open store: the ops applied, and the
   * stream sequence the replay reached (0: none).
   */
  catchUp(store: TenantStore, afterSeq: number): Promise<{ applied: number; throughSeq: number }>;
  /** Resolves once the store's outbox is published (before its files are removed); throws when it cannot be. */
  drainOutbox(store: TenantStore): Promise<void>;
}

/** What the lifecycle reports, for metrics and logs. */
export interface TenantEvents {
  transition?(tenant: string, from: TenantState | 'absent', to: TenantState | 'absent', reason: string): void;
  /** Durations in ms: open (warm → hot), restore (cold or absent → hot), snapshot. */
  duration?(kind: 'open' | 'restore' | 'snapshot', ms: number): void;
  /** A tenant demoted for a budget or its idle age. */
  eviction?(reason: 'hot_max' | 'hot_memory' | 'disk' | 'idle_warm' | 'idle_cold'): void;
}

/** Budgets, ages and the score's weights as configured (shared/config/lifecycle-config.ts), plus the engine's own bounds. */
export type LifecycleOptions = Pick<LifecycleConfig, 'hotMemoryBytesMax' | 'diskBytesMax' | 'idleWarmMs' | 'idleColdMs' | 'snapshotIntervalMs' | 'sweepIntervalMs' | 'scoreWeights'> & {
  /** Demotions to cold and interval snapshots started per sweep at most (each uploads a snapshot). */
  sweepColdMax: number;
  /** An unknown tenant id is answered from memory this long, for this many ids at most. */
  negativeCacheMs: number;
  negativeCacheMax: number;
  /** Seconds a client is told to wait after a failed restore (Retry-After). */
  retryAfterS: number;
};

export const LIFECYCLE_DEFAULTS: LifecycleOptions = {
  hotMemoryBytesMax: 0,
  diskBytesMax: 0,
  idleWarmMs: 0,
  idleColdMs: 0,
  snapshotIntervalMs: 0,
  sweepIntervalMs: 10_000,
  sweepColdMax: 4,
  scoreWeights: SCORE_WEIGHTS_DEFAULT,
  negativeCacheMs: 5_000,
  negativeCacheMax: 10_000,
  retryAfterS: 5,
};

export interface TenantManagerOptions {
  dataDir: string;
  embedder: Embedder;
  /** Hot tenants at most (PERCOLATE_TENANTS_OPEN_MAX). */
  openMax: number;
  hnsw: { m: number; efConstruction: number; efSearch: number; pendingMax?: number; onDemand?: boolean; drainCpuPercent?: number };
  /** Keyword postings written once a tenant is keyword-searched here, and at low priority before (TenantStoreOptions). */
  keywordOnDemand?: boolean;
  vectorCheckpointOps: number;
  syncWrites: boolean;
  limits: StoreLimits;
  /** Window for "active" tenants (a request within it), exported for autoscaling. Default ACTIVE_WINDOW_MS_DEFAULT. */
  activeWindowMs?: number;
  /** Tenants whose access counts are tracked at most. Default ACTIVE_TRACKED_MAX_DEFAULT. */
  activeTrackedMax?: number;
  /** Record cache per open tenant, in bytes. */
  recordCacheBytes?: number;
  /**
   * Idle HNSW graph objects kept process-wide for reuse by the next tenant that opens (PERCOLATE_VECTOR_INDEX_POOL_MAX):
   * a closing tenant's graphs go back to the pool and their memory is freed at once (see shared/index/hnsw-pool.ts).
   */
  vectorIndexPoolMax?: number;
  /** The node's clock and outbox settings, shared by every tenant store. */
  replication?: StoreReplication;
  /** Where stores report warnings and degraded paths (the service's logger and metrics). */
  observer?: EngineObserver;
  /** Budgets, ages and the score's weights (LIFECYCLE_DEFAULTS for what is not given). */
  lifecycle?: Partial<LifecycleOptions>;
  /** Snapshots and the sync stream (shared/lifecycle); without it a tenant with no local files does not exist. */
  coldStorage?: ColdStorage;
  events?: TenantEvents;
}

interface Slot {
  store?: TenantStore;
  opening?: Promise<TenantStore>;
  /** A demotion to cold or a purge in progress: new leases wait for it, then look again. */
  transition?: Promise<void>;
  leases: number;
  /** Last lease that may write (a snapshot taken before it does not cover it). */
  lastWriteMs?: number;
  /** Resolved when leases drop to zero (a transition waits for the requests already in). */
  idle?: { promise: Promise<void>; resolve: () => void };
  lastUsedMs: number;
}

/** A tenant as GET /api/v1/tenant and the admin listing show its presence. */
export interface TenantPresence {
  state: TenantState;
  pinned: boolean;
  last_access: string | null;
  access_count_1h: number;
  access_count_24h: number;
  size_bytes: number | null;
  score: number;
  snapshot: SnapshotRef | null;
}

export class TenantManager {
  private readonly slots = new Map<string, Slot>();
  private readonly access: AccessStats;
  private readonly catalog: TenantCatalog;
  /** Unknown tenant ids answered recently, with when the answer expires (oldest first). */
  private readonly unknown = new Map<string, number>();
  private closing = false;
  /** Stores being closed by eviction: a new open of the same tenant waits for the LevelDB lock to be released. */
  private readonly closingStores = new Map<string, Promise<void>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  readonly lifecycle: LifecycleOptions;
  /** Observers for metrics: called with (tenant, 'open' | 'close'). */
  onLifecycle?: (tenant: string, event: 'open' | 'close') => void;

  constructor(readonly opts: TenantManagerOptions) {
    this.access = new AccessStats(Math.max(1, opts.activeTrackedMax ?? ACTIVE_TRACKED_MAX_DEFAULT));
    this.catalog = new TenantCatalog(path.join(opts.dataDir, 'catalog'));
    this.lifecycle = { ...LIFECYCLE_DEFAULTS, ...opts.lifecycle };
  }

  private get observer(): EngineObserver {
    return this.opts.observer ?? consoleObserver;
  }

  private get activeWindowMs(): number {
    return this.opts.activeWindowMs ?? ACTIVE_WINDOW_MS_DEFAULT;
  }

  private get cold(): ColdStorage | undefined {
    return this.opts.coldStorage;
  }

  /** Tenants whose access counts are tracked (at most activeTrackedMax). */
  get trackedTenants(): number {
    return this.access.size;
  }

  /** What a store of this manager opens with (whether to create it aside). */
  private storeOptions(tenant: string): Omit<TenantStoreOptions, 'create'> {
    const { dataDir, embedder, hnsw, keywordOnDemand, vectorCheckpointOps, syncWrites, limits, replication, recordCacheBytes, vectorIndexPoolMax, observer } = this.opts;
    // replicated ops at or before a purge of the tenant are dropped by the store itself, whoever hands them over
    const purgeFloor = () => this.purgeFloor(tenant);
    return { dataDir, tenant, embedder, hnsw, keywordOnDemand, vectorCheckpointOps, syncWrites, limits, replication, recordCacheBytes, vectorIndexPoolMax, observer, purgeFloor };
  }

  get openCount(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.store) n++;
    return n;
  }

  /** Tenants by presence on this node (hot: open; warm: local files; cold: in object storage only). */
  stateCounts(): Record<TenantState, number> {
    const hot = this.openCount;
    let warm = 0;
    let cold = 0;
    for (const [tenant, e] of this.catalog.all()) {
      if (e.state === 'cold') cold++;
      else if (e.state === 'warm' && !this.slots.get(tenant)?.store) warm++;
    }
    return { hot, warm, cold };
  }

  /** The tenants open now. */
  hotTenants(): string[] {
    const out: string[] = [];
    for (const [tenant, s] of this.slots) if (s.store) out.push(tenant);
    return out;
  }

  /** Whether the tenant has writes its latest snapshot does not cover (tracked while snapshots are on). */
  hasUnsnapshottedWrites(tenant: string): boolean {
    return this.catalog.get(tenant)?.dirty_since_ms !== undefined;
  }

  /** Local ops waiting in the outboxes of open tenants. */
  outboxDepth(): number {
    return this.sumOverOpen((s) => s.outboxDepth);
  }

  /** Committed vectors of open tenants still waiting for HNSW insertion (searched exactly meanwhile). */
  vectorsPending(): number {
    return this.sumOverOpen((s) => s.vectorsPending);
  }

  /** Vectors of open tenants in their indexes' backlogs (graphs on demand). */
  vectorsBacklog(): number {
    return this.sumOverOpen((s) => s.vectorsBacklog);
  }

  /** Records of open tenants whose keyword postings are still to be written (postings on demand). */
  keywordBacklog(): number {
    return this.sumOverOpen((s) => s.keywordBacklog);
  }

  private sumOverOpen(f: (store: TenantStore) => number): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.store) n += f(s.store);
    return n;
  }

  /** Estimated memory held by the open tenants (sum of TenantStore.memoryEstimateBytes), in bytes. */
  memoryEstimateBytes(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.store && !s.store.isClosed) n += s.store.memoryEstimateBytes();
    return n;
  }

  /** Tenants with a request within the active window (default 5 minutes), open or not. */
  activeCount(nowMs = Date.now()): number {
    const windowMs = this.activeWindowMs;
    let n = 0;
    for (const [, s] of this.slots) if (s.store && nowMs - s.lastUsedMs <= windowMs) n++;
    for (const [tenant, e] of this.catalog.all()) {
      if (this.slots.get(tenant)?.store) continue;
      const last = this.access.get(tenant, nowMs).last_access_ms ?? e.last_access_ms;
      if (last !== undefined && nowMs - last <= windowMs) n++;
    }
    return n;
  }

  /**
   * Runs `fn` with the tenant's open store, bringing a warm or cold tenant back first. `create: false` (reads) fails
   * with `tenant_not_found` instead of creating an empty tenant for every id someone asks about.
   */
  async use<T>(tenant: string, create: boolean, fn: (store: TenantStore) => Promise<T>): Promise<T> {
    assertTenantId(tenant);
    return (await this.lease(tenant, create, 'any', fn)) as T;
  }

  /**
   * Runs `fn` with the store of a tenant whose ops this node applies: every tenant but the ones it holds cold (their
   * ops stay in the stream for their next restore). A tenant this node never saw is created (or restored, when object
   * storage or the stream hold it). `undefined` when the tenant is cold here. For the replication applier.
   */
  async useReplicated<T>(tenant: string, fn: (store: TenantStore) => Promise<T>): Promise<{ value: T } | undefined> {
    assertTenantId(tenant);
    this.unknown.delete(tenant);
    const r = await this.lease(tenant, true, 'not_cold', fn);
    return r === SKIPPED ? undefined : { value: r as T };
  }

  /**
   * Runs `fn` with the store of a tenant whose files are on this node (hot or warm; a load in progress is waited for);
   * `undefined` for a cold or unknown tenant, which is not brought here. For the outbox publisher.
   */
  async useLocal<T>(tenant: string, fn: (store: TenantStore) => Promise<T>): Promise<{ value: T } | undefined> {
    assertTenantId(tenant);
    const r = await this.lease(tenant, false, 'local', fn);
    return r === SKIPPED ? undefined : { value: r as T };
  }

  private async lease<T>(tenant: string, create: boolean, mode: 'any' | 'not_cold' | 'local', fn: (store: TenantStore) => Promise<T>, touch = true): Promise<T | typeof SKIPPED> {
    if (this.closing) throw new Error('tenant manager is shutting down');
    await this.catalog.load();
    let slot = this.slots.get(tenant);
    // a demotion or purge in progress finishes first; then the tenant is looked at again
    while (slot?.transition) {
      await slot.transition.catch(() => undefined);
      slot = this.slots.get(tenant);
    }
    if (mode !== 'any' && !slot?.store && !slot?.opening) {
      if (this.catalog.get(tenant)?.state === 'cold') return SKIPPED;
      if (mode === 'local' && !(await this.isLocal(tenant))) return SKIPPED;
    }
    if (!slot) {
      slot = { leases: 0, lastUsedMs: Date.now() };
      this.slots.set(tenant, slot);
    }
    slot.leases++;
    try {
      const store = await this.ensureOpen(tenant, slot, create);
      const now = Date.now();
      if (touch) this.access.touch(tenant, now);
      if (create) {
        slot.lastWriteMs = now;
        void this.markDirty(tenant, now);
      }
      return await fn(store);
    } finally {
      slot.leases--;
      slot.lastUsedMs = Date.now();
      if (slot.leases === 0 && slot.idle) {
        slot.idle.resolve();
        slot.idle = undefined;
      }
      if (!slot.store && !slot.opening && !slot.transition && slot.leases === 0 && this.slots.get(tenant) === slot) this.slots.delete(tenant);
      void this.evictHot();
    }
  }

  /** Files of the tenant on this node that its catalog entry does not call stale (cold). */
  private async isLocal(tenant: string): Promise<boolean> {
    const entry = this.catalog.get(tenant);
    if (entry?.state === 'cold' || entry?.state === 'absent') return false;
    if (entry?.state === 'warm') return true;
    return TenantStore.exists(this.opts.dataDir, tenant);
  }

  /** Notes a write the latest snapshot does not cover (interval snapshots pick the tenant up). */
  private async markDirty(tenant: string, nowMs: number): Promise<void> {
    const e = this.catalog.get(tenant);
    if (!this.cold?.snapshots || e?.dirty_since_ms !== undefined) return;
    await this.catalog.put(tenant, { dirty_since_ms: nowMs }).catch((err: unknown) => this.reportCatalog(tenant, err));
  }

  private ensureOpen(tenant: string, slot: Slot, create: boolean): Promise<TenantStore> {
    if (slot.store) return Promise.resolve(slot.store);
    slot.opening ??= this.load(tenant, create)
      .then(
        (store) => {
          slot.store = store;
          this.onLifecycle?.(tenant, 'open');
          return store;
        },
        (err: unknown) => {
          // a tenant that does not exist (a read of an unknown id) is an answer, not a failure
          if (!(err instanceof RemError && (err.code === 'tenant_not_found' || err.code === 'tenant_unavailable'))) {
            this.observer.degraded('tenant_open_failed', { tenant, err: errorText(err) }, 'tenant store failed to open');
          }
          throw err;
        },
      )
      .finally(() => {
        slot.opening = undefined;
      });
    return slot.opening;
  }

  /** Opens a warm tenant, restores a cold or absent one, or answers that it does not exist. */
  private async load(tenant: string, create: boolean): Promise<TenantStore> {
    const closing = this.closingStores.get(tenant);
    if (closing) await closing;
    const entry = this.catalog.get(tenant);
    const t0 = performance.now();
    // files of a tenant the catalog calls cold or purged are not trusted (a crash before their removal)
    if (entry?.state !== 'cold' && entry?.state !== 'absent' && (await TenantStore.exists(this.opts.dataDir, tenant))) {
      const store = await TenantStore.open({ ...this.storeOptions(tenant), create });
      const ms = performance.now() - t0;
      this.opts.events?.duration?.('open', ms);
      this.opts.events?.transition?.(tenant, 'warm', 'hot', 'request');
      await this.catalog.put(tenant, { state: 'warm', rebuild_ms: Math.max(entry?.rebuild_ms ?? 0, Math.round(ms)) }).catch((err: unknown) => this.reportCatalog(tenant, err));
      return store;
    }
    const cold = this.cold;
    if (!cold) {
      if (!create) throw notFound(tenant);
      this.unknown.delete(tenant);
      const store = await TenantStore.open({ ...this.storeOptions(tenant), create: true });
      await this.catalog.put(tenant, { state: 'warm' }).catch((err: unknown) => this.reportCatalog(tenant, err));
      this.opts.events?.transition?.(tenant, 'absent', 'hot', 'created');
      return store;
    }
    if (!create && entry?.state !== 'cold' && this.knownUnknown(tenant)) throw notFound(tenant);
    return this.restore(tenant, create, entry, t0);
  }

  /**
   * Brings a tenant with no (trusted) local files here: the latest snapshot, then every op of the sync stream after
   * it, before anything is answered. A tenant with neither is unknown (or created empty, for a write). Any failure
   * leaves no files behind and answers `tenant_unavailable` (503 with Retry-After), never an empty tenant.
   */
  private async restore(tenant: string, create: boolean, entry: CatalogEntry | undefined, t0: number): Promise<TenantStore> {
    const cold = this.cold!;
    const dir = tenantDir(this.opts.dataDir, tenant);
    let store: TenantStore | undefined;
    try {
      // files of a tenant the catalog calls cold are stale (a crash between its upload and their removal)
      await fs.rm(dir, { recursive: true, force: true });
      const ref = cold.snapshots ? await cold.fetchLatest(tenant, dir) : undefined;
      const fromSeq = ref?.stream_seq ?? 0;
      if (!ref && !create && !(await cold.hasOps(tenant, 0))) {
        this.rememberUnknown(tenant);
        throw notFound(tenant);
      }
      store = await TenantStore.open({ ...this.storeOptions(tenant), create: true });
      const { applied, throughSeq } = await cold.catchUp(store, fromSeq);
      // this node's consumer delivers those ops again (it may not have reached them yet): the applier drops them unread
      if (throughSeq > 0) store.replayedThroughSeq = throughSeq;
      const ms = performance.now() - t0;
      this.unknown.delete(tenant);
      await this.catalog.put(tenant, { state: 'warm', rebuild_ms: Math.round(ms), ...(ref ? { snapshot: ref } : {}) });
      this.opts.events?.duration?.('restore', ms);
      this.opts.events?.transition?.(tenant, entry?.state === 'cold' ? 'cold' : 'absent', 'hot', ref ? 'restored' : applied > 0 ? 'replayed' : 'created');
      return store;
    } catch (err) {
      if (store) await store.close().catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (err instanceof RemError && (err.code === 'tenant_not_found' || err.code === 'embedder_mismatch')) throw err;
      this.observer.warn({ tenant, err: errorText(err) }, 'tenant restore failed; the client is asked to retry');
      throw new RemError('tenant_unavailable', `tenant '${tenant}' could not be brought to this node now: ${errorText(err)}`, { retry_after_s: this.lifecycle.retryAfterS });
    }
  }

  private knownUnknown(tenant: string): boolean {
    const until = this.unknown.get(tenant);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.unknown.delete(tenant);
    return false;
  }

  private rememberUnknown(tenant: string): void {
    this.unknown.delete(tenant);
    this.unknown.set(tenant, Date.now() + this.lifecycle.negativeCacheMs);
    while (this.unknown.size > Math.max(1, this.lifecycle.negativeCacheMax)) this.unknown.delete(this.unknown.keys().next().value as string);
  }

  // ------------------------------------------------------------------------------------------------ presence

  /** The tenant's presence on this node (undefined: this node knows nothing of it). */
  presence(tenant: string, nowMs = Date.now()): TenantPresence | undefined {
    const entry = this.catalog.get(tenant);
    const slot = this.slots.get(tenant);
    if ((!entry || entry.state === 'absent') && !slot?.store) return undefined;
    const state: TenantState = slot?.store ? 'hot' : entry?.state === 'cold' ? 'cold' : 'warm';
    const counts = this.access.get(tenant, nowMs);
    const last = counts.last_access_ms ?? entry?.last_access_ms;
    return {
      state,
      pinned: entry?.pinned ?? false,
      last_access: last !== undefined ? new Date(last).toISOString() : null,
      access_count_1h: counts.access_count_1h,
      access_count_24h: counts.access_count_24h,
      size_bytes: entry?.size_bytes ?? null,
      score: this.score(tenant, entry, nowMs),
      snapshot: entry?.snapshot ?? null,
    };
  }

  /** Tenants this node knows, in id order after `cursor`, optionally of one state; at most `limit`. */
  list(opts: { state?: TenantState; limit: number; cursor?: string }): { tenants: ({ tenant: string } & TenantPresence)[]; next_cursor: string | null } {
    const ids = new Set<string>();
    for (const [t] of this.catalog.all()) ids.add(t);
    for (const [t, s] of this.slots) if (s.store) ids.add(t);
    const sorted = [...ids].filter((t) => opts.cursor === undefined || t > opts.cursor).sort();
    const out: ({ tenant: string } & TenantPresence)[] = [];
    const now = Date.now();
    let next: string | null = null;
    for (const t of sorted) {
      const p = this.presence(t, now);
      if (!p || (opts.state && p.state !== opts.state)) continue;
      if (out.length === opts.limit) {
        next = out[out.length - 1]!.tenant;
        break;
      }
      out.push({ tenant: t, ...p });
    }
    return { tenants: out, next_cursor: next };
  }

  private score(tenant: string, entry: CatalogEntry | undefined, nowMs: number): number {
    const counts = this.access.get(tenant, nowMs);
    const last = counts.last_access_ms ?? entry?.last_access_ms;
    return retentionScore(
      {
        accessCount1h: counts.access_count_1h,
        accessCount24h: counts.access_count_24h,
        rebuildMs: entry?.rebuild_ms ?? 0,
        sizeBytes: entry?.size_bytes ?? 0,
        idleMs: last !== undefined ? nowMs - last : 0,
        pinned: entry?.pinned ?? false,
      },
      this.lifecycle.scoreWeights,
    );
  }

  // ------------------------------------------------------------------------------------------------ operations

  /** Pins (never below warm) or unpins a tenant this node holds or can bring here. */
  async setPinned(tenant: string, pinned: boolean): Promise<void> {
    assertTenantId(tenant);
    // a cold tenant that gets pinned comes back to local disk
    await this.use(tenant, false, async () => undefined);
    await this.catalog.put(tenant, { pinned });
  }

  /** A snapshot of the tenant now (it is brought here if it is not). */
  async snapshot(tenant: string): Promise<SnapshotRef> {
    const cold = this.requireSnapshots();
    assertTenantId(tenant);
    await this.catalog.load();
    const entry = this.catalog.get(tenant);
    // a cold tenant's latest snapshot is what it is made of here
    if (entry?.state === 'cold' && entry.snapshot) return entry.snapshot;
    const take = async (store: TenantStore): Promise<SnapshotRef> => {
      const startedMs = Date.now();
      const t0 = performance.now();
      const ref = await cold.snapshot(store);
      this.opts.events?.duration?.('snapshot', performance.now() - t0);
      // a write that came while the snapshot was taken may not be in it: the tenant stays due for the next one
      const lastWrite = this.slots.get(tenant)?.lastWriteMs;
      await this.catalog.put(tenant, { snapshot: ref, dirty_since_ms: lastWrite !== undefined && lastWrite >= startedMs ? lastWrite : undefined });
      return ref;
    };
    // hot: through a lease that is not an access (a schedule is not a user)
    if (this.slots.get(tenant)?.store) return (await this.lease(tenant, false, 'any', take, false)) as SnapshotRef;
    // warm: opened for the snapshot and closed again, so a schedule does not make tenants hot
    if (await this.isLocal(tenant)) {
      return this.transition(tenant, async (slot) => {
        if (slot.store) return take(slot.store);
        const store = await TenantStore.open({ ...this.storeOptions(tenant), create: false });
        try {
          return await take(store);
        } finally {
          await store.close().catch((err: unknown) => this.reportClose(tenant, 'snapshot', err));
        }
      });
    }
    return this.use(tenant, false, take);
  }

  /**
   * Makes the tenant cold: its outbox published, a snapshot uploaded, its local files removed. New requests wait and
   * then restore it; the ones already running finish first. Refused for a pinned tenant.
   */
  async offload(tenant: string, reason = 'request'): Promise<SnapshotRef> {
    assertTenantId(tenant);
    const cold = this.requireSnapshots();
    await this.catalog.load();
    const entry = this.catalog.get(tenant);
    if (entry?.state === 'cold' && entry.snapshot) return entry.snapshot;
    if (entry?.pinned) throw new RemError('conflict', `tenant '${tenant}' is pinned: unpin it before making it cold`);
    return this.transition(tenant, async (slot) => {
      const from: TenantState = slot.store ? 'hot' : 'warm';
      let store = slot.store;
      if (!store) {
        if (!(await TenantStore.exists(this.opts.dataDir, tenant))) throw notFound(tenant);
        store = await TenantStore.open({ ...this.storeOptions(tenant), create: false });
      }
      slot.store = undefined;
      let ref: SnapshotRef;
      let sizeBytes: number;
      try {
        await cold.drainOutbox(store);
        // the archive's graphs current: a restore anywhere opens without re-inserting this node's logged vectors
        // (measured by bench:tenants: 1 s of the restore of a tenant with 4,800 vectors after its last checkpoint)
        await store.checkpointVectors();
        const t0 = performance.now();
        ref = await cold.snapshot(store);
        this.opts.events?.duration?.('snapshot', performance.now() - t0);
        sizeBytes = await store.sizeOnDiskBytes();
      } catch (err) {
        // stays warm: its files are untouched
        await store.close().catch((closeErr: unknown) => this.reportClose(tenant, 'offload', closeErr));
        throw err;
      }
      await store.close();
      this.onLifecycle?.(tenant, 'close');
      // the catalog says cold before the files go: a crash in between leaves stale files that are never trusted
      await this.catalog.put(tenant, { state: 'cold', snapshot: ref, size_bytes: sizeBytes, dirty_since_ms: undefined, last_access_ms: this.access.get(tenant, Date.now()).last_access_ms });
      await fs.rm(tenantDir(this.opts.dataDir, tenant), { recursive: true, force: true });
      this.opts.events?.transition?.(tenant, from, 'cold', reason);
      return ref;
    });
  }

  /**
   * Removes the tenant from this node: closes it, deletes its files and forgets it. Callers (the purge operation) also
   * remove it from object storage and the stream, and stop later ops from recreating it.
   */
  async removeLocal(tenant: string, purgedHlc?: string): Promise<void> {
    assertTenantId(tenant);
    await this.catalog.load();
    await this.transition(tenant, async (slot) => {
      const store = slot.store;
      slot.store = undefined;
      if (store) {
        await store.close().catch((err: unknown) => this.reportClose(tenant, 'purge', err));
        this.onLifecycle?.(tenant, 'close');
      }
      // the entry stays as the tombstone (absent) before the files go: a crash in between leaves untrusted files
      if (purgedHlc !== undefined) await this.catalog.put(tenant, { state: 'absent', purged_hlc: purgedHlc, pinned: false, snapshot: undefined, size_bytes: undefined, dirty_since_ms: undefined });
      else await this.catalog.delete(tenant);
      await fs.rm(tenantDir(this.opts.dataDir, tenant), { recursive: true, force: true });
      this.access.forget(tenant);
      this.opts.events?.transition?.(tenant, store ? 'hot' : 'warm', 'absent', 'purge');
    });
  }

  /** The HLC of the tenant's latest purge: replicated ops at or before it are dropped. */
  purgeFloor(tenant: string): string | undefined {
    return this.catalog.get(tenant)?.purged_hlc;
  }


  /**
   * Carries out a purge of the tenant at `hlc` on this node (from this node's purge operation or a peer's tombstone):
   * its files and presence go, and ops at or before `hlc` are dropped from now on. The tenant id can be written again
   * from empty: the node's clock moves past `hlc`, so new writes come after the tombstone.
   */
  async applyPurge(tenant: string, hlc: string): Promise<void> {
    assertTenantId(tenant);
    await this.catalog.load();
    const known = this.catalog.get(tenant)?.purged_hlc;
    if (known !== undefined && known >= hlc) return;
    try {
      this.opts.replication?.clock.observe(hlc);
    } catch (err) {
      // a tombstone from a clock far ahead still removes the data; new writes then keep their (earlier) timestamps
      this.observer.warn({ tenant, hlc, err: errorText(err) }, 'purge timestamp is beyond the clock drift bound; not adopted by the clock');
    }
    await this.removeLocal(tenant, hlc);
    this.unknown.delete(tenant);
  }


  private async transition<T>(tenant: string, fn: (slot: Slot) => Promise<T>): Promise<T> {
    let slot = this.slots.get(tenant);
    while (slot?.transition) {
      await slot.transition.catch(() => undefined);
      slot = this.slots.get(tenant);
    }
    if (!slot) {
      slot = { leases: 0, lastUsedMs: Date.now() };
      this.slots.set(tenant, slot);
    }
    const s = slot;
    let done!: () => void;
    s.transition = new Promise<void>((resolve) => (done = resolve));
    try {
      if (s.opening) await s.opening.catch(() => undefined);
      while (s.leases > 0) {
        if (!s.idle) {
          let resolve!: () => void;
          const promise = new Promise<void>((r) => (resolve = r));
          s.idle = { promise, resolve };
        }
        await s.idle.promise;
      }
      const closing = this.closingStores.get(tenant);
      if (closing) await closing;
      return await fn(s);
    } finally {
      s.transition = undefined;
      done();
      if (!s.store && !s.opening && s.leases === 0 && this.slots.get(tenant) === s) this.slots.delete(tenant);
    }
  }

  private requireSnapshots(): ColdStorage {
    if (!this.cold?.snapshots) throw new RemError('invalid_request', 'snapshots need object storage: set PERCOLATE_S3_BUCKET (and PERCOLATE_S3_ENDPOINT for an S3-compatible server)');
    return this.cold;
  }

  // ------------------------------------------------------------------------------------------------ demotion

  /** Closes the lowest-score idle hot tenants while over the hot count or the hot memory budget. */
  private async evictHot(): Promise<void> {
    for (;;) {
      const overCount = this.openCount > this.opts.openMax;
      const overMemory = !overCount && this.lifecycle.hotMemoryBytesMax > 0 && this.openCount > 1 && this.memoryEstimateBytes() > this.lifecycle.hotMemoryBytesMax;
      if (!overCount && !overMemory) return;
      const victim = this.lowestIdleHot();
      if (!victim) return; // every open store is in use; close them when their leases end
      this.opts.events?.eviction?.(overCount ? 'hot_max' : 'hot_memory');
      await this.closeHot(victim, overCount ? 'hot_max' : 'hot_memory');
    }
  }

  private lowestIdleHot(): string | undefined {
    const now = Date.now();
    let victim: { tenant: string; score: number; lastUsedMs: number } | undefined;
    for (const [tenant, s] of this.slots) {
      if (!s.store || s.leases > 0 || s.opening || s.transition) continue;
      const score = this.score(tenant, this.catalog.get(tenant), now);
      if (!victim || score < victim.score || (score === victim.score && s.lastUsedMs < victim.lastUsedMs)) victim = { tenant, score, lastUsedMs: s.lastUsedMs };
    }
    return victim?.tenant;
  }

  /** hot → warm: closes the store (a checkpoint of its vector indexes) and notes its size for the disk budget. */
  private async closeHot(tenant: string, reason: string): Promise<void> {
    const slot = this.slots.get(tenant);
    const store = slot?.store;
    if (!slot || !store || slot.leases > 0 || slot.transition) return;
    slot.store = undefined;
    this.slots.delete(tenant);
    const closed = (async () => {
      const sizeBytes = await store.sizeOnDiskBytes().catch(() => undefined);
      await store.close();
      await this.catalog.put(tenant, { state: 'warm', last_access_ms: this.access.get(tenant, Date.now()).last_access_ms, ...(sizeBytes !== undefined ? { size_bytes: sizeBytes } : {}) });
    })()
      .catch((err: unknown) => this.reportClose(tenant, 'eviction', err))
      .finally(() => this.closingStores.delete(tenant));
    this.closingStores.set(tenant, closed);
    await closed;
    this.onLifecycle?.(tenant, 'close');
    this.opts.events?.transition?.(tenant, 'hot', 'warm', reason);
  }

  /** Starts the periodic check of budgets, ages and interval snapshots (a service calls this once it is ready). */
  startSweeper(): void {
    if (this.sweepTimer || this.closing) return;
    this.sweepTimer = setInterval(() => void this.sweep(), this.lifecycle.sweepIntervalMs);
    this.sweepTimer.unref();
    // tenants written by a version before the catalog are registered in the background (no request waits for it)
    void this.registerUncatalogued().catch((err: unknown) => this.observer.warn({ err: errorText(err) }, 'could not list tenant directories for the catalog'));
  }

  /** One pass over budgets, ages and interval snapshots; concurrent calls share the pass in progress. */
  sweep(nowMs = Date.now()): Promise<void> {
    this.sweeping ??= this.sweepOnce(nowMs)
      .catch((err: unknown) => this.observer.degraded('tenant_sweep_failed', { err: errorText(err) }, 'tenant lifecycle sweep failed'))
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(nowMs: number): Promise<void> {
    if (this.closing) return;
    await this.catalog.load();
    const l = this.lifecycle;
    // hot → warm by idle age
    if (l.idleWarmMs > 0) {
      for (const [tenant, s] of [...this.slots]) {
        if (this.closing) return;
        if (s.store && s.leases === 0 && !s.transition && nowMs - s.lastUsedMs >= l.idleWarmMs) {
          this.opts.events?.eviction?.('idle_warm');
          await this.closeHot(tenant, 'idle_warm');
        }
      }
    }
    await this.evictHot();
    if (!this.cold?.snapshots) return;
    let budget = Math.max(0, l.sweepColdMax);
    const warm = this.catalog.all().filter(([t, e]) => e.state === 'warm' && !this.slots.get(t)?.transition);
    // warm → cold by idle age (pinned tenants stay)
    if (l.idleColdMs > 0) {
      for (const [tenant, e] of warm) {
        if (budget === 0 || this.closing) return;
        if (e.pinned || this.slots.get(tenant)?.store) continue;
        const last = this.access.get(tenant, nowMs).last_access_ms ?? e.last_access_ms ?? e.updated_ms;
        if (nowMs - last < l.idleColdMs) continue;
        budget--;
        this.opts.events?.eviction?.('idle_cold');
        await this.offload(tenant, 'idle_cold').catch((err: unknown) => this.reportDemotion(tenant, 'idle_cold', err));
      }
    }
    // the local disk budget: lowest score first among unpinned warm tenants
    if (l.diskBytesMax > 0) {
      let used = 0;
      for (const [, e] of this.catalog.all()) if (e.state === 'warm') used += e.size_bytes ?? 0;
      const candidates = this.catalog
        .all()
        .filter(([t, e]) => e.state === 'warm' && !e.pinned && !this.slots.get(t)?.transition)
        .map(([t, e]) => ({ tenant: t, entry: e, score: this.score(t, e, nowMs) }))
        .sort((a, b) => a.score - b.score);
      for (const c of candidates) {
        if (used <= l.diskBytesMax || budget === 0 || this.closing) break;
        const slot = this.slots.get(c.tenant);
        if (slot && (slot.leases > 0 || slot.opening)) continue;
        budget--;
        this.opts.events?.eviction?.('disk');
        const ok = await this.offload(c.tenant, 'disk').then(
          () => true,
          (err: unknown) => (this.reportDemotion(c.tenant, 'disk', err), false),
        );
        if (ok) used -= c.entry.size_bytes ?? 0;
      }
    }
    // interval snapshots of tenants with writes the latest snapshot does not cover
    if (l.snapshotIntervalMs > 0) {
      for (const [tenant, e] of this.catalog.all()) {
        if (budget === 0 || this.closing) return;
        if (e.state !== 'warm' || e.dirty_since_ms === undefined || nowMs - e.dirty_since_ms < l.snapshotIntervalMs) continue;
        budget--;
        await this.snapshot(tenant).catch((err: unknown) => this.reportDemotion(tenant, 'snapshot_interval', err));
      }
    }
  }

  /** Tenant directories without a catalog entry (data written before the catalog existed) become warm entries. */
  private async registerUncatalogued(): Promise<void> {
    await this.catalog.load();
    let names: string[];
    try {
      names = await fs.readdir(path.join(this.opts.dataDir, 'tenants'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      if (this.closing) return;
      if (!isTenantId(name) || this.catalog.get(name)) continue;
      if (!(await TenantStore.exists(this.opts.dataDir, name))) continue;
      await this.catalog.put(name, { state: 'warm' });
    }
  }

  private reportClose(tenant: string, cause: string, err: unknown): void {
    // the store is out of the slots either way; its LevelDB lock may still be held, so a reopen may fail too
    this.observer.degraded('tenant_close_failed', { tenant, cause, err: errorText(err) }, `tenant store failed to close (${cause})`);
  }

  private reportDemotion(tenant: string, cause: string, err: unknown): void {
    this.observer.degraded('tenant_demotion_failed', { tenant, cause, err: errorText(err) }, `tenant could not be demoted or snapshotted (${cause}); it stays local`);
  }

  private reportCatalog(tenant: string, err: unknown): void {
    this.observer.degraded('tenant_catalog_failed', { tenant, err: errorText(err) }, 'tenant catalog entry could not be written');
  }

  /** Closes every store (checkpointing vector indexes). Waits for in-flight opens and transitions. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.sweeping;
    const stores: TenantStore[] = [];
    for (const slot of this.slots.values()) {
      // an open that failed was reported (tenant_open_failed) and answered its caller: nothing to close
      if (slot.opening) await slot.opening.catch(() => undefined);
      if (slot.transition) await slot.transition.catch(() => undefined);
      if (slot.store) stores.push(slot.store);
    }
    this.slots.clear();
    // every store is closed even when one fails; eviction closes in flight report their own failures
    await Promise.all([
      ...stores.map(async (s) => {
        const sizeBytes = await s.sizeOnDiskBytes().catch(() => undefined);
        await s.close().catch((err: unknown) => this.reportClose(s.tenant, 'shutdown', err));
        await this.catalog
          .put(s.tenant, { state: 'warm', last_access_ms: this.access.get(s.tenant, Date.now()).last_access_ms, ...(sizeBytes !== undefined ? { size_bytes: sizeBytes } : {}) })
          .catch((err: unknown) => this.reportCatalog(s.tenant, err));
      }),
      ...this.closingStores.values(),
    ]);
    await this.catalog.close();
  }
}

const SKIPPED = Symbol('skipped');

function notFound(tenant: string): RemError {
  return new RemError('tenant_not_found', `tenant '${tenant}' does not exist`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
