// The durable tenant operations of a database node (POST /api/v1/tenant/{snapshot,offload,restore,pin,unpin},
// DELETE /api/v1/tenant): each a list of idempotent steps run by the OperationRunner over the node's operation store.
//
// Purge removes the tenant everywhere, in this order: the tombstone (this node, then every node through the
// tombstone bucket; from then on no op at or before it is applied anywhere), the S3 objects (snapshots and uploads),
// the job states, and the tenant's messages in the sync stream. Each step can run again after a crash.
import { Kvm } from '@nats-io/kv';
import { JOBS_BUCKET, SYNC_STREAM, syncSubject } from '../bus/names.js';
import { RemError } from '../rem/errors.js';
import type { HybridLogicalClock } from '../rem/hlc.js';
import { isHlc } from '../rem/hlc.js';
import { lastSeqOf, type StreamAccess } from '../replication/stream-replay.js';
import type { TenantManager } from '../store/tenant-manager.js';
import { OperationRunner, type Operation, type OperationKind, type OperationStore, type StepContext } from './operations.js';
import type { PurgeRegistry } from './purges.js';
import type { SnapshotStore } from './snapshot-store.js';

export interface TenantOperationsOptions {
  tenants: TenantManager;
  nodeId: string;
  clock: HybridLogicalClock;
  store: OperationStore;
  snapshots: SnapshotStore | undefined;
  /** The sync stream (undefined standalone; throws while NATS is unreachable, and the step is retried on resume). */
  stream: (() => StreamAccess) | undefined;
  purges: PurgeRegistry | undefined;
  /** Job states deleted by one purge at most (a tenant's jobs of the job bucket's retention). */
  jobsPurgeMax: number;
  onTransition?: (kind: string, status: string) => void;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export class TenantOperations {
  readonly runner: OperationRunner<OperationKind>;

  constructor(private readonly o: TenantOperationsOptions) {
    this.runner = new OperationRunner<OperationKind>({
      node: o.nodeId,
      store: o.store,
      observer: o.log,
      onTransition: (kind, status) => o.onTransition?.(kind, status),
    });
    const t = o.tenants;
    this.runner.register('snapshot', [{ name: 'snapshot', run: async (ctx) => ctx.setResult({ snapshot: await t.snapshot(ctx.tenant) }) }]);
    this.runner.register('offload', [{ name: 'offload', run: async (ctx) => ctx.setResult({ snapshot: await t.offload(ctx.tenant) }) }]);
    this.runner.register('restore', [
      {
        name: 'restore',
        run: async (ctx) => {
          await t.use(ctx.tenant, false, async () => undefined);
          ctx.setResult({ state: t.presence(ctx.tenant)?.state ?? null });
        },
      },
    ]);
    this.runner.register('pin', [{ name: 'pin', run: async (ctx) => t.setPinned(ctx.tenant, true) }]);
    this.runner.register('unpin', [{ name: 'unpin', run: async (ctx) => t.setPinned(ctx.tenant, false) }]);
    this.runner.register('purge', [
      { name: 'tombstone', run: (ctx) => this.tombstone(ctx) },
      { name: 'objects', run: (ctx) => this.purgeObjects(ctx) },
      { name: 'jobs', run: (ctx) => this.purgeJobs(ctx) },
      { name: 'stream', run: (ctx) => this.purgeStream(ctx) },
    ]);
  }

  /** Starts an operation; a purge is given its tombstone's HLC now, so a re-run of its steps uses the same one. */
  start(kind: OperationKind, tenant: string): Promise<Operation<OperationKind>> {
    return this.runner.start(kind, tenant, kind === 'purge' ? { hlc: this.o.clock.now() } : {});
  }

  get(id: string): Promise<Operation<string> | undefined> {
    return this.o.store.get(id);
  }

  resume(): Promise<number> {
    return this.runner.resume();
  }

  async stop(): Promise<void> {
    await this.runner.stop();
    await this.o.store.close();
  }

  private hlcOf(ctx: StepContext<OperationKind>): string {
    const hlc = (ctx.params as { hlc?: unknown } | null)?.hlc;
    if (!isHlc(hlc)) throw new RemError('invalid_request', 'purge operation has no tombstone timestamp');
    return hlc;
  }

  private async tombstone(ctx: StepContext<OperationKind>): Promise<void> {
    const hlc = this.hlcOf(ctx);
    // the stream's messages up to here are the tenant's old ops; later ones may be writes after the purge (kept)
    const streamSeq = this.o.stream ? await lastSeqOf(this.o.stream().jsm, ctx.tenant) : 0;
    await ctx.setDetail({ stream_seq: streamSeq });
    await this.o.tenants.applyPurge(ctx.tenant, hlc);
    await this.o.purges?.publish({ tenant: ctx.tenant, hlc, node: this.o.nodeId, purged_at: new Date().toISOString() });
  }

  private async purgeObjects(ctx: StepContext<OperationKind>): Promise<void> {
    if (!this.o.snapshots) return;
    const r = await this.o.snapshots.deleteTenant(ctx.tenant);
    await ctx.setDetail({ objects_deleted: r.objects, uploads_aborted: r.multipartUploads });
  }

  private async purgeJobs(ctx: StepContext<OperationKind>): Promise<void> {
    if (!this.o.stream) return;
    const { js } = this.o.stream();
    let kv;
    try {
      kv = await new Kvm(js).open(JOBS_BUCKET);
      await kv.status();
    } catch {
      return; // no job bucket: this installation never ran a job
    }
    const keys: string[] = [];
    for await (const k of await kv.keys(`${ctx.tenant}.*`)) {
      keys.push(k);
      if (keys.length >= this.o.jobsPurgeMax) break;
    }
    for (const k of keys) await kv.purge(k);
    await ctx.setDetail({ job_states_deleted: keys.length });
  }

  private async purgeStream(ctx: StepContext<OperationKind>): Promise<void> {
    if (!this.o.stream) return;
    const detail = ctx.operation.steps.find((s) => s.name === 'tombstone')?.detail as { stream_seq?: unknown } | undefined;
    const upTo = typeof detail?.stream_seq === 'number' && Number.isSafeInteger(detail.stream_seq) ? detail.stream_seq : undefined;
    if (upTo === undefined) throw new RemError('invalid_request', 'purge operation lost the stream sequence of its tombstone');
    if (upTo === 0) return;
    // seq: messages below it go; ops written after the tombstone (the tenant used again) stay
    const r = await this.o.stream().jsm.streams.purge(SYNC_STREAM, { filter: syncSubject(ctx.tenant), seq: upTo + 1 });
    await ctx.setDetail({ stream_messages_purged: r.purged });
  }
}
