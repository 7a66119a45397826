// The tenant lifecycle across nodes, with a real nats-server and a real S3 server (s3rver): snapshots, cold tenants
// brought back on access with every acknowledged write (the ones after the snapshot too), restore on a node that has
// lost its files or never held the tenant, a failed restore answered 503 (never an empty tenant), and purge.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SYNC_STREAM, syncSubject } from '../shared/bus/names.js';
import { decodeHlc } from '../shared/rem/hlc.js';
import { hlcAt, resourceOp } from './support/ops.js';
import { callUrl, startNode, type TestNode } from './support/api.js';
import { spawnService } from './support/process.js';
import { startNats } from './support/nats.js';
import { startS3, type TestS3 } from './support/s3.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function node(id: string, env: Record<string, string>, dataDir?: string): Promise<TestNode> {
  const n = await startNode({ PERCOLATE_NODE_ID: id, ...env }, dataDir ? { dataDir } : {});
  cleanups.push(() => n.close());
  if (env.PERCOLATE_NATS_URL) {
    // connected, and the lifecycle's KV buckets opened (operations answer instead of 503)
    await waitFor(`node ${id} connected`, async () => (await n.call('GET', '/health/ready', { tenant: null })).body.replication === 'connected');
    await waitFor(`node ${id} operations`, async () => (await n.call('GET', '/api/v1/operations/00000000000000000000000000', { tenant: 'probe' })).status === 404);
  }
  return n;
}

async function operation(n: TestNode, tenant: string, method: string, p: string): Promise<any> {
  const started = await n.call(method, p, { tenant });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const id = started.body.operation_id as string;
  return waitFor(`operation ${p} of ${tenant}`, async () => {
    const r = await n.call('GET', `/api/v1/operations/${id}`, { tenant });
    return r.body.status === 'completed' || r.body.status === 'failed' ? r.body : undefined;
  });
}

async function digest(n: TestNode, tenant: string): Promise<string> {
  const r = await n.call('GET', '/api/v1/tenant/digest', { tenant });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.digest as string;
}

async function writeDocs(n: TestNode, tenant: string, from: number, count: number): Promise<void> {
  const resources = Array.from({ length: count }, (_, i) => ({ uri: `doc://${from + i}`, content: `document ${from + i} about lifecycle number ${from + i}` }));
  const r = await n.call('POST', '/api/v1/resources', { tenant, body: { resources } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function objectKeys(s3: TestS3, prefix: string): Promise<string[]> {
  const r = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!);
}

async function infra(): Promise<{ env: Record<string, string>; s3: TestS3; natsUrl: string }> {
  const nats = await startNats();
  cleanups.push(() => nats.cleanup());
  const s3 = await startS3();
  cleanups.push(() => s3.cleanup());
  return { env: { PERCOLATE_NATS_URL: nats.url, ...s3.env, PERCOLATE_SNAPSHOTS: 'on', PERCOLATE_S3_REQUEST_TIMEOUT_MS: '1000' }, s3, natsUrl: nats.url };
}

describe('snapshots and restore', () => {
  it('offloads a tenant to cold and restores it on access with the writes other nodes made meanwhile', async () => {
    const { env, s3 } = await infra();
    const a = await node('a', env);
    const b = await node('b', env);
    await writeDocs(a, 'acme', 0, 50);
    await waitFor('b has the docs', async () => (await b.call('GET', '/api/v1/tenant', { tenant: 'acme' })).body.counts?.resources === 50);
    // B first saw the tenant through its consumer and restored it from the stream; the consumer then delivered the
    // same ops again, which B acknowledged unread instead of merging each a second time (skipped)
    const bMetrics = (await b.call('GET', '/metrics', { tenant: null })).body as string;
    expect(bMetrics).toMatch(/percolate_tenant_transitions_total\{from="absent",to="hot",reason="replayed"\} 1/);
    expect(bMetrics).toMatch(/percolate_replication_ops_applied_total\{result="replayed"\} [1-9]/);
    expect(bMetrics).not.toMatch(/percolate_replication_ops_applied_total\{result="skipped"\} [1-9]/);

    const done = await operation(a, 'acme', 'POST', '/api/v1/tenant/offload');
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(done.steps.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([['offload', 'completed']]);
    expect(done.result.snapshot.counts.resources).toBe(50);
    const info = await a.call('GET', '/api/v1/tenant', { tenant: 'acme' });
    expect(info.body).toMatchObject({ state: 'cold', counts: { resources: 50 }, snapshot: { id: done.result.snapshot.id } });
    await expect(fs.access(path.join(a.dataDir, 'tenants', 'acme'))).rejects.toThrow();
    expect((await objectKeys(s3, 'tenants/acme/snapshots/')).some((k) => k.endsWith('manifest.json'))).toBe(true);

    // B writes while A holds the tenant cold: A leaves those ops in the stream
    await writeDocs(b, 'acme', 50, 5);
    const expected = await waitFor('b has all 55', async () => ((await b.call('GET', '/api/v1/tenant', { tenant: 'acme' })).body.counts?.resources === 55 ? digest(b, 'acme') : undefined));
    await waitFor('a applied nothing of it', async () => (await a.call('GET', '/metrics', { tenant: null })).body.includes('percolate_replication_ops_applied_total{result="cold"}'));
    expect((await a.call('GET', '/api/v1/tenant', { tenant: 'acme' })).body.state).toBe('cold');

    // a read on A brings the tenant back: the snapshot, then the stream since it
    const hit = await a.call('GET', '/api/v1/resources?query=lifecycle%20number%2052&mode=keyword', { tenant: 'acme' });
    expect(hit.status).toBe(200);
    expect(hit.body.results.map((r: { uri: string }) => r.uri)).toContain('doc://52');
    expect(await digest(a, 'acme')).toBe(expected);
    expect((await a.call('GET', '/api/v1/tenant', { tenant: 'acme' })).body).toMatchObject({ counts: { resources: 55 } });
    const metrics = (await a.call('GET', '/metrics', { tenant: null })).body as string;
    expect(metrics).toMatch(/percolate_tenant_transitions_total\{from="cold",to="hot",reason="restored"\} 1/);
    expect(metrics).toMatch(/percolate_snapshot_bytes_total\{direction="download"\} [1-9]/);
  });

  it('serves a tenant again after its local files are wiped, and on a node that never held it, with every write', async () => {
    const { env } = await infra();
    const dataA = await tempDir('percolate-lifecycle-a-');
    cleanups.push(() => dataA.cleanup());
    const a = await node('a', env, dataA.dir);
    await writeDocs(a, 'globex', 0, 40);
    const snap = await operation(a, 'globex', 'POST', '/api/v1/tenant/snapshot');
    expect(snap.status, JSON.stringify(snap)).toBe('completed');
    await writeDocs(a, 'globex', 40, 7); // after the snapshot: only in the stream (and on A's disk)
    const expected = await digest(a, 'globex');
    await a.close();
    cleanups.pop();

    // A's disk is lost: the same node id on an empty data directory
    await fs.rm(dataA.dir, { recursive: true, force: true });
    const a2 = await node('a', env, dataA.dir);
    expect(await digest(a2, 'globex')).toBe(expected);
    expect((await a2.call('GET', '/api/v1/tenant', { tenant: 'globex' })).body.counts.resources).toBe(47);

    // a node that joins now has never seen the tenant
    const c = await node('c', env);
    expect(await digest(c, 'globex')).toBe(expected);
    const found = await c.call('GET', '/api/v1/resources?query=document%2045&mode=keyword', { tenant: 'globex' });
    expect(found.body.results.map((r: { uri: string }) => r.uri)).toContain('doc://45');
  });

  it('answers 503 with Retry-After when a cold tenant cannot be fetched, and serves it once S3 is back', async () => {
    const { env, s3 } = await infra();
    const a = await node('a', env);
    await writeDocs(a, 'initech', 0, 10);
    expect((await operation(a, 'initech', 'POST', '/api/v1/tenant/offload')).status).toBe('completed');
    const expected = (await a.call('GET', '/api/v1/tenant', { tenant: 'initech' })).body.snapshot.digest as string;
    s3.process.child.kill('SIGSTOP');
    try {
      // the SDK waits for the stopped server; the restore fails within its request timeouts
      const r = await fetch(`${a.url}/api/v1/resources?limit=1`, { headers: { 'x-tenant-id': 'initech' } });
      expect(r.status).toBe(503);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('tenant_unavailable');
    } finally {
      s3.process.child.kill('SIGCONT');
    }
    expect((await a.call('GET', '/api/v1/tenant', { tenant: 'initech' })).body.state).toBe('cold');
    await expect(fs.access(path.join(a.dataDir, 'tenants', 'initech'))).rejects.toThrow();
    expect(await digest(a, 'initech')).toBe(expected);
  });

  it('keeps an unknown tenant unknown (404, remembered briefly), and pinned tenants warm', async () => {
    const { env, s3 } = await infra();
    const a = await node('a', env);
    expect((await a.call('GET', '/api/v1/resources?limit=1', { tenant: 'nobody' })).status).toBe(404);
    // the answer is remembered: asking again costs no S3 request (with S3 stopped, a lookup would answer 503)
    s3.process.child.kill('SIGSTOP');
    try {
      expect((await a.call('GET', '/api/v1/resources?limit=1', { tenant: 'nobody' })).status).toBe(404);
    } finally {
      s3.process.child.kill('SIGCONT');
    }
    await writeDocs(a, 'pinned', 0, 3);
    expect((await operation(a, 'pinned', 'POST', '/api/v1/tenant/pin')).status).toBe('completed');
    const refused = await operation(a, 'pinned', 'POST', '/api/v1/tenant/offload');
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'conflict' } });
    expect((await a.call('GET', '/api/v1/tenant', { tenant: 'pinned' })).body).toMatchObject({ pinned: true, state: 'hot' });
    expect((await operation(a, 'pinned', 'POST', '/api/v1/tenant/unpin')).status).toBe('completed');
    expect((await operation(a, 'pinned', 'POST', '/api/v1/tenant/offload')).status).toBe('completed');
    const listing = await a.call('GET', '/api/v1/admin/tenants?state=cold', { tenant: null });
    expect(listing.body.tenants.map((t: { tenant: string }) => t.tenant)).toEqual(['pinned']);
  });
});

describe('demotion and schedules', () => {
  it('makes idle tenants cold (pinned ones stay warm), meets the disk budget lowest score first, and snapshots on schedule', async () => {
    const { env } = await infra();
    const a = await node('a', { ...env, PERCOLATE_TENANT_IDLE_WARM_S: '30', PERCOLATE_TENANT_IDLE_COLD_S: '120', PERCOLATE_SNAPSHOT_INTERVAL_S: '60' });
    const tenants = a.app.ctx.tenants;
    await writeDocs(a, 'small', 0, 5);
    await writeDocs(a, 'large', 0, 400);
    await writeDocs(a, 'busy', 0, 5);
    for (let i = 0; i < 30; i++) await a.call('GET', '/api/v1/resources?limit=1', { tenant: 'busy' });
    await writeDocs(a, 'kept', 0, 5);
    expect((await operation(a, 'kept', 'POST', '/api/v1/tenant/pin')).status).toBe('completed');
    const t0 = Date.now();

    // a minute on: every tenant idle past the warm age is closed; each had writes no snapshot covers yet
    await tenants.sweep(t0 + 61_000);
    for (const t of ['small', 'large', 'busy', 'kept']) {
      const p = tenants.presence(t)!;
      expect(p.state, t).toBe('warm');
      expect(p.snapshot, t).not.toBeNull(); // the interval snapshot
    }
    const size = (t: string) => tenants.presence(t)!.size_bytes!;
    expect(size('large')).toBeGreaterThan(size('small'));
    expect(tenants.presence('busy')!.score).toBeGreaterThan(tenants.presence('large')!.score);

    // the disk budget: the lowest score goes first (the large idle tenant), and only as many as needed
    tenants.lifecycle.diskBytesMax = size('small') + size('busy') + size('kept') + Math.floor(size('large') / 2);
    await tenants.sweep(t0 + 62_000);
    expect(['small', 'large', 'busy', 'kept'].map((t) => [t, tenants.presence(t)!.state])).toEqual([
      ['small', 'warm'],
      ['large', 'cold'],
      ['busy', 'warm'],
      ['kept', 'warm'],
    ]);
    tenants.lifecycle.diskBytesMax = 0;

    // two minutes idle: cold, except the pinned tenant
    await tenants.sweep(t0 + 121_000);
    expect(['small', 'busy', 'kept'].map((t) => [t, tenants.presence(t)!.state])).toEqual([
      ['small', 'cold'],
      ['busy', 'cold'],
      ['kept', 'warm'],
    ]);
    const metrics = (await a.call('GET', '/metrics', { tenant: null })).body as string;
    expect(metrics).toMatch(/percolate_tenant_evictions_total\{reason="disk"\} 1/);
    expect(metrics).toMatch(/percolate_tenant_evictions_total\{reason="idle_cold"\} 2/);
    expect(metrics).toMatch(/percolate_tenants\{state="cold"\} 3/);
    // and each comes back whole
    expect((await a.call('GET', '/api/v1/tenant', { tenant: 'large' })).body.counts.resources).toBe(400);
    expect((await a.call('GET', '/api/v1/resources?query=document%20399&mode=keyword', { tenant: 'large' })).body.results.map((r: { uri: string }) => r.uri)).toContain('doc://399');
  });
});

describe('durable operations', () => {
  it('resume after the node is killed mid-operation, and complete', async () => {
    const s3 = await startS3();
    cleanups.push(() => s3.cleanup());
    const data = await tempDir('percolate-lifecycle-ops-');
    cleanups.push(() => data.cleanup());
    // standalone: operations are kept in the node's own store (<data>/operations)
    const env = { PERCOLATE_DATA_DIR: data.dir, PORT: '0', PERCOLATE_NODE_ID: 'solo', ...s3.env, PERCOLATE_SNAPSHOTS: 'on', PERCOLATE_S3_REQUEST_TIMEOUT_MS: '600000' };
    let proc = await spawnService('services/api/main.ts', env);
    cleanups.push(() => proc.kill());
    const call = (method: string, p: string) => callUrl(proc.url, method, p, { tenant: 'hooli' });
    expect((await callUrl(proc.url, 'POST', '/api/v1/resources', { tenant: 'hooli', body: { uri: 'doc://1', content: 'kept through a crash' } })).status).toBe(201);
    const expected = (await call('GET', '/api/v1/tenant/digest')).body.digest as string;
    // S3 stops answering: the offload's upload hangs in its step
    s3.process.child.kill('SIGSTOP');
    const started = await call('POST', '/api/v1/tenant/offload');
    expect(started.status).toBe(202);
    const id = started.body.operation_id as string;
    await waitFor('the offload running', async () => (await call('GET', `/api/v1/operations/${id}`)).body.steps?.[0]?.status === 'running');
    proc.child.kill('SIGKILL');
    await proc.exited;
    s3.process.child.kill('SIGCONT');

    proc = await spawnService('services/api/main.ts', env);
    const done = await waitFor('the resumed offload', async () => {
      const r = await call('GET', `/api/v1/operations/${id}`);
      return r.body.status === 'completed' || r.body.status === 'failed' ? r.body : undefined;
    });
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'completed', attempts: 2, node: 'solo' });
    expect((await call('GET', '/api/v1/tenant')).body).toMatchObject({ state: 'cold', snapshot: { digest: expected } });
    expect((await call('GET', '/api/v1/tenant/digest')).body.digest).toBe(expected);
  });
});

describe('purge', () => {
  it('removes the tenant from every node, S3, the job states and the stream; the id starts again from empty', async () => {
    const { env, s3, natsUrl } = await infra();
    const a = await node('a', env);
    const b = await node('b', env);
    await writeDocs(a, 'umbrella', 0, 20);
    await waitFor('b has it', async () => (await b.call('GET', '/api/v1/tenant', { tenant: 'umbrella' })).body.counts?.resources === 20);
    expect((await operation(a, 'umbrella', 'POST', '/api/v1/tenant/snapshot')).status).toBe('completed');
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'tenants/umbrella/uploads/job-1/file.txt', Body: 'uploaded' }));
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'tenants/other/uploads/job-2/file.txt', Body: 'not ours' }));
    const nc = await connect({ servers: natsUrl });
    cleanups.push(() => nc.close());
    const jobs = await new Kvm(nc).create('percolate_jobs', { history: 1 });
    await jobs.put('umbrella.job-1', '{}');
    await jobs.put('other.job-2', '{}');

    const purge = await operation(a, 'umbrella', 'DELETE', '/api/v1/tenant');
    expect(purge.status, JSON.stringify(purge)).toBe('completed');
    expect(purge.steps.map((s: { name: string }) => s.name)).toEqual(['tombstone', 'objects', 'jobs', 'stream']);

    expect(await objectKeys(s3, 'tenants/umbrella/')).toEqual([]);
    expect(await objectKeys(s3, 'tenants/other/')).toEqual(['tenants/other/uploads/job-2/file.txt']);
    expect(await jobs.get('umbrella.job-1').then((e) => e?.operation)).not.toBe('PUT');
    expect((await jobs.get('other.job-2'))?.operation).toBe('PUT');
    const jsm = await jetstreamManager(nc);
    expect(await jsm.streams.getMessage(SYNC_STREAM, { last_by_subj: syncSubject('umbrella') }).catch(() => null)).toBeNull();
    for (const n of [a, b]) {
      await waitFor('purged on every node', async () => (await n.call('GET', '/api/v1/tenant', { tenant: 'umbrella' })).status === 404);
      await expect(fs.access(path.join(n.dataDir, 'tenants', 'umbrella'))).rejects.toThrow();
    }

    // an op from before the purge (a late delivery, a peer's old outbox) cannot bring old data back
    const tombstone = decodeHlc(purge.params.hlc as string);
    const stale = await resourceOp('umbrella', 'z', hlcAt(tombstone.wallMs - 1000, 'z'), 'doc://0', 'resurrected');
    const sync = await b.call('POST', '/api/v1/sync', { tenant: 'umbrella', body: { ops: [stale] } });
    expect(sync.body).toMatchObject({ applied: 0, skipped: 1 });
    expect((await b.call('GET', '/api/v1/tenant', { tenant: 'umbrella' })).body.counts.resources).toBe(0);
    // the id is used again from empty
    await writeDocs(b, 'umbrella', 100, 2);
    await waitFor('the new tenant on a', async () => (await a.call('GET', '/api/v1/tenant', { tenant: 'umbrella' })).body.counts?.resources === 2);
    expect((await a.call('GET', '/api/v1/resources/' + (await b.call('GET', '/api/v1/resources?limit=10', { tenant: 'umbrella' })).body.results[0].id, { tenant: 'umbrella' })).status).toBe(200);
    expect((await b.call('GET', '/api/v1/tenant', { tenant: 'umbrella' })).body.counts.resources).toBe(2);
  });
});
