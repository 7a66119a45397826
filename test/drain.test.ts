// The database node's drain (Kubernetes preStop, SIGTERM): it stops taking traffic, publishes its outboxes and
// snapshots its hot tenants, only for the holder of <data>/drain.token; answers say which node and zone served them.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startNode } from './support/api.js';
import { startNats } from './support/nats.js';
import { REPO_ROOT } from './support/process.js';
import { startS3 } from './support/s3.js';

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

describe('drain', () => {
  it('publishes the outbox and snapshots hot tenants for the token holder, then answers not ready', async () => {
    const nats = await startNats();
    cleanups.push(() => nats.cleanup());
    const s3 = await startS3();
    cleanups.push(() => s3.cleanup());
    const n = await startNode({ PERCOLATE_NODE_ID: 'db-0', PERCOLATE_ZONE: 'zone-a', PERCOLATE_NATS_URL: nats.url, ...s3.env, PERCOLATE_SNAPSHOTS: 'on' });
    cleanups.push(() => n.close());
    const w = await fetch(`${n.url}/api/v1/resources`, { method: 'POST', headers: { 'x-tenant-id': 'acme', 'content-type': 'application/json' }, body: JSON.stringify({ uri: 'doc://1', content: 'drained' }) });
    expect(w.status).toBe(201);
    expect(w.headers.get('x-served-by')).toBe('db-0');
    expect(w.headers.get('x-served-zone')).toBe('zone-a');

    expect((await n.call('POST', '/health/drain', { tenant: null })).status).toBe(403);
    expect((await n.call('POST', '/health/drain', { tenant: null, headers: { 'x-drain-token': 'f'.repeat(64) } })).status).toBe(403);
    expect((await n.call('GET', '/health/ready', { tenant: null })).status).toBe(200);
    expect(((await fs.stat(path.join(n.dataDir, 'drain.token'))).mode & 0o777).toString(8)).toBe('600');

    // the preStop command, as the pod runs it (same data directory, the node's port)
    const port = new URL(n.url).port;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/drain.ts')], { env: { ...process.env, PERCOLATE_DATA_DIR: n.dataDir, PORT: port } });
    const summary = JSON.parse(stdout.replace(/^percolate drain: 200 /, ''));
    expect(summary).toMatchObject({ outbox_remaining: 0, snapshots: 1, snapshot_failures: 0, timed_out: false });
    expect((await n.call('GET', '/health/ready', { tenant: null })).status).toBe(503);
    expect((await n.call('GET', '/api/v1/tenant', { tenant: 'acme' })).body.snapshot).toMatchObject({ counts: { resources: 1 } });
    // a second drain (the SIGTERM after the hook) shares the first
    const again = await n.call('POST', '/health/drain', { tenant: null, headers: { 'x-drain-token': (await fs.readFile(path.join(n.dataDir, 'drain.token'), 'utf8')).trim() } });
    expect(again.body).toEqual(summary);
  });
});
