// The upload gateway against real nats-server and s3rver: accepted uploads (object, job message, job state),
// rejections (415, 413 with the multipart upload aborted, 400s), tenant isolation of job ids, health and metrics.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOBS_STREAM, jobSubject } from '../shared/bus/names.js';
import type { JobMessage } from '../shared/jobs/types.js';
import net from 'node:net';
import { buildGateway } from '../services/gateway/app.js';
import { loadGatewayConfig } from '../shared/config/ingest-config.js';
import { startIngestStack, type IngestStack } from './support/ingest.js';
import { waitFor } from './support/wait.js';
import { streamUpload, textBlocks } from './support/upload-stream.js';

const MiB = 2 ** 20;
const UPLOAD_MAX = 12 * MiB;

let stack: IngestStack;

beforeAll(async () => {
  // small limits so the 413 case starts a real multipart upload (parts of 5 MiB) before the limit is crossed
  stack = await startIngestStack({
    worker: false,
    env: { PERCOLATE_UPLOAD_BYTES_MAX: String(UPLOAD_MAX), PERCOLATE_UPLOAD_PART_BYTES: String(5 * MiB), PERCOLATE_JOB_TIERS: 'small,large' },
  });
});

afterAll(async () => {
  await stack?.close();
});

async function objectsUnder(prefix: string): Promise<string[]> {
  const res = await stack.s3.client.send(new ListObjectsV2Command({ Bucket: stack.s3.bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!);
}

async function lastJobMessage(tier: string): Promise<JobMessage> {
  const nc = await connect({ servers: stack.nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const m = await jsm.streams.getMessage(JOBS_STREAM, { last_by_subj: jobSubject(tier) });
    return m!.json<JobMessage>();
  } finally {
    await nc.close();
  }
}

describe('POST /upload accepted', () => {
  it('stores the file under the tenant and job, queues a job with the file facts, and reports it queued', async () => {
    const text = '# Notes\n\nPercolate keeps memories for AI agents.\n';
    const up = await stack.upload('acme', { name: 'my notes (1).md', data: text }, { uri: 'notes://1', metadata: '{"project":"alpha"}' });
    expect(up.status).toBe(202);
    expect(up.body.job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(up.body.status_url).toBe(`/jobs/${up.body.job_id}`);

    const key = `tenants/acme/uploads/${up.body.job_id}/my_notes_1_.md`;
    const obj = await stack.s3.client.send(new GetObjectCommand({ Bucket: stack.s3.bucket, Key: key }));
    expect(await obj.Body!.transformToString()).toBe(text);

    const msg = await lastJobMessage('small');
    expect(msg).toMatchObject({
      job_id: up.body.job_id,
      tenant: 'acme',
      tier: 'small',
      source_uri: 'notes://1',
      metadata: { project: 'alpha' },
      file: {
        bucket: stack.s3.bucket,
        key,
        uri: `s3://${stack.s3.bucket}/${key}`,
        filename: 'my_notes_1_.md',
        kind: 'markdown',
        size_bytes: Buffer.byteLength(text),
        sha256: createHash('sha256').update(text).digest('hex'),
      },
    });

    const job = await stack.job('acme', up.body.job_id);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({
      job_id: up.body.job_id,
      status: 'queued',
      progress: { stage: 'queued', chunks_total: 0, chunks_written: 0 },
      resources: 0,
      entities: 0,
      error: null,
    });
    expect(Date.parse(job.body.created_at)).not.toBeNaN();
    expect(Date.parse(job.body.updated_at)).not.toBeNaN();
  });

  it('publishes to the tier named in the form', async () => {
    const up = await stack.upload('acme', { name: 'big.txt', data: 'large tier text' }, { tier: 'large' });
    expect(up.status).toBe(202);
    expect((await lastJobMessage('large')).job_id).toBe(up.body.job_id);
  });
});

describe('POST /upload rejected', () => {
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(20_000, 7)]);

  it.each([
    ['a PNG image', { name: 'photo.png', data: png }],
    ['a PNG named .txt', { name: 'photo.txt', data: png }],
    ['a file named .pdf that is not a PDF', { name: 'report.pdf', data: 'hello, not a pdf' }],
    ['an unknown extension', { name: 'tool.exe', data: 'MZ text' }],
    ['non-UTF-8 binary', { name: 'blob.txt', data: Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x00]) }],
  ])('415 for %s, and nothing is stored', async (_name, file) => {
    const before = await objectsUnder('tenants/reject415/');
    const up = await stack.upload('reject415', file);
    expect(up.status).toBe(415);
    expect(up.body.error.code).toBe('unsupported_media_type');
    expect(await objectsUnder('tenants/reject415/')).toEqual(before);
  });

  it('413 above the upload limit, with the multipart upload aborted (no parts left) and no object', async () => {
    const big = Buffer.alloc(UPLOAD_MAX + 8 * MiB, 'a');
    const up = await stack.upload('reject413', { name: 'big.txt', data: big });
    expect(up.status).toBe(413);
    expect(up.body.error.code).toBe('payload_too_large');
    expect(await objectsUnder('tenants/reject413/')).toEqual([]);
    const uploads = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.s3.bucket }));
    expect(uploads.Uploads ?? []).toEqual([]);
    // a multipart upload was started (s3rver made its uploads directory) and its parts are gone
    const uploadsDir = path.join(stack.s3.dir, stack.s3.bucket, '._S3rver_uploads');
    expect(fs.existsSync(uploadsDir)).toBe(true);
    expect(fs.readdirSync(uploadsDir)).toEqual([]);
  });

  it('a client that disconnects mid-upload leaves no parts and no object behind', async () => {
    const partial = (async function* () {
      yield* textBlocks(UPLOAD_MAX - MiB);
      throw new Error('the client gave up');
    })();
    await expect(streamUpload(stack.gatewayUrl, 'gone', 'partial.txt', partial)).rejects.toThrow();
    await waitFor('the upload to end on the gateway', async () => /percolate_uploads_in_flight 0/.test(await (await fetch(`${stack.gatewayUrl}/metrics`)).text()), 10_000);
    expect(await objectsUnder('tenants/gone/')).toEqual([]);
    const uploads = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.s3.bucket }));
    expect(uploads.Uploads ?? []).toEqual([]);
  });

  it('closes an upload that stalls mid-body after the idle timeout, leaving no parts and no object behind', async () => {
    // a second gateway on the same stack with short limits (the defaults allow hours for a whole upload, but not
    // a minute of silence)
    const cfg = loadGatewayConfig({ ...stack.env, PERCOLATE_GATEWAY_PORT: '0', PERCOLATE_HTTP_CONNECTION_TIMEOUT_MS: '1000', PERCOLATE_HTTP_HEADERS_TIMEOUT_MS: '1000' });
    const gw = await buildGateway(cfg, { logger: false, defaultMetrics: false });
    await gw.listen({ host: '127.0.0.1', port: 0 });
    const port = (gw.server.address() as { port: number }).port;
    const socket = net.connect({ host: '127.0.0.1', port });
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    try {
      const boundary = 'stall';
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="stall.txt"\r\nContent-Type: text/plain\r\n\r\n`;
      await new Promise<void>((r) => socket.once('connect', () => r()));
      socket.write(
        `POST /upload HTTP/1.1\r\nHost: localhost\r\nX-Tenant-ID: stalled\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
          `Transfer-Encoding: chunked\r\n\r\n`,
      );
      const chunk = head + 'x'.repeat(6 * MiB); // more than one part: the multipart upload has started
      socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      // ... and then nothing more
      await waitFor('the gateway to close the stalled upload', async () => closed, 15_000);
      await waitFor('the upload to end on the gateway', async () => /percolate_uploads_in_flight 0/.test(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()), 10_000);
      expect(await objectsUnder('tenants/stalled/')).toEqual([]);
      const uploads = await stack.s3.client.send(new ListMultipartUploadsCommand({ Bucket: stack.s3.bucket }));
      expect(uploads.Uploads ?? []).toEqual([]);
    } finally {
      socket.destroy();
      await gw.close();
    }
  });

  it('accepts a file of exactly the limit', async () => {
    const up = await stack.upload('limit', { name: 'exact.txt', data: Buffer.alloc(UPLOAD_MAX, 'b') });
    expect(up.status).toBe(202);
  });

  it('400 for an empty file, a missing file, bad fields, and bad tenant headers', async () => {
    const cases: [Parameters<IngestStack['upload']>, number, string][] = [
      [['acme', { name: 'empty.txt', data: '' }], 400, 'empty_file'],
      [['acme', null, { uri: 'x://1' }], 400, 'missing_file'],
      [['acme', { name: 'a.txt', data: 'x' }, { metadata: '{not json' }], 400, 'invalid_request'],
      [['acme', { name: 'a.txt', data: 'x' }, { metadata: '[1,2]' }], 400, 'invalid_request'],
      [['acme', { name: 'a.txt', data: 'x' }, { tier: 'gold' }], 400, 'invalid_request'],
      [['acme', { name: 'a.txt', data: 'x' }, { colour: 'red' }], 400, 'invalid_request'],
      [[null, { name: 'a.txt', data: 'x' }], 400, 'missing_tenant'],
      [['Not A Tenant', { name: 'a.txt', data: 'x' }], 400, 'invalid_tenant'],
      [['../etc', { name: 'a.txt', data: 'x' }], 400, 'invalid_tenant'],
    ];
    for (const [args, status, code] of cases) {
      const res = await stack.upload(...args);
      expect({ args: JSON.stringify(args[2] ?? args[0]), status: res.status, code: res.body?.error?.code }).toEqual({
        args: JSON.stringify(args[2] ?? args[0]),
        status,
        code,
      });
    }
  });

  it('415 for a request that is not multipart', async () => {
    const res = await fetch(`${stack.gatewayUrl}/upload`, {
      method: 'POST',
      headers: { 'x-tenant-id': 'acme', 'content-type': 'application/json' },
      body: '{"file":"x"}',
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as any).error.code).toBe('unsupported_media_type');
  });
});

describe('GET /jobs/:id', () => {
  it("answers 404 for another tenant's job id, and for an unknown id", async () => {
    const up = await stack.upload('owner', { name: 'a.txt', data: 'owned' });
    expect(up.status).toBe(202);
    expect((await stack.job('owner', up.body.job_id)).status).toBe(200);
    const other = await stack.job('intruder', up.body.job_id);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('not_found');
    expect((await stack.job('owner', '00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('400 for a malformed job id', async () => {
    const res = await stack.job('owner', 'not-a-job');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });
});

describe('operations', () => {
  it('serves health and upload metrics', async () => {
    expect((await stack.upload('metrics', { name: 'm.md', data: '# M' })).status).toBe(202);
    expect((await stack.upload('metrics', { name: 'm.exe', data: 'x' })).status).toBe(415);
    expect((await fetch(`${stack.gatewayUrl}/health/live`)).status).toBe(200);
    expect((await fetch(`${stack.gatewayUrl}/health/ready`)).status).toBe(200);
    const metrics = await (await fetch(`${stack.gatewayUrl}/metrics`)).text();
    expect(metrics).toMatch(/percolate_uploads_total\{outcome="accepted"\} [1-9]/);
    expect(metrics).toMatch(/percolate_uploads_total\{outcome="unsupported"\} [1-9]/);
    expect(metrics).toMatch(/percolate_upload_bytes_total\{kind="markdown"\} [1-9]/);
    expect(metrics).toMatch(/percolate_upload_duration_seconds_count\{outcome="accepted"\} [1-9]/);
    expect(metrics).toMatch(/percolate_jobs_queued_total\{tier="small"\} [1-9]/);
    // no worker runs in this stack: the queued jobs are pending, as the consumer itself counts them
    expect(metrics).toMatch(/percolate_jobs_pending\{tier="small"\} [1-9]/);
    expect(metrics).toMatch(/percolate_jobs_pending\{tier="large"\} \d+/);
    expect(metrics).toMatch(/percolate_uploads_in_flight 0/);
  });
});
