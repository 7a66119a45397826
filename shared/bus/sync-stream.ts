// The replication stream and each node's durable consumer. Limits retention (not workqueue): every node must read
// every op. The 2-minute duplicate window drops ops republished after a crash between PubAck and outbox cleanup.
import { nanos } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { SYNC_STREAM, SYNC_SUBJECT_ALL, syncConsumer } from './names.js';

export const DUPLICATE_WINDOW_MS = 2 * 60_000;

export async function ensureSyncStream(jsm: JetStreamManager, opts: { maxAgeMs: number; replicas: number }): Promise<void> {
  const config = {
    name: SYNC_STREAM,
    subjects: [SYNC_SUBJECT_ALL],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(opts.maxAgeMs),
    num_replicas: opts.replicas,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  };
  try {
    const info = await jsm.streams.info(SYNC_STREAM);
    if (info.config.max_age !== config.max_age || info.config.num_replicas !== config.num_replicas) {
      await jsm.streams.update(SYNC_STREAM, { max_age: config.max_age, num_replicas: config.num_replicas });
    }
  } catch (err) {
    if (!/not found/i.test(String((err as Error).message))) throw err;
    await jsm.streams.add(config);
  }
}

export async function ensureSyncConsumer(
  jsm: JetStreamManager,
  nodeId: string,
  opts: { inflightMax: number; maxDeliver: number; ackWaitMs: number },
): Promise<string> {
  const durable = syncConsumer(nodeId);
  const config = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: SYNC_SUBJECT_ALL,
    max_ack_pending: opts.inflightMax,
    max_deliver: opts.maxDeliver,
    ack_wait: nanos(opts.ackWaitMs),
  };
  try {
    await jsm.consumers.info(SYNC_STREAM, durable);
    await jsm.consumers.update(SYNC_STREAM, durable, {
      max_ack_pending: config.max_ack_pending,
      max_deliver: config.max_deliver,
      ack_wait: config.ack_wait,
    });
  } catch (err) {
    if (!/not found/i.test(String((err as Error).message))) throw err;
    await jsm.consumers.add(SYNC_STREAM, config);
  }
  return durable;
}
