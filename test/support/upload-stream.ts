// Streaming multipart uploads for tests and benchmarks: a body generated block by block (never held whole, never
// on disk) sent with chunked transfer encoding, so files of any size can be uploaded from a small process.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const BLOCK_BYTES = 2 ** 20;

/** `totalBytes` of printable text in 1 MiB blocks, each different (its number is written into every line). */
export async function* textBlocks(totalBytes: number, blockBytes = BLOCK_BYTES): AsyncGenerator<Buffer> {
  const line = 'the quick brown fox jumps over the lazy dog while percolate streams this block ';
  const template = Buffer.alloc(blockBytes);
  for (let at = 0; at < blockBytes; at += line.length + 10) template.write(line, at, 'latin1');
  for (let i = 0; i < blockBytes; i++) if (template[i] === 0) template[i] = 0x0a;
  for (let sent = 0, n = 0; sent < totalBytes; n++) {
    const size = Math.min(blockBytes, totalBytes - sent);
    const block = Buffer.from(template.subarray(0, size));
    const tag = `${String(n).padStart(9, '0')}\n`;
    for (let at = 0; at + tag.length <= size; at += 4096) block.write(tag, at, 'latin1');
    sent += size;
    yield block;
  }
}

/** POSTs a multipart form (`fields`, then the file from `body`) to `<url>/upload`; resolves with the JSON answer. */
export async function streamUpload(
  url: string,
  tenant: string,
  filename: string,
  body: AsyncIterable<Buffer> | Readable,
  fields: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const boundary = `----percolate${randomBytes(12).toString('hex')}`;
  const head =
    Object.entries(fields)
      .map(([k, v]) => `--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
      .join('') +
    `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: application/octet-stream\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const form = Readable.from(
    (async function* () {
      yield Buffer.from(head);
      for await (const chunk of body) yield chunk as Buffer;
      yield Buffer.from(tail);
    })(),
  );
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/upload`, {
      method: 'POST',
      headers: { 'x-tenant-id': tenant, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    });
    req.on('error', reject);
    pipeline(form, req).catch(reject);
  });
}
