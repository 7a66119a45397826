// A 1 GiB upload, generated on the fly (never on disk), streams through the gateway process to S3: the gateway's
// resident memory grows by less than 150 MB, and the stored object's sha256 matches what was sent.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNats } from './support/nats.js';
import { spawnService, type ServiceProcess } from './support/process.js';
import { withPeakRss } from './support/proc.js';
import { startS3, type TestS3 } from './support/s3.js';
import { streamUpload, textBlocks } from './support/upload-stream.js';

const GiB = 2 ** 30;
const RSS_GROWTH_MAX = 150 * 2 ** 20;

let nats: Awaited<ReturnType<typeof startNats>>;
let s3: TestS3;
let gateway: ServiceProcess;

beforeAll(async () => {
  [nats, s3] = await Promise.all([startNats(), startS3()]);
  gateway = await spawnService('services/gateway/main.ts', { ...s3.env, PERCOLATE_NATS_URL: nats.url, PERCOLATE_GATEWAY_PORT: '0' });
});

afterAll(async () => {
  await gateway?.kill();
  await Promise.all([s3?.cleanup(), nats?.cleanup()]);
});

it('streams 1 GiB through the gateway with RSS growth under 150 MB and a matching sha256', async () => {
  const pid = gateway.child.pid!;
  // warm up: the multipart path, the S3 client and the NATS publish are loaded before the baseline
  const warm = await streamUpload(gateway.url, 'warmup', 'warm.txt', textBlocks(24 * 2 ** 20));
  expect(warm.status).toBe(202);
  const hash = createHash('sha256');
  let sent = 0;
  const blocks = textBlocks(GiB);
  const counted = Readable.from(
    (async function* () {
      for await (const block of blocks) {
        hash.update(block);
        sent += block.length;
        yield block;
      }
    })(),
  );
  const { result: res, baseline, peak } = await withPeakRss(pid, () => streamUpload(gateway.url, 'big', 'huge.txt', counted));
  expect(res.status).toBe(202);
  expect(sent).toBe(GiB);
  const expected = hash.digest('hex');
  expect(peak - baseline).toBeLessThan(RSS_GROWTH_MAX);

  const job = (await (await fetch(`${gateway.url}/jobs/${res.body.job_id}`, { headers: { 'x-tenant-id': 'big' } })).json()) as any;
  expect(job.file).toMatchObject({ size_bytes: GiB, sha256: expected, kind: 'text' });

  const obj = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `tenants/big/uploads/${res.body.job_id}/huge.txt` }));
  expect(obj.ContentLength).toBe(GiB);
  const stored = createHash('sha256');
  for await (const chunk of obj.Body as Readable) stored.update(chunk as Buffer);
  expect(stored.digest('hex')).toBe(expected);
}, 120_000);
