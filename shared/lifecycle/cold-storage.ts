// Where a cold tenant lives, as the tenant manager sees it (ColdStorage): snapshots in S3 (snapshot-store.ts) and the
// tenant's ops after them in the sync stream (replication/stream-replay.ts).
//
// The sequence a snapshot covers is this node's acknowledged floor of the sync stream, read before the tenant's files
// are copied: every op at or below it was applied to (or was this node's own write in) the store being copied. A lower
// number is always safe (replayed ops merge idempotently), so when the stream cannot be asked the last floor seen is
// used, or 0.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { LifecycleMetrics } from '../metrics/lifecycle-metrics.js';
import { RemError } from '../rem/errors.js';
import { ackFloor, lastSeqOf, replayTenant, type ReplayOptions, type StreamAccess } from '../replication/stream-replay.js';
import type { ColdStorage, SnapshotRef } from '../store/tenant-manager.js';
import type { TenantStore } from '../store/tenant-store.js';
import type { SnapshotManifest } from './snapshot.js';
import { restoreSnapshot, takeSnapshot, type SnapshotStore } from './snapshot-store.js';

export interface ColdStorageOptions {
  dataDir: string;
  nodeId: string;
  /** Snapshots in S3; undefined: no snapshots (a tenant comes back from the stream alone, and never goes cold). */
  snapshots: SnapshotStore | undefined;
  /** Snapshots kept per tenant. */
  keep: number;
  /**
   * The sync stream: undefined on a standalone node; throws while NATS is unreachable (a restore then fails with
   * 503 rather than answer without the ops since the snapshot).
   */
  stream: (() => StreamAccess) | undefined;
  replay: ReplayOptions;
  /** Publishes the whole outbox of a store held by the caller (the replicator's publisher); absent when standalone. */
  publishOutbox: ((store: TenantStore) => Promise<void>) | undefined;
  /** The node's lifecycle metrics (created after the tenant manager that uses this object). */
  metrics: () => LifecycleMetrics | undefined;
  log: { warn(obj: object, msg: string): void };
}

/** Where snapshots are captured and unpacked: under the data directory, so that renames stay on one filesystem. */
export function stagingRoot(dataDir: string): string {
  return path.join(dataDir, 'staging');
}

export function snapshotRef(m: SnapshotManifest): SnapshotRef {
  return { id: m.id, stream_seq: m.stream_seq, created_at: m.created_at, bytes: m.archive.bytes, digest: m.digest, counts: { ...m.counts } };
}

export class S3ColdStorage implements ColdStorage {
  private lastFloor = 0;

  constructor(private readonly o: ColdStorageOptions) {}

  get snapshots(): boolean {
    return this.o.snapshots !== undefined;
  }

  private get snaps(): SnapshotStore {
    if (!this.o.snapshots) throw new RemError('invalid_request', 'snapshots are off on this node (PERCOLATE_SNAPSHOTS, PERCOLATE_S3_BUCKET)');
    return this.o.snapshots;
  }

  /** Removes what a crash left in the staging directory (a service calls this at start). */
  async clearStaging(): Promise<void> {
    await fs.rm(stagingRoot(this.o.dataDir), { recursive: true, force: true });
  }

  private async coveredSeq(): Promise<number> {
    if (!this.o.stream) return 0;
    try {
      this.lastFloor = Math.max(this.lastFloor, await ackFloor(this.o.stream()));
    } catch (err) {
      this.o.log.warn({ err: String((err as Error).message) }, 'sync stream unreachable: the snapshot covers the last acknowledged floor seen');
    }
    return this.lastFloor;
  }

  async snapshot(store: TenantStore): Promise<SnapshotRef> {
    const snaps = this.snaps;
    const streamSeq = await this.coveredSeq();
    await fs.mkdir(stagingRoot(this.o.dataDir), { recursive: true });
    const r = await takeSnapshot(store, snaps, stagingRoot(this.o.dataDir), { streamSeq, node: this.o.nodeId });
    this.o.metrics()?.snapshotBytes.inc({ direction: 'upload' }, r.manifest.archive.bytes);
    // older snapshots go once the new one is complete; a failed prune is retried by the next snapshot
    await snaps.prune(store.tenant, this.o.keep).catch((err: unknown) => this.o.log.warn({ tenant: store.tenant, err: String(err) }, 'old snapshots could not be pruned'));
    return snapshotRef(r.manifest);
  }

  async fetchLatest(tenant: string, dir: string): Promise<SnapshotRef | undefined> {
    const m = await this.snaps.latest(tenant);
    if (!m) return undefined;
    await fs.mkdir(stagingRoot(this.o.dataDir), { recursive: true });
    const installed = await restoreSnapshot(this.snaps, m, this.o.dataDir, stagingRoot(this.o.dataDir));
    if (path.resolve(installed) !== path.resolve(dir)) throw new Error(`snapshot installed in ${installed}, expected ${dir}`);
    this.o.metrics()?.snapshotBytes.inc({ direction: 'download' }, m.archive.bytes);
    return snapshotRef(m);
  }

  async hasOps(tenant: string, afterSeq: number): Promise<boolean> {
    if (!this.o.stream) return false;
    return (await lastSeqOf(this.o.stream().jsm, tenant)) > afterSeq;
  }

  async catchUp(store: TenantStore, afterSeq: number): Promise<{ applied: number; throughSeq: number }> {
    if (!this.o.stream) return { applied: 0, throughSeq: 0 };
    const r = await replayTenant(this.o.stream(), store, afterSeq, this.o.replay);
    if (r.gap) {
      this.o.log.warn(
        { tenant: store.tenant, from_seq: afterSeq + 1 },
        "the sync stream no longer holds every op after the tenant's snapshot (retention): ops of that gap may be missing",
      );
    }
    if (r.refused > 0) this.o.log.warn({ tenant: store.tenant, refused: r.refused }, 'replayed ops that break the write rules were skipped');
    // the snapshot holds every op up to afterSeq, the replay the ones after it
    return { applied: r.applied, throughSeq: Math.max(afterSeq, r.lastSeq) };
  }

  async drainOutbox(store: TenantStore): Promise<void> {
    if (store.outboxDepth > 0) {
      if (!this.o.publishOutbox) throw new Error(`tenant '${store.tenant}' has ${store.outboxDepth} unpublished ops and no sync stream to publish them to`);
      try {
        await this.o.publishOutbox(store);
      } catch (err) {
        throw new RemError('tenant_unavailable', `tenant '${store.tenant}' has ${store.outboxDepth} unpublished ops (${String((err as Error).message)}); it stays local`, { retry_after_s: 30 });
      }
      if (store.outboxDepth > 0) throw new RemError('tenant_unavailable', `tenant '${store.tenant}' still has unpublished ops; it stays local`, { retry_after_s: 5 });
    }
    // published entries are deleted with the store's next batch: the archive must not carry them (a restore elsewhere
    // would publish them again)
    await store.flushOutbox();
  }
}
