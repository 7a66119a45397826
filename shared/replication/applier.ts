// Applies other nodes' ops from this node's durable JetStream consumer. Messages are taken as they arrive and
// grouped per tenant into one merge + one LevelDB batch; they are acknowledged only after that batch committed, so
// a crash redelivers them (and applying twice is harmless). In-flight messages are bounded by max_ack_pending.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { tenantOfSyncSubject } from '../bus/names.js';
import { countReplicated, type NodeMetrics } from '../metrics/metrics.js';
import type { TenantManager } from '../store/tenant-manager.js';
import { hlcWallMs } from '../rem/hlc.js';
import type { Op } from '../rem/ops.js';
import { decodeOpMessage, originOf } from './op-message.js';
import { OpRejected, validateOp, type OpRejectReason } from '../rem/validate-op.js';
import { storeOpRules } from '../store/op-rules.js';
import { isTenantId } from '../rem/tenant-id.js';

export interface ApplierOptions {
  nodeId: string;
  tenants: TenantManager;
  /** Messages merged into one batch at most. */
  batchMax: number;
  /** Messages pulled ahead of processing at most. */
  pullMax: number;
  /** Deepest nesting of an op's JSON text; deeper messages are refused before they are parsed. */
  jsonDepthMax: number;
  /** How often an idle subscription is checked for a stall (STALL_CHECK_MS), and slow batches reported. */
  stallCheckMs?: number;
  /** A batch applying longer than this is reported once (APPLY_SLOW_MS). */
  applySlowMs?: number;
  metrics?: NodeMetrics;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

const NAK_DELAY_MS = 1000;
const BATCHES_IN_FLIGHT = 2;
/** Pause before a subscription that ended by itself is opened again, doubling per restart up to the max. */
const CONSUME_RESTART_MS = 250;
const CONSUME_RESTART_MS_MAX = 10_000;
/** How often an idle subscription asks the server whether messages wait for it (a stalled pull). */
const STALL_CHECK_MS = 5_000;
/** A batch still applying after this long is reported (nothing else would show a hang of the apply path). */
const APPLY_SLOW_MS = 60_000;
/** Consumer notifications that mean trouble (the others report routine pulls and heartbeats). */
const WATCHED_EVENTS = new Set(['heartbeats_missed', 'consumer_not_found', 'consumer_deleted', 'stream_not_found', 'exceeded_limits', 'no_responders']);

export class SyncApplier {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(private readonly o: ApplierOptions) {}

  /**
   * Applies what the consumer returned by `open` delivers, until stop(). `open` is called again whenever the
   * subscription ended by itself, so it should make sure the durable consumer exists (it may have been deleted).
   */
  start(open: () => Promise<Consumer>): void {
    this.loop = this.run(open).catch((err) => this.o.log?.error({ err: String(err) }, 'replication applier stopped'));
  }

  private queue: JsMsg[] = [];
  private flushing: Promise<void> | undefined;

  private async run(open: () => Promise<Consumer>): Promise<void> {
    // The subscription ends by itself on a terminal status (a refused pull request, a lost connection), and is
    // ended here when the client reports the durable consumer gone (deleted by an operator, or lost with the
    // server's state; the client alone would look for it forever) or when it receives nothing while the server holds
    // messages for it (checkStalled). Nothing else would apply ops on this node again, so it is opened again after a
    // pause (the consumer re-created), for as long as the applier is not stopped.
    // Unacknowledged messages are redelivered to the new subscription; a re-created consumer replays the stream,
    // which merge makes harmless.
    let restarts = 0;
    while (!this.stopped) {
      const openedMs = Date.now();
      const ended = await open()
        .then((consumer) => this.consumeUntilClosed(consumer))
        .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      if (this.stopped) return;
      if (Date.now() - openedMs > CONSUME_RESTART_MS_MAX) restarts = 0; // it worked for a while: not a failing loop
      this.o.metrics?.consumerEvents.inc({ event: 'restarted' });
      this.o.log?.error({ err: ended ? String(ended) : undefined, restarts }, 'replication consumer ended without a stop; opening it again');
      const pauseMs = Math.min(CONSUME_RESTART_MS_MAX, CONSUME_RESTART_MS * 2 ** Math.min(restarts++, 8));
      await sleep(pauseMs, undefined, { signal: this.stopping.signal }).catch(() => undefined); // stop() cuts it short
    }
  }

  /** One subscription of the consumer: resolves when it closed (with its error, if any). */
  private async consumeUntilClosed(consumer: Consumer): Promise<void | Error> {
    // Messages are queued by the client's callback and applied by one flush loop: whatever arrived while the
    // previous batch was applying forms the next batch (large when catching up, one message when idle). The queue
    // cannot outgrow the consumer's max_ack_pending, since nothing is acknowledged before it is applied.
    // A short pull expiry notices missed heartbeats after a server failure in seconds, not the 30 s default.
    const messages = await consumer.consume({
      max_messages: this.o.pullMax,
      expires: 5_000,
      callback: (m) => {
        this.delivered++;
        this.queue.push(m);
        this.flushing ??= this.flush();
      },
    });
    this.messages = messages;
    if (this.stopped) messages.stop(); // stop() ran while the subscription was being opened
    void this.watch(messages);
    const stallCheck = setInterval(() => void this.checkStalled(consumer, messages), this.o.stallCheckMs ?? STALL_CHECK_MS);
    stallCheck.unref();
    try {
      return await messages.closed();
    } finally {
      clearInterval(stallCheck);
    }
  }

  private delivered = 0;
  private deliveredAtCheck = -1;
  private unackedAtCheck = false;

  /**
   * Ends a subscription that receives nothing while the server holds messages for it: JetStream pull clients are
   * known to stall for good in rare sequences of reconnects and expired pulls, with no error to see (the client
   * issues of nats.rs, nats.java and nats-server have several). Asked only when nothing arrived since the last check
   * and nothing is being applied, so a busy or idle node pays nothing but one consumer info per check.
   */
  private async checkStalled(consumer: Consumer, messages: ConsumerMessages): Promise<void> {
    this.reportSlowBatches();
    const idle = this.delivered === this.deliveredAtCheck && this.queue.length === 0 && this.flushing === undefined;
    this.deliveredAtCheck = this.delivered;
    if (!idle || this.stopped) {
      this.unackedAtCheck = false;
      return;
    }
    const info = await consumer.info().catch(() => undefined); // unreachable: the client's own reconnect handles it
    if (!info || this.delivered !== this.deliveredAtCheck || this.messages !== messages) return;
    // messages never delivered mean a stall at once; delivered but unacknowledged ones are redelivered after the ack
    // wait to a pull that works, so only a second idle check still seeing them means a stall
    const unacked = info.num_ack_pending > 0;
    const stalled = info.num_pending > 0 || (unacked && this.unackedAtCheck);
    this.unackedAtCheck = unacked;
    if (!stalled) return;
    this.unackedAtCheck = false;
    this.o.metrics?.consumerEvents.inc({ event: 'stalled' });
    this.o.log?.warn({ num_pending: info.num_pending, num_ack_pending: info.num_ack_pending, num_waiting: info.num_waiting }, 'replication consumer received nothing while the stream holds ops for it; subscribing again');
    messages.stop();
  }

  /** Batches being applied, since when: one that takes minutes is stuck somewhere, and says so once. */
  private readonly applying = new Set<{ atMs: number; messages: number; reported: boolean }>();

  private reportSlowBatches(): void {
    const nowMs = Date.now();
    for (const b of this.applying) {
      if (b.reported || nowMs - b.atMs < (this.o.applySlowMs ?? APPLY_SLOW_MS)) continue;
      b.reported = true;
      this.o.metrics?.consumerEvents.inc({ event: 'apply_slow' });
      this.o.log?.error({ messages: b.messages, applying_ms: nowMs - b.atMs }, 'a batch of replicated ops has been applying for a long time; replication on this node waits for it');
    }
  }

  /** Counts and logs what the client reports about the subscription; ends it when the consumer is gone. */
  private async watch(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (!WATCHED_EVENTS.has(s.type)) continue;
      this.o.metrics?.consumerEvents.inc({ event: s.type });
      this.o.log?.warn({ event: s.type, status: s }, 'replication consumer reported trouble');
      if (s.type === 'consumer_not_found' || s.type === 'consumer_deleted') messages.stop();
    }
  }

  private async flush(): Promise<void> {
    // Two batches in flight: one validates and merges on the main thread while the other's LevelDB batch is written
    // on the thread pool (catching up, the loop was otherwise idle a third of the time). They may commit in either
    // order, which merge allows: LWW and the entity CRDT are commutative (property-tested), and each message is
    // acknowledged only after its own batch committed.
    const inflight = new Set<Promise<void>>();
    try {
      // messages that arrive while a batch is in flight are picked up here (this loop is the only flusher)
      while (this.queue.length > 0 || inflight.size > 0) {
        if (this.queue.length > 0 && inflight.size < BATCHES_IN_FLIGHT) {
          const batch = this.queue.splice(0, this.o.batchMax);
          const started = { atMs: Date.now(), messages: batch.length, reported: false };
          this.applying.add(started);
          const p: Promise<void> = this.applyBatch(batch).finally(() => {
            inflight.delete(p);
            this.applying.delete(started);
          });
          inflight.add(p);
          continue;
        }
        await Promise.race(inflight);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async applyBatch(msgs: JsMsg[]): Promise<void> {
    // grouped by the tenant of the subject (as a restore's replay reads them), parsed only once the message is known
    // to be applied (applyTenant), and checked to name that tenant
    const byTenant = new Map<string, JsMsg[]>();
    for (const msg of msgs) {
      if (originOf(msg.data) === this.o.nodeId) {
        msg.ack(); // our own op, already applied when it was written
        continue;
      }
      const tenant = tenantOfSyncSubject(msg.subject);
      if (tenant === undefined || !isTenantId(tenant)) {
        this.reject(msg, 'malformed', 'op was published under a subject that names no valid tenant');
        continue;
      }
      const list = byTenant.get(tenant) ?? [];
      list.push(msg);
      byTenant.set(tenant, list);
    }
    for (const [tenant, items] of byTenant) await this.applyTenant(tenant, items);
  }

  private async applyTenant(tenant: string, msgs: JsMsg[]): Promise<void> {
    try {
      const applied = await this.o.tenants.useReplicated(tenant, async (store) => {
        const ops: Op[] = [];
        const good: JsMsg[] = [];
        const rules = storeOpRules(store);
        let replayed = 0;
        for (const msg of msgs) {
          // a restore of the tenant replayed it already (and counted it, if it refused it)
          if (store.replayedThroughSeq !== undefined && msg.seq <= store.replayedThroughSeq) {
            replayed++;
            msg.ack();
            continue;
          }
          const decoded = decodeOpMessage(msg.string(), this.o.jsonDepthMax);
          if ('refused' in decoded) {
            this.reject(msg, decoded.refused, decoded.message);
            continue;
          }
          const raw = decoded.raw;
          if (raw.node === this.o.nodeId) {
            msg.ack(); // our own op in a form originOf does not read (written by another version)
            continue;
          }
          try {
            const op = validateOp(raw, rules);
            if (op.tenant !== tenant) throw new OpRejected('malformed', 'op.tenant does not match the tenant of its subject');
            ops.push(op);
            good.push(msg);
          } catch (err) {
            if (!(err instanceof OpRejected)) throw err;
            this.reject(msg, err.reason, err.message, raw);
          }
        }
        if (replayed > 0) this.o.metrics?.opsApplied.inc({ result: 'replayed' }, replayed);
        if (ops.length === 0) return;
        const result = await store.applyReplicated(ops);
        if (result.purged) this.o.metrics?.opsApplied.inc({ result: 'purged' }, result.purged);
        const nowMs = Date.now();
        for (const op of ops) this.o.metrics?.replicationLag.observe(Math.max(0, nowMs - hlcWallMs(op.hlc)) / 1000);
        if (this.o.metrics) countReplicated(this.o.metrics, result);
        for (const msg of good) msg.ack();
      });
      if (!applied) {
        // the tenant is cold on this node: its snapshot and the stream hold these ops until it is restored here
        this.o.metrics?.opsApplied.inc({ result: 'cold' }, msgs.length);
        for (const msg of msgs) msg.ack();
      }
    } catch (err) {
      // a store-level failure (disk, embedder mismatch, invalid tenant id): redeliver later, bounded by max_deliver
      this.o.metrics?.applyErrors.inc({ reason: 'store_error' }, msgs.length);
      this.o.log?.error({ tenant, err: String(err) }, 'replicated ops failed to apply; will be redelivered');
      for (const msg of msgs) msg.nak(NAK_DELAY_MS);
    }
  }

  /** Terminates an op that can never apply (redelivering it would fail the same way), and counts why. */
  private reject(msg: JsMsg, reason: OpRejectReason, message: string, raw?: unknown): void {
    this.o.metrics?.applyErrors.inc({ reason });
    if (reason === 'clock_drift') this.o.metrics?.hlcRefused.inc({ source: 'applier' });
    const origin = (raw as { node?: unknown } | undefined)?.node;
    const fields = { subject: msg.subject, seq: msg.seq, reason, origin_node: typeof origin === 'string' ? origin : undefined, error: message };
    if (reason === 'clock_drift') this.o.log?.error(fields, 'replicated op refused: its timestamp is too far ahead of this node\'s clock (check time sync on both nodes)');
    else this.o.log?.warn(fields, 'malformed replicated op terminated');
    msg.term(message.slice(0, 200));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.messages?.stop();
    await this.loop;
    await this.flushing;
  }
}
