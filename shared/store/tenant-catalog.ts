// What this node knows of every tenant it holds or held: whether its files are local (warm; hot when also open) or
// only in object storage (cold), whether it is pinned, and what the retention score needs after a restart (last
// access, size, rebuild cost) plus the latest snapshot it knows of. One small LevelDB under `<data dir>/catalog`,
// mirrored in memory once loaded; loading reads entries only (no tenant is opened), in the background of the start.
//
// The state written here is authoritative: a tenant marked cold whose directory is still on disk (a crash between
// the snapshot upload and the removal) has stale files, which are removed before the tenant is restored.
import { ClassicLevel } from 'classic-level';
import { isTenantId } from '../rem/tenant-id.js';

/** absent: no data anywhere, the entry only remembers a purge (its `purged_hlc`). */
export type StoredState = 'warm' | 'cold' | 'absent';

/** What a snapshot in object storage covers, as the catalog remembers it. */
export interface SnapshotRef {
  id: string;
  stream_seq: number;
  created_at: string;
  bytes: number;
  digest: string;
  counts: { resources: number; entities: number; moments: number; tombstones: number };
}

export interface CatalogEntry {
  state: StoredState;
  pinned: boolean;
  last_access_ms?: number;
  size_bytes?: number;
  /** How long the tenant's last open (warm → hot) or restore (cold → hot) took. */
  rebuild_ms?: number;
  snapshot?: SnapshotRef;
  /** Epoch ms of the last local write or replicated apply the latest snapshot does not cover (interval snapshots). */
  dirty_since_ms?: number;
  /** The tenant was purged at this HLC: ops at or before it are dropped (a late op cannot bring old data back). */
  purged_hlc?: string;
  updated_ms: number;
}

export class TenantCatalog {
  private readonly db: ClassicLevel<string, CatalogEntry>;
  private readonly entries = new Map<string, CatalogEntry>();
  private loading: Promise<void> | undefined;
  private loaded = false;

  constructor(dir: string) {
    this.db = new ClassicLevel<string, CatalogEntry>(dir, { valueEncoding: 'json' });
  }

  /** Opens the catalog and reads its entries (once; later calls wait for the same load). */
  load(): Promise<void> {
    this.loading ??= (async () => {
      await this.db.open();
      for await (const [tenant, entry] of this.db.iterator()) {
        // a hand-edited or damaged entry is skipped, not trusted
        if (isTenantId(tenant) && entry && (entry.state === 'warm' || entry.state === 'cold' || entry.state === 'absent')) this.entries.set(tenant, entry);
      }
      this.loaded = true;
    })();
    return this.loading;
  }

  get(tenant: string): CatalogEntry | undefined {
    return this.entries.get(tenant);
  }

  /** Every entry (a copy of the list, safe to iterate while entries change). */
  all(): [string, CatalogEntry][] {
    return [...this.entries];
  }

  async put(tenant: string, change: Partial<CatalogEntry>): Promise<CatalogEntry> {
    await this.load();
    const prev = this.entries.get(tenant);
    const next: CatalogEntry = { state: 'warm', pinned: false, ...prev, ...change, updated_ms: Date.now() };
    this.entries.set(tenant, next);
    await this.db.put(tenant, next);
    return next;
  }

  async delete(tenant: string): Promise<void> {
    await this.load();
    this.entries.delete(tenant);
    await this.db.del(tenant);
  }

  async close(): Promise<void> {
    if (this.loading) await this.loading.catch(() => undefined);
    await this.db.close();
  }
}
