// Wires a node to NATS: connects in the background (the node serves requests meanwhile and keeps ops in its
// outboxes), makes sure the sync stream and this node's durable consumer exist, then runs the publisher and applier.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../bus/connection.js';
import { SYNC_STREAM } from '../bus/names.js';
import { ensureSyncConsumer, ensureSyncStream } from '../bus/sync-stream.js';
import type { NodeMetrics } from '../metrics/metrics.js';
import { retry } from '../rem/retry.js';
import type { TenantManager } from '../store/tenant-manager.js';
import { SyncApplier } from './applier.js';
import { OutboxPublisher } from './publisher.js';
import type { StreamAccess } from './stream-replay.js';

export interface ReplicatorOptions {
  natsUrl: string;
  nodeId: string;
  tenants: TenantManager;
  markerDir: string;
  streamMaxAgeMs: number;
  streamReplicas: number;
  inflightMax: number;
  maxDeliver: number;
  outboxBatchMax: number;
  /** Redelivery delay of an op delivered but not acknowledged (a crashed node's in-flight ops). */
  ackWaitMs: number;
  /** Deepest nesting of a replicated op's records (the request body bound). */
  jsonDepthMax: number;
  metrics?: NodeMetrics;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Called once the stream and this node's consumer exist (the lifecycle opens its KV buckets then). */
  onConnected?: (access: StreamAccess) => Promise<void>;
}

export type ReplicatorState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

export class Replicator {
  readonly publisher: OutboxPublisher;
  private applier: SyncApplier | undefined;
  private nc: NatsConnection | undefined;
  private stopped = false;
  private readonly stopping = new AbortController();
  private started: Promise<void> | undefined;
  private access: StreamAccess | undefined;
  state: ReplicatorState = 'connecting';

  constructor(private readonly o: ReplicatorOptions) {
    this.publisher = new OutboxPublisher({
      tenants: o.tenants,
      markerDir: o.markerDir,
      batchMax: o.outboxBatchMax,
      publishTimeoutMs: 5_000,
      metrics: o.metrics,
      log: o.log,
    });
  }

  kick(tenant: string): void {
    this.publisher.kick(tenant);
  }

  /** The JetStream clients and this node's durable consumer, once connected (restores replay the stream with them). */
  streamAccess(): StreamAccess {
    if (!this.access || this.state !== 'connected') throw new Error(`the sync stream is not reachable (replication ${this.state})`);
    return this.access;
  }

  start(): void {
    this.started = this.run().catch((err) => {
      if (!this.stopped) this.o.log.error({ err: String(err) }, 'replication failed to start');
    });
  }

  private async run(): Promise<void> {
    const nc = await this.retry(() => connectNats(this.o.natsUrl, `percolate-node-${this.o.nodeId}`));
    if (this.stopped) {
      await nc.close();
      return;
    }
    this.nc = nc;
    void this.watch(nc);
    const jsm = await this.retry(() => jetstreamManager(nc));
    await this.retry(() => ensureSyncStream(jsm, { maxAgeMs: this.o.streamMaxAgeMs, replicas: this.o.streamReplicas }));
    const consumerOptions = { inflightMax: this.o.inflightMax, maxDeliver: this.o.maxDeliver, ackWaitMs: this.o.ackWaitMs };
    const durable = await this.retry(() => ensureSyncConsumer(jsm, this.o.nodeId, consumerOptions));
    if (this.stopped) return;
    const js = jetstream(nc);
    this.access = { js, jsm, durable };
    this.state = 'connected';
    this.o.log.info({ node_id: this.o.nodeId, stream: SYNC_STREAM, consumer: durable }, 'replication connected');
    this.publisher.setClient(js);
    this.applier = new SyncApplier({
      nodeId: this.o.nodeId,
      tenants: this.o.tenants,
      batchMax: 512,
      pullMax: Math.min(this.o.inflightMax, 1024),
      jsonDepthMax: this.o.jsonDepthMax,
      metrics: this.o.metrics,
      log: this.o.log,
    });
    let opened = false;
    this.applier.start(async () => {
      // again after the subscription ended by itself: the consumer may have been deleted, so make sure it exists
      if (opened) await ensureSyncConsumer(jsm, this.o.nodeId, consumerOptions);
      opened = true;
      return js.consumers.get(SYNC_STREAM, durable);
    });
    if (this.o.onConnected) await this.retry(() => this.o.onConnected!(this.access!));
  }

  /** JetStream may not be ready right after a (re)start of its servers: retry management calls with backoff. */
  private retry<T>(fn: () => Promise<T>): Promise<T> {
    // 200 ms doubling up to 5 s, for as long as it takes; stop() aborts the wait
    return retry(fn, {
      initialMs: 200,
      maxMs: 5_000,
      signal: this.stopping.signal,
      onRetry: ({ error }) => this.o.log.warn({ err: String(error) }, 'NATS or JetStream not reachable yet; retrying'),
    });
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.state = 'disconnected';
        this.o.log.warn({}, 'NATS disconnected; writes are kept in the outbox');
      } else if (s.type === 'reconnect') {
        this.state = 'connected';
        this.o.log.info({}, 'NATS reconnected');
        void this.publisher.sweep();
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort(new Error('replicator stopped'));
    this.state = 'stopped';
    await this.publisher.stop();
    await this.applier?.stop();
    await this.nc?.drain().catch(() => undefined);
    await this.started;
    this.started = undefined;
  }
}
