// The node's tenant lifecycle wiring: snapshots in S3 (when configured), the cold storage the tenant manager restores
// from, the durable operations and the purge tombstones. With NATS, operations and tombstones live in JetStream KV,
// opened once the replicator is connected (until then operation routes answer 503); standalone, operations are kept
// in `<data>/operations`.
import path from 'node:path';
import type { NodeConfig } from '../../shared/config/config.js';
import { createS3Client } from '../../shared/blob/s3.js';
import { S3ColdStorage } from '../../shared/lifecycle/cold-storage.js';
import { KvOperationStore, LocalOperationStore } from '../../shared/lifecycle/operation-store.js';
import { PurgeRegistry } from '../../shared/lifecycle/purges.js';
import { SnapshotStore } from '../../shared/lifecycle/snapshot-store.js';
import { TenantOperations } from '../../shared/lifecycle/tenant-operations.js';
import type { LifecycleMetrics } from '../../shared/metrics/lifecycle-metrics.js';
import { RemError } from '../../shared/rem/errors.js';
import type { HybridLogicalClock } from '../../shared/rem/hlc.js';
import type { OpRejectReason } from '../../shared/rem/validate-op.js';
import type { Replicator } from '../../shared/replication/replicator.js';
import type { StreamAccess } from '../../shared/replication/stream-replay.js';
import type { TenantManager } from '../../shared/store/tenant-manager.js';

type Log = { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };

export class NodeLifecycle {
  readonly snapshots: SnapshotStore | undefined;
  readonly coldStorage: S3ColdStorage | undefined;
  private ops: TenantOperations | undefined;
  private purges: PurgeRegistry | undefined;
  private tenants: TenantManager | undefined;
  private stopped = false;

  constructor(
    private readonly cfg: NodeConfig,
    private readonly deps: {
      clock: HybridLogicalClock;
      replicator: () => Replicator | undefined;
      metrics: () => LifecycleMetrics | undefined;
      log: () => Log;
      /** An op a restore's replay refused (counted like the applier's refusals). */
      replayRefused?: (reason: OpRejectReason) => void;
    },
  ) {
    const s3 = cfg.lifecycle.snapshots;
    this.snapshots = s3 ? new SnapshotStore({ client: createS3Client(s3), bucket: s3.bucket, archiveBytesMax: cfg.lifecycle.restoreBytesMax }) : undefined;
    const replicated = cfg.natsUrl !== '';
    // without S3 and NATS a tenant with no local files has nowhere else to be
    this.coldStorage =
      this.snapshots || replicated
        ? new S3ColdStorage({
            dataDir: cfg.dataDir,
            nodeId: cfg.nodeId,
            snapshots: this.snapshots,
            keep: cfg.lifecycle.snapshotsKeep,
            stream: replicated ? () => this.stream() : undefined,
            publishOutbox: replicated ? (store) => this.replicator().publisher.publishFrom(store) : undefined,
            replay: { batchMax: 512, jsonDepthMax: cfg.jsonDepthMax, timeoutMs: cfg.lifecycle.replayTimeoutMs, onRefused: deps.replayRefused },
            metrics: () => deps.metrics(),
            log: { warn: (o, m) => deps.log().warn(o, m) },
          })
        : undefined;
  }

  private replicator(): Replicator {
    const r = this.deps.replicator();
    if (!r) throw new Error('replication is not configured');
    return r;
  }

  private stream(): StreamAccess {
    return this.replicator().streamAccess();
  }

  /** The manager exists after this object (it takes the cold storage); called once it does. */
  attach(tenants: TenantManager): void {
    this.tenants = tenants;
  }

  /** The durable operations, or 503 while their store is not reachable yet. */
  operations(): TenantOperations {
    if (!this.ops) throw new RemError('tenant_unavailable', 'tenant operations are not available yet: the operation store (JetStream KV) is not connected', { retry_after_s: 5 });
    return this.ops;
  }

  /** Standalone: operations in the node's own store, resumed now. Always: the staging directory of a crash is cleared. */
  async start(): Promise<void> {
    await this.coldStorage?.clearStaging();
    if (this.cfg.natsUrl === '') {
      const store = await LocalOperationStore.open({ dir: path.join(this.cfg.dataDir, 'operations'), observer: { warn: (o, m) => this.deps.log().warn(o, m) } });
      this.ops = this.build(store, undefined);
      await this.ops.resume();
    }
  }

  /** With NATS: the operation bucket and the tombstones, once connected (retried by the replicator until it works). */
  async onConnected(access: StreamAccess): Promise<void> {
    if (this.stopped || !this.tenants) return;
    const tenants = this.tenants;
    this.purges ??= await PurgeRegistry.open(access.js, { apply: (t, hlc) => tenants.applyPurge(t, hlc), replicas: this.cfg.syncReplicas, log: this.deps.log() });
    if (!this.ops) {
      const store = await KvOperationStore.open(access.js, { replicas: this.cfg.syncReplicas, observer: { warn: (o, m) => this.deps.log().warn(o, m) } });
      this.ops = this.build(store, this.purges);
      await this.ops.resume();
    }
  }

  private build(store: LocalOperationStore | KvOperationStore, purges: PurgeRegistry | undefined): TenantOperations {
    return new TenantOperations({
      tenants: this.tenants!,
      nodeId: this.cfg.nodeId,
      clock: this.deps.clock,
      store,
      snapshots: this.snapshots,
      stream: this.cfg.natsUrl !== '' ? () => this.stream() : undefined,
      purges,
      jobsPurgeMax: 100_000,
      onTransition: (kind, status) => this.deps.metrics()?.operations.inc({ kind, status }),
      log: this.deps.log(),
    });
  }

  /**
   * Before the node goes away (Kubernetes preStop, SIGTERM): every hot tenant's outbox published and a snapshot of
   * each hot tenant with writes its latest snapshot lacks, within `deadlineMs`. What does not finish in time is left
   * to the stream (ops already published) and to the next node's restore.
   */
  async drain(deadlineMs: number): Promise<{ outbox_remaining: number; snapshots: number; snapshot_failures: number; timed_out: boolean }> {
    const tenants = this.tenants!;
    const deadline = Date.now() + deadlineMs;
    const left = () => Math.max(0, deadline - Date.now());
    const replicator = this.deps.replicator();
    if (replicator) {
      for (const t of tenants.hotTenants()) replicator.kick(t);
      while (tenants.outboxDepth() > 0 && left() > 0) await new Promise((r) => setTimeout(r, 50));
    }
    let snapshots = 0;
    let failures = 0;
    if (this.snapshots) {
      const due = tenants.hotTenants().filter((t) => tenants.hasUnsnapshottedWrites(t));
      // two at a time: each is an upload; the rest waits for the deadline
      const work = async () => {
        for (let t = due.shift(); t !== undefined && left() > 0; t = due.shift()) {
          await tenants.snapshot(t).then(
            () => void snapshots++,
            (err: unknown) => {
              failures++;
              this.deps.log().warn({ tenant: t, err: String(err) }, 'drain: snapshot failed; the tenant is restored from its last snapshot and the stream');
            },
          );
        }
      };
      await Promise.race([Promise.all([work(), work()]), new Promise((r) => setTimeout(r, left()).unref())]);
    }
    return { outbox_remaining: tenants.outboxDepth(), snapshots, snapshot_failures: failures, timed_out: left() === 0 };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.ops?.stop();
    await this.purges?.stop();
  }
}
