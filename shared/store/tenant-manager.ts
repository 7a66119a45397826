// Opens tenant stores on demand and keeps at most `openMax` of them open, closing the least recently used idle one.
// Callers lease a store with `use(tenant, fn)`; a leased store is never closed underneath them.
import type { Embedder } from '../embed/embedder.js';
import { TenantStore, type StoreLimits, type StoreReplication, type TenantStoreOptions } from './tenant-store.js';
import type { EngineObserver } from '../rem/observer.js';
import { assertTenantId } from '../rem/tenant-id.js';

export interface TenantManagerOptions {
  dataDir: string;
  embedder: Embedder;
  openMax: number;
  hnsw: { m: number; efConstruction: number; efSearch: number; pendingMax?: number };
  vectorCheckpointOps: number;
  syncWrites: boolean;
  limits: StoreLimits;
  /** Window for "active" tenants (a request within it), exported for autoscaling. */
  activeWindowMs?: number;
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
  private readonly lastAccessMs = new Map<string, number>();
  private closing = false;
  /** Stores being closed by eviction: a new open of the same tenant waits for the LevelDB lock to be released. */
  private readonly closingStores = new Map<string, Promise<void>>();
  /** Observers for metrics: called with (tenant, 'open' | 'close'). */
  onLifecycle?: (tenant: string, event: 'open' | 'close') => void;

  constructor(readonly opts: TenantManagerOptions) {}

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
    const windowMs = this.opts.activeWindowMs ?? 5 * 60_000;
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
      this.lastAccessMs.set(tenant, Date.now());
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
        .then((store) => {
          slot.store = store;
          this.onLifecycle?.(tenant, 'open');
          return store;
        })
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
      const closed = store.close().finally(() => this.closingStores.delete(tenant));
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
      if (slot.opening) await slot.opening.catch(() => undefined);
      if (slot.store) stores.push(slot.store);
    }
    this.slots.clear();
    await Promise.all([...stores.map((s) => s.close()), ...this.closingStores.values()]);
  }
}
