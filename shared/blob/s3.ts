// S3 access for files: client factory (endpoint, path style, region from config; credentials from the AWS SDK's
// standard chain), streaming multipart put, streaming and bounded get, delete, bucket creation, object uris.
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3Config } from '../config/ingest-config.js';

export function createS3Client(cfg: S3Config): S3Client {
  const client = new S3Client({
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    // socket inactivity and connect bounds (the SDK has none by default: a server that stops answering would hold a
    // request, and whoever waits for it, forever)
    requestHandler: { requestTimeout: cfg.requestTimeoutMs, connectionTimeout: Math.min(cfg.requestTimeoutMs, 10_000), throwOnRequestTimeout: true },
    // every upload is hashed end to end by us (sha256 in the job, checked by the worker on download), so the SDK's
    // extra CRC32 pass per part is not needed
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  if (!cfg.signPayload) {
    // SigV4 would otherwise sha256 every part body once more just to sign it: a third pass over every byte in the
    // gateway. TLS protects the bytes on the wire to S3; the file's own sha256 protects them end to end.
    client.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers?: Record<string, string>; body?: unknown };
        if (req.headers && req.body != null) req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'percolateUnsignedPayload' },
    );
  }
  return client;
}

export function objectUri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

export interface PutStreamOptions {
  partBytes: number;
  queueSize: number;
  contentType?: string;
  metadata?: Record<string, string>;
}

/**
 * Streams `body` into `bucket/key` with a multipart upload: at most `queueSize` parts of `partBytes` in flight, so
 * memory is bounded whatever the size. If `body` errors, the multipart upload is aborted (no parts are left behind)
 * and the body's error is rethrown.
 */
export async function putStream(client: S3Client, bucket: string, key: string, body: Readable, opts: PutStreamOptions): Promise<void> {
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: opts.contentType, Metadata: opts.metadata },
    partSize: opts.partBytes,
    queueSize: opts.queueSize,
    leavePartsOnError: false,
  });
  let bodyError: unknown;
  body.once('error', (err) => (bodyError = err));
  try {
    await upload.done();
  } catch (err) {
    // lib-storage reports the abort's own failure when aborting fails; the body's error says what really happened
    throw bodyError ?? err;
  }
}

/** A readable stream of the object's bytes and its size. */
export async function getStream(client: S3Client, bucket: string, key: string): Promise<{ body: Readable; size: number | undefined }> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!res.Body) throw new Error(`s3://${bucket}/${key} has no body`);
  return { body: res.Body as Readable, size: res.ContentLength };
}

export class ObjectTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`object is larger than ${limitBytes} bytes`);
  }
}

/** Reads the whole object into memory, refusing (before reading, when the size is known) objects above `limitBytes`. */
export async function getBytes(client: S3Client, bucket: string, key: string, limitBytes: number): Promise<Buffer> {
  const { body, size } = await getStream(client, bucket, key);
  if (size !== undefined && size > limitBytes) {
    body.destroy();
    throw new ObjectTooLargeError(limitBytes);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limitBytes) {
      body.destroy();
      throw new ObjectTooLargeError(limitBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

export async function deleteObject(client: S3Client, bucket: string, key: string): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/** Creates the bucket when it does not exist (dev servers; production buckets are provisioned). */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}
