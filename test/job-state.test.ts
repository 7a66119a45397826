// Job state in JetStream KV against a real nats-server: tenant-scoped keys, compare-and-set updates that survive
// concurrent writers, and the job streams and consumer created idempotently with the configured bounds.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_STREAM, JOBS_STREAM, workerConsumer } from '../shared/bus/names.js';
import { loadJobsConfig } from '../shared/config/ingest-config.js';
import { JobStateStore } from '../shared/jobs/state.js';
import { ensureJobStreams, ensureWorkerConsumer } from '../shared/jobs/streams.js';
import { initialJobState, type JobMessage } from '../shared/jobs/types.js';
import { startNats } from './support/nats.js';

let nats: Awaited<ReturnType<typeof startNats>>;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc?.close();
  await nats?.cleanup();
});

const message = (tenant: string, jobId: string): JobMessage => ({
  job_id: jobId,
  tenant,
  tier: 'small',
  file: { bucket: 'b', key: `tenants/${tenant}/uploads/${jobId}/a.txt`, uri: `s3://b/tenants/${tenant}/uploads/${jobId}/a.txt`, filename: 'a.txt', kind: 'text', size_bytes: 1, sha256: 'x' },
  source_uri: null,
  metadata: {},
  created_at: new Date().toISOString(),
});

describe('JobStateStore', () => {
  it('keys states by tenant: a job id is found under its own tenant only', async () => {
    const store = await JobStateStore.open(jetstream(nc), loadJobsConfig({}));
    const id = '11111111-1111-4111-8111-111111111111';
    await store.create(initialJobState(message('alpha', id)));
    expect((await store.get('alpha', id))?.job_id).toBe(id);
    expect(await store.get('beta', id)).toBeNull();
    await expect(store.create(initialJobState(message('alpha', id)))).rejects.toThrow();
  });

  it('applies every one of many concurrent updates (compare-and-set with retry)', async () => {
    const cfg = loadJobsConfig({});
    const stores = await Promise.all([1, 2, 3].map(() => JobStateStore.open(jetstream(nc), cfg)));
    const id = '22222222-2222-4222-8222-222222222222';
    await stores[0]!.create(initialJobState(message('alpha', id)));
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        stores[i % 3]!.update('alpha', id, (s) => ({ ...s, progress: { ...s.progress, chunks_written: s.progress.chunks_written + 1 } })),
      ),
    );
    const final = await stores[0]!.get('alpha', id);
    expect(final?.progress.chunks_written).toBe(24);
    expect(Date.parse(final!.updated_at)).toBeGreaterThanOrEqual(Date.parse(final!.created_at));
  });

  it('leaves the entry alone when the change returns null, and returns null for a missing job', async () => {
    const store = await JobStateStore.open(jetstream(nc), loadJobsConfig({}));
    const id = '33333333-3333-4333-8333-333333333333';
    await store.create(initialJobState(message('alpha', id)));
    const before = await store.get('alpha', id);
    expect(await store.update('alpha', id, () => null)).toEqual(before);
    expect(await store.update('alpha', '44444444-4444-4444-8444-444444444444', (s) => s)).toBeNull();
  });
});

describe('job streams and consumers', () => {
  it('are created once with the configured bounds, and updated when the bounds change', async () => {
    const jsm = await jetstreamManager(nc);
    const cfg = loadJobsConfig({ PERCOLATE_JOB_MAX_DELIVER: '4', PERCOLATE_JOB_ACK_WAIT_MS: '2000' });
    await Promise.all([ensureJobStreams(jsm, cfg), ensureJobStreams(jsm, cfg)]);
    await Promise.all([ensureWorkerConsumer(jsm, 'small', cfg), ensureWorkerConsumer(jsm, 'small', cfg)]);
    const jobs = await jsm.streams.info(JOBS_STREAM);
    expect(jobs.config.retention).toBe('workqueue');
    expect(jobs.config.subjects).toEqual(['percolate.jobs.>']);
    expect((await jsm.streams.info(DLQ_STREAM)).config.subjects).toEqual(['percolate.dlq.>']);
    let consumer = await jsm.consumers.info(JOBS_STREAM, workerConsumer('small'));
    expect(consumer.config).toMatchObject({ ack_policy: 'explicit', filter_subject: 'percolate.jobs.small', max_deliver: 5, ack_wait: nanos(2000) });

    await ensureWorkerConsumer(jsm, 'small', loadJobsConfig({ PERCOLATE_JOB_MAX_DELIVER: '2', PERCOLATE_JOB_ACK_WAIT_MS: '9000' }));
    consumer = await jsm.consumers.info(JOBS_STREAM, workerConsumer('small'));
    expect(consumer.config).toMatchObject({ max_deliver: 3, ack_wait: nanos(9000) });
  });
});
