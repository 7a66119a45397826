// Drains tenants' outboxes into JetStream (`percolate.sync.<tenant>`, Nats-Msg-Id = op_id) and deletes entries only
// after their PubAck. While NATS is unreachable the ops wait in the outbox; drains retry with capped backoff.
import type { JetStreamClient } from '@nats-io/jetstream';
import { syncSubject } from '../bus/names.js';
import type { NodeMetrics } from '../metrics/metrics.js';
import { RemError } from '../rem/errors.js';
import { backoffDelay } from '../rem/retry.js';
import type { TenantManager } from '../store/tenant-manager.js';
import type { TenantStore } from '../store/tenant-store.js';
import { clearOutboxPending, pendingOutboxTenants } from '../store/outbox.js';

export interface PublisherOptions {
  tenants: TenantManager;
  markerDir: string;
  batchMax: number;
  publishTimeoutMs: number;
  metrics?: NodeMetrics;
  log?: { warn(obj: object, msg: string): void };
}

const OP_ID = /^\{"v":1,"op_id":"([^"]+)"/;
/** Retry delays of a failed drain: 100 ms, doubling up to 5 s. */
const BACKOFF = { initialMs: 100, maxMs: 5_000 };

export function opIdOf(opJson: string): string {
  const m = OP_ID.exec(opJson);
  if (!m) throw new Error('outbox entry is not an op');
  return m[1]!;
}

export class OutboxPublisher {
  private js: JetStreamClient | undefined;
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Consecutive failed drains per tenant whose last drain failed. */
  private readonly failures = new Map<string, number>();
  private stopped = false;

  constructor(private readonly o: PublisherOptions) {}

  /** Publishing starts (or resumes) once a JetStream client is available. */
  setClient(js: JetStreamClient | undefined): void {
    this.js = js;
    if (js) void this.sweep();
  }

  /** Schedules a drain of `tenant`'s outbox; repeated kicks while draining coalesce into one more round. */
  kick(tenant: string): void {
    if (this.stopped) return;
    if (this.running.has(tenant)) {
      this.again.add(tenant);
      return;
    }
    clearTimeout(this.timers.get(tenant));
    this.timers.delete(tenant);
    const run = this.drain(tenant)
      .then(
        () => void this.failures.delete(tenant),
        (err) => this.scheduleRetry(tenant, err),
      )
      .finally(() => {
        this.running.delete(tenant);
        if (this.again.delete(tenant)) this.kick(tenant);
      });
    this.running.set(tenant, run);
  }

  /** Drains every tenant that has an outbox marker (after a restart, or when NATS comes back). */
  async sweep(): Promise<void> {
    for (const tenant of await pendingOutboxTenants(this.o.markerDir)) this.kick(tenant);
  }

  private scheduleRetry(tenant: string, err: unknown): void {
    if (this.stopped) return;
    const failures = (this.failures.get(tenant) ?? 0) + 1;
    if (failures === 1) this.o.log?.warn({ tenant, err: String(err) }, 'outbox publish failed; ops stay in the outbox and will be retried');
    this.failures.set(tenant, failures);
    const delayMs = backoffDelay(failures, BACKOFF);
    const timer = setTimeout(() => {
      this.timers.delete(tenant);
      this.kick(tenant);
    }, delayMs);
    timer.unref();
    this.timers.set(tenant, timer);
  }

  private async drain(tenant: string): Promise<void> {
    try {
      const local = await this.o.tenants.useLocal(tenant, (store) => this.publishFrom(store));
      // a marker of a tenant with no files here (purged, or cold: made cold only with an empty outbox) is stale
      if (!local) await clearOutboxPending(this.o.markerDir, tenant);
    } catch (err) {
      if (err instanceof RemError && err.code === 'tenant_not_found') {
        await clearOutboxPending(this.o.markerDir, tenant);
        return;
      }
      throw err;
    }
  }

  /**
   * Publishes the whole outbox of a store the caller holds (a tenant on its way to cold storage, whose leases wait
   * for it); throws when NATS is not reachable.
   */
  async publishFrom(store: TenantStore): Promise<void> {
    const js = this.js;
    if (!js) throw new Error('not connected to NATS');
    const tenant = store.tenant;
    for (;;) {
      const batch = await store.outboxBatch(this.o.batchMax);
      if (batch.length === 0) break;
      await Promise.all(batch.map((e) => js.publish(syncSubject(tenant), e.op, { msgID: opIdOf(e.op), timeout: this.o.publishTimeoutMs })));
      store.outboxRemove(batch.map((e) => e.key));
      this.o.metrics?.opsPublished.inc(batch.length);
    }
    store.outboxDrained();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled(this.running.values());
  }
}
