// JetStream definitions for jobs: the work-queue stream, the dead-letter stream and the per-tier worker consumer.
// Both services call these at start (idempotent), so the consumer exists before any worker does: KEDA measures its
// lag (num_pending + num_ack_pending) even while the workers are scaled to zero.
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { DLQ_STREAM, DLQ_SUBJECT_ALL, JOBS_STREAM, JOBS_SUBJECT_ALL, jobSubject, workerConsumer } from '../bus/names.js';
import type { JobsConfig } from '../config/ingest-config.js';

function isCode(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

async function ensureStream(jsm: JetStreamManager, name: string, subjects: string[], retention: RetentionPolicy, maxAgeMs: number, replicas: number): Promise<void> {
  try {
    await jsm.streams.info(name);
    return;
  } catch (err) {
    if (!isCode(err, JetStreamApiCodes.StreamNotFound)) throw err;
  }
  try {
    await jsm.streams.add({ name, subjects, retention, storage: StorageType.File, max_age: nanos(maxAgeMs), duplicate_window: nanos(120_000), num_replicas: replicas });
  } catch (err) {
    // another process created it between our info and add
    await jsm.streams.info(name).catch(() => {
      throw err;
    });
  }
}

/**
 * `PERCOLATE_JOBS` is a work queue (a job leaves the stream when acknowledged; per-tier consumers do not overlap);
 * `PERCOLATE_DLQ` keeps dead-lettered jobs for inspection until they age out.
 */
export async function ensureJobStreams(jsm: JetStreamManager, cfg: JobsConfig): Promise<void> {
  // an existing stream keeps its replicas (changing them is an operator's `nats stream edit`, not a start-up side effect)
  await ensureStream(jsm, JOBS_STREAM, [JOBS_SUBJECT_ALL], RetentionPolicy.Workqueue, cfg.jobTtlMs, cfg.replicas);
  await ensureStream(jsm, DLQ_STREAM, [DLQ_SUBJECT_ALL], RetentionPolicy.Limits, cfg.jobTtlMs, cfg.replicas);
}

/**
 * Server-side deliveries of one job: the configured attempts plus one. The extra delivery only happens when every
 * attempt died without answering (a killed worker, an ack timeout); the worker then fails and dead-letters the job
 * instead of processing it again, so such a job does not sit in the stream forever with no state saying why.
 */
export function consumerMaxDeliver(cfg: JobsConfig): number {
  return cfg.maxDeliver + 1;
}

/** The durable pull consumer `workers-<tier>` (explicit ack, bounded deliveries); updated when the config changed. */
export async function ensureWorkerConsumer(jsm: JetStreamManager, tier: string, cfg: JobsConfig): Promise<void> {
  const name = workerConsumer(tier);
  const want = { ack_wait: nanos(cfg.ackWaitMs), max_deliver: consumerMaxDeliver(cfg) };
  try {
    const info = await jsm.consumers.info(JOBS_STREAM, name);
    if (info.config.ack_wait !== want.ack_wait || info.config.max_deliver !== want.max_deliver) {
      await jsm.consumers.update(JOBS_STREAM, name, want);
    }
    return;
  } catch (err) {
    if (!isCode(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
  }
  try {
    await jsm.consumers.add(JOBS_STREAM, {
      durable_name: name,
      filter_subject: jobSubject(tier),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...want,
    });
  } catch (err) {
    await jsm.consumers.info(JOBS_STREAM, name).catch(() => {
      throw err;
    });
  }
}
