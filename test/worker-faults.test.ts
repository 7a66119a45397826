// Worker faults against real nats-server, s3rver and database node: a worker process killed (SIGKILL) in the
// middle of a job (redelivered, completed, same records as a clean run), a transient failure retried a bounded
// number of times then dead-lettered, and a job whose every attempt died silently (given up, dead-lettered).
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOBS_STREAM, workerConsumer } from '../shared/bus/names.js';
import type { JobState } from '../shared/jobs/types.js';
import { startIngestStack, type IngestStack } from './support/ingest.js';
import { freePort } from './support/ports.js';
import { spawnService } from './support/process.js';
import { waitFor } from './support/wait.js';

const MAX_DELIVER = 3;
let stack: IngestStack;

beforeAll(async () => {
  stack = await startIngestStack({
    worker: false,
    env: {
      PERCOLATE_JOB_ACK_WAIT_MS: '1500',
      PERCOLATE_JOB_MAX_DELIVER: String(MAX_DELIVER),
      // many small chunks written in small batches: the write stage lasts long enough to be interrupted
      PERCOLATE_CHUNK_CHARS: '200',
      PERCOLATE_CHUNK_OVERLAP_CHARS: '30',
      PERCOLATE_WRITE_BATCH_SIZE: '5',
    },
  });
});

afterAll(async () => {
  await stack?.close();
});

const longDoc = Array.from(
  { length: 450 },
  (_, i) => `Entry ${i}: the archive of Meridian Harbour lists cargo ${i * 7} bound for port ${i % 13}. Clerk Hal Sorensen signed it.`,
).join('\n\n');

async function listOrdinals(tenant: string, uri: string): Promise<number[]> {
  const res = await stack.node.call('GET', `/api/v1/resources?uri_prefix=${encodeURIComponent(uri)}&limit=1000`, { tenant });
  expect(res.status).toBe(200);
  expect(res.body.next_cursor ?? null).toBeNull();
  return res.body.results.map((r: { chunk_ordinal: number }) => r.chunk_ordinal);
}

/** Polls the job every 5 ms (the kill must land mid-job) until `done` holds; the timeout names the last state seen. */
function pollUntil(tenant: string, id: string, done: (s: JobState) => boolean, timeoutMs: number): Promise<JobState> {
  return waitFor(
    `job ${id} to reach the condition`,
    async () => {
      const r = await stack.job(tenant, id);
      if (r.status === 200 && done(r.body)) return r.body as JobState;
      throw new Error(`last state ${JSON.stringify(r.body)}`);
    },
    timeoutMs,
    5,
  );
}

describe('a worker killed mid-job', () => {
  it('is redelivered to another worker and completes with the same resources as a clean run', async () => {
    // the clean run
    const cleanWorker = await stack.startWorker();
    const clean = await stack.upload('clean', { name: 'harbour.md', data: longDoc });
    const cleanJob = await stack.waitJob('clean', clean.body.job_id);
    await cleanWorker.stop();
    expect(cleanJob.status).toBe('completed');
    expect(cleanJob.resources).toBeGreaterThan(300);

    // the same file, processed by a worker process that is killed during the write stage
    const child = await spawnService('services/worker/main.ts', { ...stack.env, PERCOLATE_WORKER_PORT: '0' });
    let killedAt: JobState;
    try {
      const up = await stack.upload('crash', { name: 'harbour.md', data: longDoc });
      killedAt = await pollUntil('crash', up.body.job_id, (s) => s.progress.chunks_written >= 20, 30_000);
      child.child.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
    } finally {
      await child.kill('SIGKILL');
    }
    expect(killedAt.status).toBe('processing');
    expect(killedAt.progress.stage).toBe('write');
    expect(killedAt.progress.chunks_written).toBeLessThan(cleanJob.resources);

    // a fresh worker gets the job once the ack wait expires, and finishes it
    const rescuer = await stack.startWorker();
    try {
      const done = await stack.waitJob('crash', killedAt.job_id, 30_000);
      expect(done.status).toBe('completed');
      expect(done.attempts).toBe(2);
      expect(done.resources).toBe(cleanJob.resources);
      expect(done.entities).toBe(cleanJob.entities);
      const ordinals = await listOrdinals('crash', done.file.uri);
      expect(ordinals).toEqual(Array.from({ length: cleanJob.resources }, (_, i) => i));
      expect(ordinals).toEqual(await listOrdinals('clean', cleanJob.file.uri));
      const moments = await stack.node.call('GET', '/api/v1/moments?type=ingestion', { tenant: 'crash' });
      expect(moments.body.results).toHaveLength(1);
    } finally {
      await rescuer.stop();
    }
  });
});

describe('bounded redelivery', () => {
  it('retries a transient failure up to the configured attempts, then fails the job and dead-letters it', async () => {
    const deadApi = `http://127.0.0.1:${await freePort()}`;
    const worker = await stack.startWorker({ PERCOLATE_API_URL: deadApi, PERCOLATE_API_ATTEMPTS: '1' });
    try {
      const up = await stack.upload('flaky', { name: 'note.txt', data: 'A note that cannot be written anywhere.' });
      const job = await stack.waitJob('flaky', up.body.job_id, 30_000);
      expect(job.status).toBe('failed');
      expect(job.attempts).toBe(MAX_DELIVER);
      expect(job.progress.stage).toBe('write');
      expect(job.error).toMatch(/database write failed after 1 attempts/);
      const mine = (await stack.deadLetters()).filter((l) => l.letter.job?.job_id === job.job_id);
      expect(mine).toHaveLength(1);
      expect(mine[0]!.letter.attempts).toBe(MAX_DELIVER);
      expect(mine[0]!.letter.reason).toBe(job.error);
    } finally {
      await worker.stop();
    }
  });

  it('does not ingest an object that changed after the upload (sha256 checked end to end)', async () => {
    const up = await stack.upload('tampered', { name: 'note.txt', data: 'The original words.' });
    const job0 = await stack.job('tampered', up.body.job_id);
    await stack.s3.client.send(new PutObjectCommand({ Bucket: stack.s3.bucket, Key: job0.body.file.uri.replace(`s3://${stack.s3.bucket}/`, ''), Body: 'Words swapped behind our back.' }));
    const worker = await stack.startWorker();
    try {
      const job = await stack.waitJob('tampered', up.body.job_id, 30_000);
      expect(job.status).toBe('failed');
      expect(job.progress.stage).toBe('download');
      expect(job.error).toMatch(/sha256 [0-9a-f]{64} does not match the upload's [0-9a-f]{64}/);
      expect((await stack.node.call('GET', '/api/v1/resources?limit=1', { tenant: 'tampered' })).status).toBe(404);
    } finally {
      await worker.stop();
    }
  });

  it('gives up on a job whose every attempt died without an answer, and dead-letters it', async () => {
    const up = await stack.upload('doomed', { name: 'note.txt', data: 'Every worker that touches this note dies.' });
    // act as workers that die holding the job: take it, never acknowledge, let the ack wait expire
    const nc = await connect({ servers: stack.nats.url });
    try {
      const consumer = await jetstream(nc).consumers.get(JOBS_STREAM, workerConsumer('small'));
      for (let attempt = 1; attempt <= MAX_DELIVER; attempt++) {
        const m = await consumer.next({ expires: 5_000 });
        expect(m?.info.deliveryCount).toBe(attempt);
        expect(m?.json<{ job_id: string }>().job_id).toBe(up.body.job_id);
      }
    } finally {
      await nc.close();
    }
    const worker = await stack.startWorker();
    try {
      const job = await stack.waitJob('doomed', up.body.job_id, 30_000);
      expect(job.status).toBe('failed');
      expect(job.error).toBe(`gave up after ${MAX_DELIVER} attempts; last error: the worker stopped or timed out before finishing`);
      const mine = (await stack.deadLetters()).filter((l) => l.letter.job?.job_id === job.job_id);
      expect(mine).toHaveLength(1);
      expect(mine[0]!.letter.attempts).toBe(MAX_DELIVER + 1);
      const written = await stack.node.call('GET', '/api/v1/resources?limit=1', { tenant: 'doomed' });
      expect(written.status).toBe(404);
    } finally {
      await worker.stop();
    }
  });
});
