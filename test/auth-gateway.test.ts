// Access control on the upload gateway and the ingest worker, against real nats-server, s3rver and a database node,
// all three with PERCOLATE_AUTH=required and the node's local key (the one-machine setup: the gateway and the worker
// read it from the node's data directory): the gateway's token matrix and its open health, /metrics behind an admin
// token; an upload written back by the worker with a token it minted itself and found with a ro token; a worker
// whose token the node refuses failing the job at once with a reason; the worker's credentials (PERCOLATE_API_TOKEN,
// minted and re-minted with a rotated key, none without keys); per-tenant upload quotas (in flight, bytes per UTC
// day, before a byte is stored and mid-stream) leaving nothing in S3 and no job queued, counted and audited; the
// gateway's rate limit and CORS.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway } from '../services/gateway/app.js';
import { UploadQuotas } from '../services/gateway/quotas.js';
import { CredentialsError, WORKER_TOKEN_TTL_S, workerCredentials } from '../services/worker/credentials.js';
import { IngestWorker } from '../services/worker/worker.js';
import { addKeyToFile, generateJwk, KeyRing, readJwksFile } from '../shared/auth/keys.js';
import { mintToken, TokenVerifier, type Scope } from '../shared/auth/tokens.js';
import { JOBS_STREAM, jobSubject, workerConsumer } from '../shared/bus/names.js';
import { loadAuthConfig } from '../shared/config/auth-config.js';
import { loadGatewayConfig, loadWorkerConfig } from '../shared/config/ingest-config.js';
import type { JobMessage } from '../shared/jobs/types.js';
import { startIngestStack, type IngestStack } from './support/ingest.js';
import { spawnService, type ServiceProcess } from './support/process.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const AUD = 'gateway-auth-test';
const MiB = 2 ** 20;
let stack: IngestStack;
let ring: KeyRing;
let tmp: Awaited<ReturnType<typeof tempDir>>;

const token = (tenant: string, scope: Scope, over: Partial<Parameters<typeof mintToken>[1]> = {}) =>
  mintToken(ring, { tenant, scope, ttlS: 600, sub: 'tester', audience: AUD, ...over });

beforeAll(async () => {
  tmp = await tempDir();
  stack = await startIngestStack({
    nodeEnv: { PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_AUDIENCE: AUD },
    // no key file: the gateway and the worker find the node's local key under its data directory (the stack's default)
    env: { PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_AUDIENCE: AUD, PERCOLATE_METRICS_AUTH: 'true', PERCOLATE_JOB_TIERS: 'small,refused,parked' },
  });
  const jwks = await readJwksFile(path.join(stack.node.dataDir, 'keys', 'jwks.json'));
  ring = await KeyRing.fromJwks(jwks, 'the node local key');
});

afterAll(async () => {
  await stack?.close();
  await tmp?.cleanup();
});

async function objectsUnder(prefix: string): Promise<string[]> {
  const res = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.s3.bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!);
}

async function multipartUploads(): Promise<number> {
  return ((await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.s3.bucket }))).Uploads ?? []).length;
}

/** Jobs waiting on a tier's consumer (no worker consumes the tiers these are asked about). */
async function pendingJobs(tier: string): Promise<number> {
  const nc = await connect({ servers: stack.nats.url });
  try {
    return (await (await jetstreamManager(nc)).consumers.info(JOBS_STREAM, workerConsumer(tier))).num_pending;
  } finally {
    await nc.close();
  }
}

async function metricsOf(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${await token('*', 'admin')}` } });
  expect(res.status).toBe(200);
  return res.text();
}

/** A streamed multipart upload with a token; the body may stall (the answer can come before it ends). */
function streamingUpload(url: string, tenant: string, bearer: string, filename: string, body: AsyncIterable<Buffer>) {
  const boundary = `----percolate${randomBytes(8).toString('hex')}`;
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: application/octet-stream\r\n\r\n`;
  const form = Readable.from(
    (async function* () {
      yield Buffer.from(head);
      for await (const chunk of body) yield chunk;
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    })(),
  );
  const req = http.request(`${url}/upload`, {
    method: 'POST',
    headers: { 'x-tenant-id': tenant, authorization: `Bearer ${bearer}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
  });
  const response = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
  });
  form.pipe(req);
  return { response, abort: () => req.destroy() };
}

/** A body that sends `bytes` and then waits until `release` is called (then ends). */
function heldBody(bytes: number): { body: AsyncIterable<Buffer>; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  return {
    body: (async function* () {
      yield Buffer.alloc(bytes, 'h');
      await released;
    })(),
    release,
  };
}

describe('the gateway checks tokens', () => {
  it('refuses a missing, forged, expired, other-tenant or ro token on /upload, and stores nothing', async () => {
    const good = await token('acme', 'rw');
    // the header and claims of one token with the signature of another: signed by the right key, but not these bytes
    const forged = `${good.slice(0, good.lastIndexOf('.'))}.${(await token('acme', 'rw', { sub: 'other' })).split('.')[2]}`;
    const cases: [string, string | undefined, number, string][] = [
      ['no token', undefined, 401, 'token_missing'],
      ['a bad signature', forged, 401, 'token_signature'],
      ['an expired token', await token('acme', 'rw', { nowS: Math.floor(Date.now() / 1000) - 7200 }), 401, 'token_expired'],
      ["another tenant's token", await token('globex', 'rw'), 403, 'tenant_forbidden'],
      ['a ro token', await token('acme', 'ro'), 403, 'scope_forbidden'],
    ];
    for (const [what, t, status, code] of cases) {
      const res = await stack.upload('acme', { name: 'a.txt', data: 'refused text' }, {}, t);
      expect({ what, status: res.status, code: res.body?.error?.code }).toEqual({ what, status, code });
      if (status === 401) {
        const www = res.headers.get('www-authenticate')!;
        expect(www, what).toMatch(/^Bearer realm="percolate"/);
        if (code === 'token_missing') expect(www, what).not.toMatch(/error=/);
        else expect(www, what).toMatch(/error="invalid_token"/);
      }
      expect(JSON.stringify(res.body), what).not.toContain(t ?? '\u0000');
    }
    expect(await objectsUnder('tenants/acme/')).toEqual([]);
  });

  it('accepts a rw token for the tenant and a * rw token; a ro token reads the job, another tenant cannot', async () => {
    // a tier no worker consumes: the jobs stay queued
    const uploader = await token('acme', 'rw');
    const up = await stack.upload('acme', { name: 'ok.txt', data: 'accepted text' }, { tier: 'parked' }, uploader);
    expect(up.status).toBe(202);
    const star = await stack.upload('acme', { name: 'star.txt', data: 'operator text' }, { tier: 'parked' }, await token('*', 'rw', { sub: 'operator' }));
    expect(star.status).toBe(202);
    // the job message names the tenant and carries no credential: workers use their own
    const nc = await connect({ servers: stack.nats.url });
    try {
      const first = await (await jetstreamManager(nc)).streams.getMessage(JOBS_STREAM, { last_by_subj: jobSubject('parked') });
      const text = JSON.stringify(first!.json<JobMessage>());
      expect(text).toContain(star.body.job_id);
      expect(text).not.toMatch(/authorization|bearer/i);
      expect(text).not.toContain(uploader.split('.')[2]!);
    } finally {
      await nc.close();
    }
    const ro = await stack.job('acme', up.body.job_id, await token('acme', 'ro'));
    expect(ro.status).toBe(200);
    expect(ro.body.job_id).toBe(up.body.job_id);
    expect((await stack.job('acme', up.body.job_id)).status).toBe(401);
    const other = await stack.job('acme', up.body.job_id, await token('globex', 'ro'));
    expect([other.status, other.body.error.code]).toEqual([403, 'tenant_forbidden']);
    expect((await stack.job('acme', star.body.job_id, await token('*', 'ro'))).status).toBe(200);
  });

  it('keeps /health open and puts /metrics behind an admin token for every tenant, counting failures by reason', async () => {
    expect((await fetch(`${stack.gatewayUrl}/health/live`)).status).toBe(200);
    expect((await fetch(`${stack.gatewayUrl}/health/ready`)).status).toBe(200);
    const m = (t?: string) => fetch(`${stack.gatewayUrl}/metrics`, { headers: t ? { authorization: `Bearer ${t}` } : {} });
    expect((await m()).status).toBe(401);
    expect((await m(await token('acme', 'admin'))).status).toBe(403); // a tenant's admin is not an operator
    expect((await m(await token('*', 'rw'))).status).toBe(403);
    const text = await metricsOf(stack.gatewayUrl);
    for (const reason of ['token_missing', 'token_signature', 'token_expired', 'tenant_forbidden', 'scope_forbidden']) {
      expect(text).toMatch(new RegExp(`percolate_auth_failures_total\\{reason="${reason}"\\} [1-9]`));
    }
  });
});

describe('the worker writes back with its own token', () => {
  it('ingests an upload end to end with auth required everywhere; the text is found with a ro token', async () => {
    expect(stack.worker!.credentials.source).toBe('minted');
    const up = await stack.upload('acme', { name: 'vault.md', data: '# Vault\n\nThe saffron observatory keeps its ledgers in Quillon.\n' }, {}, await token('acme', 'rw'));
    expect(up.status).toBe(202);
    const done = await stack.waitJob('acme', up.body.job_id, 30_000, await token('acme', 'ro'));
    expect([done.status, done.error]).toEqual(['completed', null]);
    expect(done.resources).toBeGreaterThan(0);
    const reader = { authorization: `Bearer ${await token('acme', 'ro')}` };
    const found = await stack.node.call('GET', `/api/v1/resources?query=${encodeURIComponent('saffron observatory Quillon')}&mode=keyword`, { tenant: 'acme', headers: reader });
    expect(found.status).toBe(200);
    expect(JSON.stringify(found.body)).toContain('saffron observatory');
    // the node does require a token, so the worker sent one of its own
    expect((await stack.node.call('GET', '/api/v1/resources?limit=1', { tenant: 'acme' })).status).toBe(401);
  });

  it('fails the job at once, with a reason, when the node refuses the worker token; logs no token', async () => {
    const other = await KeyRing.fromJwks({ keys: [await generateJwk('EdDSA')] }, 'a key the node does not know');
    const refused = await mintToken(other, { tenant: '*', scope: 'rw', sub: 'worker', ttlS: 600, audience: AUD });
    let child: ServiceProcess | undefined;
    try {
      child = await spawnService('services/worker/main.ts', { ...stack.env, PERCOLATE_TIER: 'refused', PERCOLATE_WORKER_PORT: '0', PERCOLATE_API_TOKEN: refused });
      const up = await stack.upload('acme', { name: 'refused.md', data: '# Refused\n\nNever written.\n' }, { tier: 'refused' }, await token('acme', 'rw'));
      expect(up.status).toBe(202);
      const state = await stack.waitJob('acme', up.body.job_id, 30_000, await token('acme', 'ro'));
      expect(state.status).toBe('failed');
      expect(state.attempts).toBe(1); // permanent: not handed back for another attempt
      expect(state.progress.stage).toBe('write');
      expect(state.error).toMatch(/^the database refused the worker's credentials \(401 token_unknown_key\): set PERCOLATE_API_TOKEN/);
      const letters = await stack.deadLetters();
      expect(letters.find((l) => l.letter.job?.job_id === up.body.job_id)?.letter.reason).toBe(state.error);
      // the worker's /metrics is behind an admin token too
      expect((await fetch(`${child.url}/metrics`)).status).toBe(401);
      expect(await metricsOf(child.url)).toMatch(/percolate_ingest_jobs_total\{stage="write",outcome="failed"\} 1/);
      await waitFor('the failure in the log', async () => child!.output().includes('job failed'), 5_000);
      expect(child.output()).not.toContain(refused.split('.')[2]!);
      expect(child.output()).toContain('"credentials":"api_token"');
    } finally {
      await child?.kill();
    }
  });
});

describe('the worker credentials', () => {
  it('mints sub worker, tenant *, rw for 1 h, the same until 10 min before expiry, then again with a rotated key', async () => {
    const file = path.join(tmp.dir, 'rotating.json');
    await addKeyToFile(file, await generateJwk('EdDSA'));
    const auth = loadAuthConfig({ PERCOLATE_AUTH_KEYS_FILE: file, PERCOLATE_AUTH_AUDIENCE: AUD }, tmp.dir);
    let now = Date.UTC(2030, 0, 1, 12);
    const creds = await workerCredentials({ auth, apiToken: undefined }, { nowMs: () => now });
    expect(creds.source).toBe('minted');
    const first = (await creds.token())!;
    const verify = async (t: string) => {
      const r = await KeyRing.fromJwks(await readJwksFile(file), file);
      return new TokenVerifier({ ring: r, audience: AUD, tenantClaim: 'tenant', scopeClaim: 'scope', leewayS: 0, cacheMax: 0, cacheTtlMs: 0, nowMs: () => now }).verify(t);
    };
    expect(await verify(first)).toEqual({ tenant: '*', scope: 'rw', sub: 'worker', exp: now / 1000 + WORKER_TOKEN_TTL_S });
    const newKey = await generateJwk('EdDSA');
    await addKeyToFile(file, newKey);
    now += 49 * 60_000;
    expect(await creds.token()).toBe(first);
    now += 2 * 60_000; // 9 minutes left
    const second = (await creds.token())!;
    expect(second).not.toBe(first);
    expect(decodeProtectedHeader(second).kid).toBe(newKey.kid);
    expect((await verify(second)).exp).toBe(now / 1000 + WORKER_TOKEN_TTL_S);
  });

  it('takes PERCOLATE_API_TOKEN first, sends none with auth off, and refuses to start without a key', async () => {
    const empty = path.join(tmp.dir, 'empty-data');
    const given = await workerCredentials(loadWorkerConfig({ PERCOLATE_API_TOKEN: 'a.b.c', PERCOLATE_DATA_DIR: empty }));
    expect([given.source, await given.token()]).toEqual(['api_token', 'a.b.c']);
    const off = await workerCredentials(loadWorkerConfig({ PERCOLATE_AUTH: 'off', PERCOLATE_DATA_DIR: empty }));
    expect([off.source, await off.token()]).toEqual(['none', undefined]);
    await expect(workerCredentials(loadWorkerConfig({ PERCOLATE_DATA_DIR: empty }))).rejects.toThrow(CredentialsError);
    await expect(IngestWorker.start(loadWorkerConfig({ ...stack.env, PERCOLATE_DATA_DIR: empty }))).rejects.toThrow(/PERCOLATE_API_TOKEN.*does not exist/);
    expect(fs.existsSync(path.join(empty, 'keys'))).toBe(false); // and creates no key
    expect(() => loadWorkerConfig({ PERCOLATE_API_TOKEN: 'Bearer a.b.c' })).toThrow(/the token alone/);
  });
});

describe('upload quotas, rate limit and CORS on the gateway', () => {
  let gw: FastifyInstance;
  let url: string;
  let logs = '';
  const LIMIT = 12 * MiB;

  beforeAll(async () => {
    const logStream = new Writable({ write: (c, _e, done) => ((logs += c.toString()), done()) });
    const cfg = loadGatewayConfig({
      ...stack.env,
      PERCOLATE_GATEWAY_PORT: '0',
      PERCOLATE_TIER: 'quota',
      PERCOLATE_JOB_TIERS: 'quota',
      PERCOLATE_UPLOAD_PART_BYTES: String(5 * MiB),
      PERCOLATE_QUOTA_UPLOADS_IN_FLIGHT_MAX: '1',
      PERCOLATE_QUOTA_UPLOAD_BYTES_PER_DAY: String(LIMIT),
      PERCOLATE_RATE_LIMIT_READS: '3',
      PERCOLATE_CORS_ORIGINS: 'https://app.example.com',
    });
    gw = await buildGateway(cfg, { logger: { level: 'info' }, logStream, defaultMetrics: false });
    await gw.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(gw.server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await gw?.close();
  });

  const upload = async (tenant: string, bytes: number) =>
    streamingUpload(url, tenant, await token(tenant, 'rw'), 'q.txt', (async function* () {
      for (let sent = 0; sent < bytes; sent += MiB) yield Buffer.alloc(Math.min(MiB, bytes - sent), 'q');
    })()).response;

  it('refuses a second upload in flight for a tenant before storing it, while another tenant uploads', async () => {
    const pending = await pendingJobs('quota');
    const held = heldBody(64 * 1024);
    const first = streamingUpload(url, 'qa', await token('qa', 'rw'), 'held.txt', held.body);
    await waitFor('the first upload to be in flight', async () => /percolate_uploads_in_flight 1/.test(await metricsOf(url)), 10_000);
    const second = await upload('qa', 1000);
    expect(second.status).toBe(429);
    expect(second.body.error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'uploads_in_flight', limit: 1, usage: 1 } });
    expect((await upload('qb', 1000)).status).toBe(202); // another tenant's quota
    held.release();
    expect((await first.response).status).toBe(202);
    expect((await upload('qa', 1000)).status).toBe(202); // the slot is free again
    expect(await objectsUnder('tenants/qa/')).toHaveLength(2);
    expect(await pendingJobs('quota')).toBe(pending + 3);
    expect(await metricsOf(url)).toMatch(/percolate_rate_limited_total\{kind="quota_uploads_in_flight"\} 1\b/);
    const audits = logs.split('\n').filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l));
    expect(audits).toContainEqual(expect.objectContaining({ event: 'quota_exceeded', quota: 'uploads_in_flight', tenant: 'qa', sub: 'tester', limit: 1, usage: 1 }));
  });

  it('stops an upload that crosses the day’s bytes mid-stream, leaving nothing in S3, and refuses the next at once', async () => {
    const pending = await pendingJobs('quota');
    expect((await upload('qd', 3 * MiB)).status).toBe(202);
    // crosses after 9 MiB of its 14: a multipart upload is under way by then
    const crossing = await upload('qd', 14 * MiB);
    expect(crossing.status).toBe(429);
    expect(crossing.body.error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'upload_bytes_per_day', limit: LIMIT } });
    expect(crossing.body.error.details.usage).toBeGreaterThan(LIMIT);
    expect(await objectsUnder('tenants/qd/')).toHaveLength(1);
    expect(await multipartUploads()).toBe(0);
    const uploadsDir = path.join(stack.s3.dir, stack.s3.bucket, '._S3rver_uploads');
    expect(fs.existsSync(uploadsDir)).toBe(true); // a multipart upload was started, and its parts are gone
    expect(fs.readdirSync(uploadsDir)).toEqual([]);
    expect(await pendingJobs('quota')).toBe(pending + 1);
    // the refused upload gave its bytes back: exactly the rest of the day's bytes is accepted
    expect((await upload('qd', LIMIT - 3 * MiB)).status).toBe(202);
    // now at the limit: a new upload is answered before its file sends a single byte
    const stalled = heldBody(0);
    const refused = streamingUpload(url, 'qd', await token('qd', 'rw'), 'late.txt', stalled.body);
    const early = await Promise.race([refused.response, new Promise<null>((r) => setTimeout(() => r(null), 5_000))]);
    refused.abort();
    stalled.release();
    expect(early?.status).toBe(429);
    expect(early?.body.error.details).toEqual({ quota: 'upload_bytes_per_day', limit: LIMIT, usage: LIMIT });
    expect(await objectsUnder('tenants/qd/')).toHaveLength(2);
    expect(await pendingJobs('quota')).toBe(pending + 2);
    const text = await metricsOf(url);
    expect(text).toMatch(/percolate_rate_limited_total\{kind="quota_upload_bytes_per_day"\} 2\b/);
    expect(text).toMatch(/percolate_uploads_total\{outcome="over_quota"\} [1-9]/);
    const audits = logs.split('\n').filter((l) => l.includes('"quota":"upload_bytes_per_day"'));
    expect(audits).toHaveLength(2);
  });

  it('rate-limits a tenant’s job reads, answers CORS preflight, and audits auth failures without the token', async () => {
    const ro = await token('rl', 'ro');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${url}/jobs/00000000-0000-4000-8000-00000000000${i}`, { headers: { 'x-tenant-id': 'rl', authorization: `Bearer ${ro}` } })).status);
    expect(statuses).toEqual([404, 404, 404, 429]);
    const pre = await fetch(`${url}/upload`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-tenant-id' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const stranger = await fetch(`${url}/upload`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
    const wrong = await token('globex', 'rw');
    const res = await fetch(`${url}/jobs/00000000-0000-4000-8000-000000000009`, { headers: { 'x-tenant-id': 'qa', authorization: `Bearer ${wrong}` } });
    expect(res.status).toBe(403);
    await waitFor('the audit line', async () => logs.includes('"reason":"tenant_forbidden"'), 5_000);
    expect(logs).not.toContain(wrong.split('.')[2]!);
    expect(logs).not.toContain(ro.split('.')[2]!);
  });
});

describe('upload quota counts', () => {
  it('start again at 00:00 UTC, give back a failed upload’s bytes, and keep a bounded set of tenants', () => {
    let now = Date.UTC(2030, 5, 1, 23, 59, 59);
    const q = new UploadQuotas({ uploadsInFlightMax: 2, uploadBytesPerDay: 100, tenantsMax: 2 }, { nowMs: () => now });
    const a = q.admit('a');
    expect(a.addBytes(100)).toBeUndefined();
    a.release(true);
    expect(() => q.admit('a')).toThrow(/upload_bytes_per_day exceeded: 100 bytes uploaded today \(UTC\), at most 100/);
    const failed = q.admit('b');
    expect(failed.addBytes(101)?.details).toEqual({ quota: 'upload_bytes_per_day', limit: 100, usage: 101 });
    failed.release(false);
    expect(q.bytesToday('b')).toBe(0);
    expect(q.uploadsInFlight('b')).toBe(0);
    now += 1000; // midnight
    expect(q.bytesToday('a')).toBe(0);
    const again = q.admit('a');
    again.addBytes(10);
    again.release(true);
    for (const t of ['b', 'c']) {
      const x = q.admit(t);
      x.addBytes(1);
      x.release(true);
    }
    expect(q.tenantsTracked).toBe(2);
    expect(q.bytesToday('a')).toBe(0); // the least recently active, forgotten
    expect(q.bytesToday('c')).toBe(1);
    const [x, y] = [q.admit('d'), q.admit('d')];
    expect(() => q.admit('d')).toThrow(/uploads_in_flight exceeded: 2 uploads in progress, at most 2/);
    x.release(true);
    y.release(true);
    y.release(true); // twice is once
    expect(q.uploadsInFlight('d')).toBe(0);
  });
});
