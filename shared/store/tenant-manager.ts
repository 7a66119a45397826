// Opens tenant stores on demand and keeps at most `openMax` of them open, closing the least recently used idle one.
// Callers lease a store with `use(tenant, fn)`; a leased store is never closed underneath them.
//
// A store that fails to open (other than a tenant that does not exist) or to close is reported to the observer. The
// per-tenant access times behind the active-tenant count are pruned as accesses come (older than the active window,
// and beyond `activeTrackedMax` tenants the least recently seen), not only when the metrics are scraped.
import type { Embedder } from '../embed/embedder.js';
import { TenantStore, type StoreLimits, type StoreReplication, type TenantStoreOptions } from './tenant-store.js';
import { RemError } from '../rem/errors.js';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';
import { assertTenantId } from '../rem/tenant-id.js';

/** Window for "active" tenants (a request within it), by default. */
export const ACTIVE_WINDOW_MS_DEFAULT = 5 * 60_000;
/**
 * Tenants whose last access is tracked at most (about 100 bytes each, so ~10 MB at the bound). Beyond it the least
 * recently seen is forgotten: the active count then saturates at this many.
 */
export const ACTIVE_TRACKED_MAX_DEFAULT = 100_000;

export interface TenantManagerOptions {
  dataDir: string;
  embedder: Embedder;
  openMax: number;
  hnsw: { m: number; efConstruction: number; efSearch: number; pendingMax?: number };
  vectorCheckpointOps: number;
  syncWrites: boolean;
  limits: StoreLimits;
  /** Window for "active" tenants (a request within it), exported for autoscaling. Default ACTIVE_WINDOW_MS_DEFAULT. */
  activeWindowMs?: number;
  /** Tenants whose last access is tracked at most (the active count saturates there). Default ACTIVE_TRACKED_MAX_DEFAULT. */
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
}

interface Slot {
  store?: TenantStore;
  opening?: Promise<TenantStore>;
  leases: number;
  lastUsedMs: number;
}

export class TenantManager {
  private readonly slots = new Map<string, Slot>();
  /** Last access per tenant, least recent first (an access moves its tenant to the end). */
  private readonly lastAccessMs = new Map<string, number>();
  private closing = false;
  /** Stores being closed by eviction: a new open of the same tenant waits for the LevelDB lock to be released. */
  private readonly closingStores = new Map<string, Promise<void>>();
  /** Observers for metrics: called with (tenant, 'open' | 'close'). */
  onLifecycle?: (tenant: string, event: 'open' | 'close') => void;

  constructor(readonly opts: TenantManagerOptions) {}

  private get observer(): EngineObserver {
    return this.opts.observer ?? consoleObserver;
  }

  private get activeWindowMs(): number {
    return this.opts.activeWindowMs ?? ACTIVE_WINDOW_MS_DEFAULT;
  }

  /** Tenants whose last access is tracked (at most activeTrackedMax; pruned on access). */
  get trackedTenants(): number {
    return this.lastAccessMs.size;
  }

  /** Records an access and forgets, from the least recent on, accesses out of the window or beyond the bound. */
  private touch(tenant: string, nowMs: number): void {
    this.lastAccessMs.delete(tenant);
    this.lastAccessMs.set(tenant, nowMs);
    const max = Math.max(1, this.opts.activeTrackedMax ?? ACTIVE_TRACKED_MAX_DEFAULT);
    const windowMs = this.activeWindowMs;
    for (const [t, at] of this.lastAccessMs) {
      if (this.lastAccessMs.size <= max && nowMs - at <= windowMs) break;
      this.lastAccessMs.delete(t);
    }
  }

  /** What every store of this manager opens with (the tenant and whether to create it aside). */
  private storeOptions(): Omit<TenantStoreOptions, 'tenant' | 'create'> {
    const { dataDir, embedder, hnsw, vectorCheckpointOps, syncWrites, limits, replication, recordCacheBytes, vectorIndexPoolMax, observer } = this.opts;
    return { dataDir, embedder, hnsw, vectorCheckpointOps, syncWrites, limits, replication, recordCacheBytes, vectorIndexPoolMax, observer };
  }

  get openCount(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.store) n++;
    return n;
  }

  /** Local ops waiting in the outboxes of open tenants. */
  outboxDepth(): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.store?.outboxDepth ?? 0;
    return n;
  }

  /** Committed vectors of open tenants still waiting for HNSW insertion (searched exactly meanwhile). */
  vectorsPending(): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.store?.vectorsPending ?? 0;
    return n;
  }

  /** Estimated memory held by the open tenants (sum of TenantStore.memoryEstimateBytes), in bytes. */
  memoryEstimateBytes(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.store && !s.store.isClosed) n += s.store.memoryEstimateBytes();
    return n;
  }

  /** Tenants with a request within the active window (default 5 minutes). */
  activeCount(nowMs = Date.now()): number {
    const windowMs = this.activeWindowMs;
    let n = 0;
    for (const [tenant, t] of this.lastAccessMs) {
      if (nowMs - t <= windowMs) n++;
      else this.lastAccessMs.delete(tenant);
    }
    return n;
  }

  /**
   * Runs `fn` with the tenant's open store. `create: false` (reads) fails with `tenant_not_found` instead of creating
   * an empty tenant for every id someone asks about.
   */
  async use<T>(tenant: string, create: boolean, fn: (store: TenantStore) => Promise<T>): Promise<T> {
    assertTenantId(tenant);
    if (this.closing) throw new Error('tenant manager is shutting down');
    let slot = this.slots.get(tenant);
    if (!slot) {
      slot = { leases: 0, lastUsedMs: Date.now() };
      this.slots.set(tenant, slot);
    }
    slot.leases++;
    try {
      const store = await this.ensureOpen(tenant, slot, create);
      this.touch(tenant, Date.now());
      return await fn(store);
    } finally {
      slot.leases--;
      slot.lastUsedMs = Date.now();
      if (!slot.store && !slot.opening && slot.leases === 0 && this.slots.get(tenant) === slot) this.slots.delete(tenant);
      void this.evict();
    }
  }

  private async ensureOpen(tenant: string, slot: Slot, create: boolean): Promise<TenantStore> {
    if (slot.store) return slot.store;
    if (!slot.opening) {
      const closing = this.closingStores.get(tenant);
      slot.opening = (closing ?? Promise.resolve())
        .then(() =>
          TenantStore.open({ ...this.storeOptions(), tenant, create }),
        )
        .then(
          (store) => {
            slot.store = store;
            this.onLifecycle?.(tenant, 'open');
            return store;
          },
          (err: unknown) => {
            // a tenant that does not exist (a read of an unknown id) is an answer, not a failure
            if (!(err instanceof RemError && err.code === 'tenant_not_found')) {
              this.observer.degraded('tenant_open_failed', { tenant, err: errorText(err) }, 'tenant store failed to open');
            }
            throw err;
          },
        )
        .finally(() => {
          slot.opening = undefined;
        });
    }
    const store = await slot.opening;
    return store;
  }

  /** Closes least recently used idle stores while more than `openMax` are open. */
  private async evict(): Promise<void> {
    while (this.openCount > this.opts.openMax) {
      let victim: [string, Slot] | undefined;
      for (const entry of this.slots) {
        const s = entry[1];
        if (!s.store || s.leases > 0 || s.opening) continue;
        if (!victim || s.lastUsedMs < victim[1].lastUsedMs) victim = entry;
      }
      if (!victim) return; // every open store is in use; close them when their leases end
      const [tenant, slot] = victim;
      const store = slot.store!;
      slot.store = undefined;
      this.slots.delete(tenant);
      const closed = store
        .close()
        .catch((err: unknown) => {
          // the store is out of the slots either way; its LevelDB lock may still be held, so a reopen may fail too
          this.observer.degraded('tenant_close_failed', { tenant, cause: 'eviction', err: errorText(err) }, 'tenant store failed to close on eviction');
        })
        .finally(() => this.closingStores.delete(tenant));
      this.closingStores.set(tenant, closed);
      await closed;
      this.onLifecycle?.(tenant, 'close');
    }
  }

  /** Closes every store (checkpointing vector indexes). Waits for in-flight opens. */
  async close(): Promise<void> {
    this.closing = true;
    const stores: TenantStore[] = [];
    for (const slot of this.slots.values()) {
      // an open that failed was reported (tenant_open_failed) and answered its caller: nothing to close
      if (slot.opening) await slot.opening.catch(() => undefined);
      if (slot.store) stores.push(slot.store);
    }
    this.slots.clear();
    // every store is closed even when one fails; eviction closes in flight report their own failures
    await Promise.all([
      ...stores.map((s) =>
        s.close().catch((err: unknown) => {
          this.observer.degraded('tenant_close_failed', { tenant: s.tenant, cause: 'shutdown', err: errorText(err) }, 'tenant store failed to close at shutdown');
        }),
      ),
      ...this.closingStores.values(),
    ]);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
