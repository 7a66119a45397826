// A real S3-compatible server for tests and benchmarks: scripts/s3-server.ts (s3rver, plus AbortMultipartUpload and
// ListMultipartUploads) as a child process on a free loopback port over a temporary directory, with its bucket.
import { S3Client } from '@aws-sdk/client-s3';
import { spawnService, type ServiceProcess } from './process.js';
import { tempDir } from './tmp.js';

/** s3rver accepts only these credentials. */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' } as const;

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** s3rver's data directory. */
  dir: string;
  /** Environment for a gateway or worker that should use this server. */
  env: Record<string, string>;
  /** A client for assertions (path style, s3rver credentials). */
  client: S3Client;
  process: ServiceProcess;
  cleanup(): Promise<void>;
}

export async function startS3(bucket = 'percolate-test'): Promise<TestS3> {
  // in-process S3 clients (a gateway or worker built inside the test process) read credentials from the environment
  Object.assign(process.env, S3RVER_CREDENTIALS);
  const tmp = await tempDir('percolate-s3-');
  const proc = await spawnService('scripts/s3-server.ts', { PERCOLATE_S3_PORT: '0', PERCOLATE_S3_DIR: tmp.dir, PERCOLATE_S3_BUCKET: bucket });
  const client = new S3Client({
    endpoint: proc.url,
    region: S3RVER_CREDENTIALS.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_CREDENTIALS.AWS_SECRET_ACCESS_KEY },
  });
  return {
    endpoint: proc.url,
    bucket,
    dir: tmp.dir,
    env: { PERCOLATE_S3_ENDPOINT: proc.url, PERCOLATE_S3_BUCKET: bucket, ...S3RVER_CREDENTIALS },
    client,
    process: proc,
    async cleanup() {
      client.destroy();
      await proc.kill();
      await tmp.cleanup();
    },
  };
}
