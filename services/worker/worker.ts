// The job consumer: `concurrency` loops pull from the durable consumer `workers-<tier>`, run the pipeline with
// working() heartbeats, and acknowledge explicitly. A transient failure is retried by redelivery (nak with a delay)
// up to the configured attempts; a permanent failure, or the last attempt, fails the job: its state says why, the
// job goes to `percolate.dlq.<tier>`, and the message is acknowledged so it leaves the work queue.
import type { S3Client } from '@aws-sdk/client-s3';
import { jetstream, jetstreamManager, type Consumer, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyBaseLogger } from 'fastify';
import { createS3Client } from '../../shared/blob/s3.js';
import { connectNats } from '../../shared/bus/connection.js';
import { dlqSubject, JOBS_STREAM, workerConsumer } from '../../shared/bus/names.js';
import type { WorkerConfig } from '../../shared/config/ingest-config.js';
import { JobStateStore } from '../../shared/jobs/state.js';
import { ensureJobStreams, ensureWorkerConsumer } from '../../shared/jobs/streams.js';
import { initialJobState, type JobMessage, type JobStage, type JobState } from '../../shared/jobs/types.js';
import { createWorkerMetrics, type WorkerMetrics } from '../../shared/metrics/ingest-metrics.js';
import { workerCredentials, type WorkerCredentials } from './credentials.js';
import { DatabaseClient, PermanentJobError } from './db-client.js';
import { runPipeline } from './pipeline.js';

const PULL_EXPIRES_MS = 5_000;

type Logger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'> & { child(bindings: Record<string, unknown>): Logger };

const silent: Logger = { info() {}, warn() {}, error() {}, child: () => silent };

/** What goes to the dead-letter subject. */
export interface DeadLetter {
  job: JobMessage | null;
  /** The original payload when it was not a job message at all. */
  raw?: string;
  reason: string;
  attempts: number;
  failed_at: string;
}

interface InFlight {
  msg: JsMsg;
  done: Promise<void>;
}

function reasonOf(err: unknown): string {
  const e = err as Error;
  return (e?.message || String(err)).slice(0, 2000);
}

export class IngestWorker {
  private stopping = false;
  private readonly inFlight = new Set<InFlight>();
  private loops: Promise<void>[] = [];
  private readonly db: DatabaseClient;
  private readonly s3: S3Client;

  private constructor(
    private readonly cfg: WorkerConfig,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly consumer: Consumer,
    private readonly jobs: JobStateStore,
    private readonly metrics: WorkerMetrics,
    private readonly log: Logger,
    /** The worker's own token for the database (never one from a job message). */
    readonly credentials: WorkerCredentials,
  ) {
    this.db = new DatabaseClient(cfg.apiUrl, { timeoutMs: cfg.apiTimeoutMs, attempts: cfg.apiAttempts, credentials });
    this.s3 = createS3Client(cfg.s3);
  }

  static async start(cfg: WorkerConfig, opts: { metrics?: WorkerMetrics; log?: Logger; credentials?: WorkerCredentials } = {}): Promise<IngestWorker> {
    const metrics = opts.metrics ?? createWorkerMetrics({ defaultMetrics: false });
    const log = opts.log ?? silent;
    // credentials first: a worker that could not write a single result does not take jobs
    const credentials = opts.credentials ?? (await workerCredentials(cfg, { log }));
    const nc = await connectNats(cfg.jobs.natsUrl, `percolate-worker-${cfg.tier}`);
    try {
      const jsm = await jetstreamManager(nc);
      await ensureJobStreams(jsm, cfg.jobs);
      await ensureWorkerConsumer(jsm, cfg.tier, cfg.jobs);
      const js = jetstream(nc);
      const consumer = await js.consumers.get(JOBS_STREAM, workerConsumer(cfg.tier));
      const jobs = await JobStateStore.open(js, cfg.jobs);
      const w = new IngestWorker(cfg, nc, js, consumer, jobs, metrics, log, credentials);
      w.loops = Array.from({ length: cfg.concurrency }, () => w.loop());
      return w;
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  get connected(): boolean {
    return !this.nc.isClosed() && !this.stopping;
  }

  get busy(): number {
    return this.inFlight.size;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let msg: JsMsg | null;
      try {
        msg = await this.consumer.next({ expires: PULL_EXPIRES_MS });
      } catch (err) {
        if (this.stopping) return;
        this.log.warn({ err: reasonOf(err) }, 'pull from the job consumer failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (!msg) continue;
      if (this.stopping) {
        try {
          msg.nak();
        } catch {
          /* draining: the ack wait returns it to the queue */
        }
        return;
      }
      const entry: InFlight = { msg, done: Promise.resolve() };
      entry.done = this.handle(msg)
        // handle() answers every job itself; what escapes is the bus failing mid-answer (the ack wait covers it)
        .catch((err) => this.log.error({ seq: msg.seq, err: reasonOf(err) }, 'job message left unanswered'))
        .finally(() => this.inFlight.delete(entry));
      this.inFlight.add(entry);
      await entry.done;
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    let job: JobMessage;
    try {
      job = m.json<JobMessage>();
      if (!job?.job_id || !job.tenant || !job.file?.key) throw new Error('missing job_id, tenant or file');
    } catch (err) {
      this.log.error({ seq: m.seq, err: reasonOf(err) }, 'malformed job message: dead-lettered');
      await this.deadLetter(null, m, `malformed job message: ${reasonOf(err)}`);
      return;
    }
    const attempt = m.info.deliveryCount;
    const log = this.log.child({ job_id: job.job_id, tenant: job.tenant, attempt });
    this.metrics.jobsInFlight.inc();
    try {
      if (attempt > this.cfg.jobs.maxDeliver) {
        // every attempt died without answering (killed worker, ack timeout): give up instead of trying again
        const state = await this.jobs.get(job.tenant, job.job_id);
        const last = state?.error ?? 'the worker stopped or timed out before finishing';
        await this.fail(job, m, `gave up after ${this.cfg.jobs.maxDeliver} attempts; last error: ${last}`, state?.progress.stage ?? 'queued', log);
        return;
      }
      const started = await this.updateState(job, (s) =>
        s.status === 'completed' ? null : { ...s, status: 'processing', attempts: attempt },
      );
      if (started.status === 'completed') {
        log.info('job already completed: acknowledging the duplicate delivery');
        m.ack();
        return;
      }
      await this.run(job, m, attempt, log);
    } catch (err) {
      // the bus or the state store failed under us: hand the job back, it is retried like any transient failure
      log.error({ err: reasonOf(err) }, 'job handling failed; handing the job back');
      try {
        m.nak(this.cfg.retryDelayMs);
      } catch {
        /* disconnected: the ack wait returns it to the queue */
      }
    } finally {
      this.metrics.jobsInFlight.dec();
    }
  }

  private async run(job: JobMessage, m: JsMsg, attempt: number, log: Logger): Promise<void> {
    let stage: JobStage = 'queued';
    let stageStarted = process.hrtime.bigint();
    const endStage = () => {
      if (stage !== 'queued') this.metrics.stageDuration.observe({ stage }, Number(process.hrtime.bigint() - stageStarted) / 1e9);
    };
    // heartbeats keep the job ours through long parses and writes; a dead worker stops them and the job is redelivered
    const heartbeat = setInterval(() => {
      try {
        m.working();
      } catch {
        /* disconnected: nothing to keep alive; the job comes back after the ack wait */
      }
    }, Math.max(200, Math.floor(this.cfg.jobs.ackWaitMs / 3)));
    try {
      const result = await runPipeline(
        job,
        { cfg: this.cfg, s3: this.s3, db: this.db },
        {
          stage: async (next, chunksTotal) => {
            endStage();
            stage = next;
            stageStarted = process.hrtime.bigint();
            m.working();
            await this.updateState(job, (s) => ({
              ...s,
              progress: { stage: next, chunks_total: chunksTotal ?? s.progress.chunks_total, chunks_written: next === 'download' ? 0 : s.progress.chunks_written },
            }));
          },
          progress: async (written) => {
            m.working();
            await this.updateState(job, (s) => ({ ...s, progress: { ...s.progress, chunks_written: written } }));
          },
        },
      );
      endStage();
      stage = 'done';
      await this.updateState(job, (s) => ({
        ...s,
        status: 'completed',
        progress: { stage: 'done', chunks_total: result.resources, chunks_written: result.resources },
        resources: result.resources,
        entities: result.entities,
        error: null,
      }));
      m.ack();
      this.metrics.jobs.inc({ stage: 'done', outcome: 'completed' });
      this.metrics.chunksWritten.inc(result.resources);
      this.metrics.entitiesWritten.inc(result.entities);
      log.info({ resources: result.resources, entities: result.entities, pages: result.pages, kind: job.file.kind }, 'job completed');
    } catch (err) {
      endStage();
      const reason = reasonOf(err);
      if (err instanceof PermanentJobError || attempt >= this.cfg.jobs.maxDeliver) {
        await this.fail(job, m, reason, stage, log);
        return;
      }
      log.warn({ stage, err: reason }, 'job attempt failed; it will be redelivered');
      await this.updateState(job, (s) => ({ ...s, status: 'queued', error: `attempt ${attempt} failed in ${stage}: ${reason}` })).catch(() => undefined);
      m.nak(this.cfg.retryDelayMs);
      this.metrics.jobs.inc({ stage, outcome: 'retried' });
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Job state update; a missing entry (expired, or lost) is recreated from the message. */
  private async updateState(job: JobMessage, change: (s: JobState) => JobState | null): Promise<JobState> {
    const updated = await this.jobs.update(job.tenant, job.job_id, change);
    if (updated) return updated;
    const fresh = change(initialJobState(job)) ?? initialJobState(job);
    await this.jobs.create(fresh).catch(() => undefined);
    return fresh;
  }

  private async fail(job: JobMessage, m: JsMsg, reason: string, stage: JobStage, log: Logger): Promise<void> {
    log.error({ stage, reason }, 'job failed: dead-lettered');
    await this.deadLetter(job, m, reason);
    await this.updateState(job, (s) => ({ ...s, status: 'failed', error: reason, progress: { ...s.progress, stage } }));
    this.metrics.jobs.inc({ stage, outcome: 'failed' });
  }

  private async deadLetter(job: JobMessage | null, m: JsMsg, reason: string): Promise<void> {
    const letter: DeadLetter = {
      job,
      ...(job ? {} : { raw: Buffer.from(m.data).toString('utf8').slice(0, 64 * 1024) }),
      reason,
      attempts: m.info.deliveryCount,
      failed_at: new Date().toISOString(),
    };
    // dedup on the job id: a job failed twice (a stale redelivery) is dead-lettered once
    await this.js.publish(dlqSubject(this.cfg.tier), JSON.stringify(letter), { msgID: `dlq-${job?.job_id ?? `seq-${m.seq}`}` });
    m.ack();
    this.metrics.deadLettered.inc({ tier: this.cfg.tier });
  }

  /** Stops pulling, gives in-flight jobs `graceMs` to finish, hands the rest back to the queue, and disconnects. */
  async stop(graceMs = this.cfg.shutdownGraceMs): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const pending = [...this.inFlight];
    const all = Promise.all(pending.map((p) => p.done));
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    if (timedOut) {
      for (const p of this.inFlight) {
        try {
          p.msg.nak();
        } catch {
          /* already disconnected */
        }
      }
    }
    await this.nc.drain().catch(() => undefined);
    this.s3.destroy();
  }
}
