// Autoscaling on the local topology, by the autoscaler reading the repository's keda/<tier>/scaledobjects.yaml: the
// database pool wakes from zero on the first request (which HAProxy answers at once with 503, Retry-After and the
// error envelope, while no node exists) and goes back to zero once no tenant is active; 20 queued uploads scale the
// workers to min(max, ceil(20 / 5)) = 4 and back to zero after the cooldown. One topology, time-scaled (x0.05: the
// database polls every 0.75 s, the workers every 0.25 s, the worker cooldown is 3 s, the rate() window 6 s) with the
// database cooldown overridden to 100 s (5 s scaled) and an active-tenant window of 2 s. Times are printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NODE_RETRY_AFTER_S } from '../test-topology/haproxy.js';
import { startTopology, type TestTopology } from './support/topology.js';
import { waitFor } from './support/wait.js';

const TENANT = 'autoscaled';
const JOBS = 20;
let top: TestTopology;

beforeAll(async () => {
  top = await startTopology({
    databases: 0,
    timeScale: 0.05,
    activeWindowS: 2,
    autoscale: { database: { cooldownPeriodS: 100 } },
  });
}, 90_000);
afterAll(async () => {
  await top?.cleanup();
}, 60_000);

describe('local topology: autoscaling from the KEDA ScaledObjects', () => {
  it('reads the tier small ScaledObjects of keda/', () => {
    const { database, worker } = top.t.autoscalers;
    expect(database.so).toMatchObject({ target: { kind: 'StatefulSet', name: 'percolate-db-small' }, pollingIntervalS: 15, cooldownPeriodS: 300, minReplicaCount: 0, maxReplicaCount: 10 });
    expect(worker.so).toMatchObject({ target: { kind: 'Deployment', name: 'percolate-worker-small' }, pollingIntervalS: 5, cooldownPeriodS: 60, minReplicaCount: 0, maxReplicaCount: 5 });
    expect(worker.so.triggers.map((t) => t.type).sort()).toEqual(['nats-jetstream', 'prometheus']);
  });

  it('wakes the database pool from zero on the first request, which gets 503 with Retry-After and the error envelope', { timeout: 90_000 }, async () => {
    expect(top.t.databases.up()).toEqual([]);
    expect(await top.t.haproxyServers()).toEqual([]);
    const t0 = performance.now();
    const first = await top.call('POST', '/api/v1/resources', { tenant: TENANT, body: { uri: 'doc://first', content: 'the first write of a sleeping tier' } });
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe(String(NO_NODE_RETRY_AFTER_S));
    expect(first.body).toMatchObject({ error: { code: 'node_unavailable', message: expect.stringContaining('no database node') } });
    // the client retries (sooner than Retry-After says, to measure the wake-up)
    const ok = await waitFor(
      'a database node to answer',
      async () => {
        const r = await top.call('POST', '/api/v1/resources', { tenant: TENANT, body: { uri: 'doc://first', content: 'the first write of a sleeping tier' } });
        return r.status === 201 ? r : undefined;
      },
      60_000,
      100,
    );
    const wakeMs = performance.now() - t0;
    expect(ok.servedBy).toBe('db-0');
    // one active tenant, and HAProxy's request rate far below its threshold: ceil(1/5) = 1 node
    expect(top.t.databases.replicas).toBe(1);
    console.log(`[topology] database pool from zero: first request 503 (Retry-After ${NO_NODE_RETRY_AFTER_S}), a node answered ${(wakeMs / 1000).toFixed(1)} s after it`);
  });

  it(`scales workers to 4 for ${JOBS} queued uploads and back to zero after the cooldown`, { timeout: 180_000 }, async () => {
    const t0 = performance.now();
    const jobs: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const up = await top.upload(TENANT, `note-${i}.md`, `# Note ${i}\n\nAutoscaled worker note number ${i} mentions the word quokka${i}.\n`);
      expect(up.status, JSON.stringify(up.body)).toBe(202);
      jobs.push(up.body.job_id);
    }
    // the Deployment's replicas as KEDA sets them: 4 (the pool then starts them; small jobs may all be done before
    // the fourth is up, so how many run at once is not the point)
    await waitFor('4 worker replicas', async () => top.t.workers.replicas === 4, 60_000, 50);
    const toFourMs = performance.now() - t0;
    for (const id of jobs) expect(await top.job(TENANT, id, 120_000)).toMatchObject({ status: 'completed', error: null });
    const found = await top.call('GET', `/api/v1/resources?query=quokka${JOBS - 1}&mode=keyword`, { tenant: TENANT });
    expect(JSON.stringify(found.body.results)).toContain(`quokka${JOBS - 1}`);
    const doneAt = performance.now();
    await waitFor('workers back to zero', async () => top.t.workers.running === 0 && top.t.workers.replicas === 0, 60_000, 50);
    const toZeroMs = performance.now() - doneAt;
    // never more than ceil(20 / 5) = 4, although max is 5; and four worker processes were started for them
    expect(top.t.autoscalers.worker.peak).toBe(4);
    expect(top.t.workers.started).toBe(4);
    console.log(
      `[topology] workers: ${JOBS} queued jobs -> 4 workers ${(toFourMs / 1000).toFixed(1)} s after the first upload (peak 4 of max 5); ` +
        `all jobs completed; back to 0 ${(toZeroMs / 1000).toFixed(1)} s after the last job (cooldown 60 s x 0.05 = 3 s)`,
    );
  });

  it('scales the database pool back to zero once no tenant is active', { timeout: 150_000 }, async () => {
    // awake first (the workers' writes may have let it sleep already): a request, answered by a node
    await waitFor('a database node', async () => (await top.call('GET', '/api/v1/resources?limit=1', { tenant: TENANT })).status === 200, 60_000, 100);
    const t0 = performance.now();
    expect(top.t.databases.up().length).toBe(1);
    await waitFor('no database node', async () => top.t.databases.up().length === 0 && top.t.databases.members.size === 0, 90_000, 100);
    expect(await top.t.haproxyServers()).toEqual([]);
    const toZeroMs = performance.now() - t0;
    // the node drained before it stopped: its tenant is in S3, and a node woken again restores it
    const again = await waitFor(
      'the tenant back on a new node',
      async () => {
        const r = await top.call('GET', `/api/v1/resources?query=quokka3&mode=keyword`, { tenant: TENANT });
        return r.status === 200 ? r : undefined;
      },
      60_000,
      100,
    );
    expect(JSON.stringify(again.body.results)).toContain('quokka3');
    console.log(`[topology] database pool to zero ${(toZeroMs / 1000).toFixed(1)} s after the last request (active window 2 s, rate window 6 s, cooldown 5 s); woken again, the tenant was restored with its data`);
  });
});
