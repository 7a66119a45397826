// A local S3-compatible server (s3rver on disk) for `npm start`, tests and benchmarks; creates the bucket at start.
// s3rver does not implement AbortMultipartUpload nor ListMultipartUploads; both are added here over its on-disk
// layout (`<dir>/<bucket>/._S3rver_uploads/<upload id>/`), so an aborted upload leaves no parts behind, as on S3.
//
//   PERCOLATE_S3_PORT (4568), HOST (127.0.0.1), PERCOLATE_S3_DIR (<PERCOLATE_DATA_DIR or ./data>/s3),
//   PERCOLATE_S3_BUCKET (percolate). Credentials are s3rver's fixed S3RVER / S3RVER.
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import S3rver from 's3rver';

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PERCOLATE_S3_PORT || 4568);
const dataDir = path.resolve(process.env.PERCOLATE_DATA_DIR || './data');
const directory = path.resolve(process.env.PERCOLATE_S3_DIR || path.join(dataDir, 's3'));
const bucket = process.env.PERCOLATE_S3_BUCKET || 'percolate';
const UPLOADS_DIR = '._S3rver_uploads';

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`percolate s3: PERCOLATE_S3_PORT must be a port number, got '${process.env.PERCOLATE_S3_PORT}'`);
  process.exit(2);
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** DELETE /<bucket>/<key>?uploadId=ID: drop the upload's parts. */
async function abortMultipartUpload(res: http.ServerResponse, bucketName: string, uploadId: string): Promise<void> {
  if (!/^[A-Za-z0-9_-]+$/.test(uploadId)) {
    res.writeHead(400).end();
    return;
  }
  const dir = path.join(directory, bucketName, UPLOADS_DIR, uploadId);
  const exists = await fs.stat(dir).then(
    () => true,
    () => false,
  );
  if (!exists) {
    res.writeHead(404, { 'content-type': 'application/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>');
    return;
  }
  await fs.rm(dir, { recursive: true, force: true });
  res.writeHead(204).end();
}

/** GET /<bucket>?uploads: the multipart uploads in progress. */
async function listMultipartUploads(res: http.ServerResponse, bucketName: string): Promise<void> {
  const root = path.join(directory, bucketName, UPLOADS_DIR);
  const ids = await fs.readdir(root).catch(() => [] as string[]);
  const uploads: string[] = [];
  for (const id of ids) {
    const key = await fs.readFile(path.join(root, id, 'key'), 'utf8').catch(() => undefined);
    if (key === undefined) continue;
    const { mtime } = await fs.stat(path.join(root, id));
    uploads.push(`<Upload><Key>${xml(key)}</Key><UploadId>${xml(id)}</UploadId><Initiated>${mtime.toISOString()}</Initiated></Upload>`);
  }
  res.writeHead(200, { 'content-type': 'application/xml' }).end(
    '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xml(bucketName)}</Bucket><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`,
  );
}

async function main(): Promise<void> {
  await fs.mkdir(directory, { recursive: true });
  const s3rver = new S3rver({ directory, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  await s3rver.configureBuckets();
  const handle = s3rver.getMiddleware();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3');
    const [, bucketName = '', ...key] = url.pathname.split('/');
    const uploadId = url.searchParams.get('uploadId');
    const route =
      req.method === 'DELETE' && uploadId && key.length > 0
        ? abortMultipartUpload(res, decodeURIComponent(bucketName), uploadId)
        : req.method === 'GET' && url.searchParams.has('uploads') && key.join('') === ''
          ? listMultipartUploads(res, decodeURIComponent(bucketName))
          : undefined;
    if (route) {
      req.resume();
      route.catch((err) => {
        console.error('percolate s3:', err);
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    handle(req, res);
  });
  // multi-gigabyte parts take a while on a slow disk
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  console.log(`percolate s3 (s3rver) listening on http://${host}:${actual} with bucket '${bucket}', data under ${directory}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error('percolate s3 failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
