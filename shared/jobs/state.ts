// Job state in the JetStream KV bucket `percolate_jobs`, keyed `<tenant>.<job_id>`: a job id is only found under its
// own tenant. Updates are compare-and-set on the entry's revision, retried on conflict, so concurrent writers
// (a worker and a stale redelivery of the same job) never lose each other's fields silently.
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { JOBS_BUCKET } from '../bus/names.js';
import type { JobsConfig } from '../config/ingest-config.js';
import type { JobState } from './types.js';

const CAS_ATTEMPTS_MAX = 50;
/** Jitter between conflicting attempts grows by this much per attempt, so racing writers spread out. */
const CAS_BACKOFF_STEP_MS = 2;

export class JobStateStore {
  private constructor(private readonly kv: KV) {}

  /** Opens the bucket, creating it on first use (entries expire after the configured job TTL). */
  static async open(js: JetStreamClient, cfg: JobsConfig): Promise<JobStateStore> {
    const kv = await new Kvm(js).create(JOBS_BUCKET, { history: 1, ttl: cfg.jobTtlMs, replicas: cfg.replicas });
    return new JobStateStore(kv);
  }

  static key(tenant: string, jobId: string): string {
    return `${tenant}.${jobId}`;
  }

  async create(state: JobState): Promise<void> {
    await this.kv.create(JobStateStore.key(state.tenant, state.job_id), JSON.stringify(state));
  }

  async get(tenant: string, jobId: string): Promise<JobState | null> {
    const e = await this.kv.get(JobStateStore.key(tenant, jobId));
    if (!e || e.operation !== 'PUT' || e.length === 0) return null;
    return e.json<JobState>();
  }

  /**
   * Applies `change` to the current state and writes it if nobody wrote in between (else re-reads and retries).
   * `change` returns null to leave the entry as it is. Returns the state as written (or as found).
   */
  async update(tenant: string, jobId: string, change: (s: JobState) => JobState | null): Promise<JobState | null> {
    const key = JobStateStore.key(tenant, jobId);
    for (let attempt = 0; attempt < CAS_ATTEMPTS_MAX; attempt++) {
      const e = await this.kv.get(key);
      if (!e || e.operation !== 'PUT' || e.length === 0) return null;
      const current = e.json<JobState>();
      const next = change(current);
      if (next === null) return current;
      next.updated_at = new Date().toISOString();
      try {
        await this.kv.update(key, JSON.stringify(next), e.revision);
        return next;
      } catch (err) {
        if (!/wrong last sequence/i.test(String((err as Error).message))) throw err;
        await sleep(Math.random() * CAS_BACKOFF_STEP_MS * (attempt + 1));
      }
    }
    throw new Error(`job ${jobId}: state kept changing under ${CAS_ATTEMPTS_MAX} updates`);
  }
}
