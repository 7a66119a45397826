// `npm start` through the stack launcher (scripts/start.ts on scripts/stack/): the five services come up in order on
// the ports given, the node answers with the printed token (auth required, key created under the data directory),
// and SIGINT stops every child before the launcher exits 0.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.js';
import { REPO_ROOT } from './support/process.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

const children = (pid: number): number[] => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('npm start on the stack launcher', () => {
  it('starts nats, s3, api, gateway and worker, prints a working token, and stops them all on SIGINT', { timeout: 120_000 }, async () => {
    const tmp = await tempDir('percolate-start-');
    cleanups.push(tmp.cleanup);
    const ports = { PERCOLATE_NATS_PORT: 0, PERCOLATE_NATS_MONITOR_PORT: 0, PERCOLATE_S3_PORT: 0, PORT: 0, PERCOLATE_GATEWAY_PORT: 0, PERCOLATE_WORKER_PORT: 0 };
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    const env = { ...process.env, PERCOLATE_DATA_DIR: tmp.dir, PERCOLATE_AUTH: 'required', ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/start.ts')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const token = await waitFor('the token line', async () => /export TOKEN=(\S+)/.exec(out)?.[1], 90_000, 100);
    expect(out).toContain(`percolate: created the signing key ${path.join(tmp.dir, 'keys', 'jwks.json')}`);
    expect(out).toContain(`percolate: ready. database http://127.0.0.1:${ports.PORT}, upload gateway http://127.0.0.1:${ports.PERCOLATE_GATEWAY_PORT}`);
    // each service's output is prefixed with its name, as before the launcher
    for (const name of ['nats', 'api', 'gateway', 'worker']) expect(out).toMatch(new RegExp(`^\\[${name}\\] `, 'm'));
    const headers = { authorization: `Bearer ${token}`, 'x-tenant-id': 'demo', 'content-type': 'application/json' };
    const put = await fetch(`http://127.0.0.1:${ports.PORT}/api/v1/resources`, { method: 'POST', headers, body: JSON.stringify({ uri: 'doc://start', content: 'started by npm start' }) });
    expect(put.status).toBe(201);
    const ready = (await (await fetch(`http://127.0.0.1:${ports.PORT}/health/ready`)).json()) as { replication: string };
    expect(ready.replication).toBe('connected');
    const kids = children(child.pid!);
    expect(kids).toHaveLength(5);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    for (const pid of kids) expect(alive(pid), `child ${pid} still running`).toBe(false);
  });
});
