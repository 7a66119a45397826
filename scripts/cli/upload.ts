// `percolate upload FILE...`: each file streamed from disk through the upload gateway (POST /upload, multipart field
// `file`) with its progress on stderr, then its ingestion job followed until it completes or fails. The multipart
// body is built by hand as a stream (the fields, the part header, the file read in chunks, the closing boundary)
// and sent through node:http (see postStream: Node 20's fetch would keep the whole body in memory), so a file is
// never held in memory whatever its size, its length is known in advance (Content-Length), and the bytes handed to
// the connection are what the progress line counts.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { JobState } from '../../shared/jobs/types.js';
import { CommandError, readCommandLine, UsageError, type CliIo, type Command } from './common.js';
import { failureOf, followJobs, WAIT_TIMEOUT_DEFAULT, WAIT_TIMEOUT_USAGE, type FollowedJob } from './jobs.js';
import { CONNECTION_OPTIONS, connectionUsage, durationOption, postStream, remoteOf, UnreachableError, type Remote } from './remote.js';

const USAGE = `usage: percolate upload FILE... [--no-wait] [--tier T] [--metadata JSON] [--wait-timeout D] [connection options]

Uploads each file to the upload gateway (POST /upload, streamed from disk), prints its job id on stdout, then
follows the jobs (GET /jobs/ID) on stderr, a line per stage, until each has completed or failed:
  npx percolate upload --tenant demo report.pdf notes.md
  JOB=$(npx percolate upload --tenant demo --no-wait big.pdf) && npx percolate jobs "$JOB" --tenant demo --follow

The gateway takes PDF, DOCX, HTML, Markdown, CSV, JSON, JSON Lines and plain text (it detects the type from the
first bytes). Progress goes to stderr: one line updated in place on a terminal, else a line per quarter sent.

  --no-wait         print the job ids and exit once the files are accepted
  --tier T          the job tier (the gateway's PERCOLATE_JOB_TIERS; default: its default tier)
  --metadata JSON   a JSON object copied onto every resource made from the files
${WAIT_TIMEOUT_USAGE}
${connectionUsage('gateway')}
                    (for an upload: how long the gateway may take no bytes, and then to answer)

Exit status 0 when every file was accepted (and, without --no-wait, its job completed); 1 when a file is refused
(percolate: FILE: <code>: <message>), a job fails (with its error) or the gateway cannot be reached; 2 for a usage
error.`;

/** Files of one command at most. */
export const FILES_MAX = 1000;
/** The size of a read from disk, and of a chunk handed to the connection. */
export const CHUNK_BYTES = 256 * 1024;
/** How often the progress line on a terminal is redrawn at most. */
const REDRAW_MS = 100;

interface LocalFile {
  file: string;
  name: string;
  sizeBytes: number;
}

/** A multipart form-data name or file name, quoted as browsers do (quotes and line breaks percent-encoded). */
function quoted(s: string): string {
  return `"${s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}"`;
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Bytes sent of a file, on stderr: a line redrawn in place on a terminal, else a line per quarter. */
function progressReporter(label: string, totalBytes: number, io: CliIo): { update(sentBytes: number): void; end(): void } {
  const stderr = io.stderr ?? process.stderr;
  const tty = Boolean(stderr.isTTY);
  let lastDraw = 0;
  let quarter = -1;
  let sent = 0;
  const draw = () => {
    const pct = totalBytes === 0 ? 100 : Math.floor((sent / totalBytes) * 100);
    const barWidth = 24;
    const filled = Math.round((pct / 100) * barWidth);
    stderr.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(barWidth - filled)}] ${String(pct).padStart(3)}% ${humanBytes(sent)} / ${humanBytes(totalBytes)}\x1b[K`);
  };
  return {
    update(sentBytes) {
      sent = sentBytes;
      if (tty) {
        const now = Date.now();
        if (now - lastDraw >= REDRAW_MS) {
          lastDraw = now;
          draw();
        }
        return;
      }
      const q = totalBytes === 0 ? 4 : Math.floor((sent / totalBytes) * 4);
      if (q > quarter && q < 4) {
        quarter = q;
        if (q > 0) io.err(`${label}: sent ${q * 25}% (${sent} of ${totalBytes} bytes)`);
      }
    },
    end() {
      if (tty) {
        draw();
        stderr.write('\n');
      } else {
        io.err(`${label}: sent ${sent} of ${totalBytes} bytes`);
      }
    },
  };
}

/**
 * The multipart body of one file: the form fields first (the gateway checks them before it stores a byte), then the
 * file read from `handle` in chunks of CHUNK_BYTES, exactly `f.sizeBytes` of them (a file that shrinks meanwhile
 * fails the body; one that grows is cut at the size announced), then the closing boundary. A chunk is read when the
 * request takes the previous one; `onChunk` is told each chunk handed over.
 */
function multipartBody(f: LocalFile, handle: fs.FileHandle, fields: Record<string, string>, onChunk: (fileBytesSent: number) => void): { stream: Readable; boundary: string; lengthBytes: number; failure: () => Error | undefined } {
  const boundary = `----percolate-${randomBytes(16).toString('hex')}`;
  let head = '';
  for (const [name, value] of Object.entries(fields)) head += `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n\r\n${value}\r\n`;
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename=${quoted(f.name)}\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const headBytes = Buffer.from(head, 'utf8');
  const tailBytes = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  let failure: Error | undefined;
  async function* parts(): AsyncGenerator<Buffer> {
    yield headBytes;
    onChunk(0);
    let position = 0;
    while (position < f.sizeBytes) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, f.sizeBytes - position));
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buf, 0, buf.length, position));
      } catch (err) {
        throw (failure = new Error(`cannot read ${f.file}: ${(err as Error).message}`));
      }
      if (bytesRead === 0) throw (failure = new Error(`${f.file} changed while it was uploaded: ${position} bytes, not the ${f.sizeBytes} it had`));
      position += bytesRead;
      yield buf.subarray(0, bytesRead);
      onChunk(position);
    }
    yield tailBytes;
  }
  // one chunk ahead at most: what is read from disk is what the connection takes
  const stream = Readable.from(parts(), { objectMode: false, highWaterMark: CHUNK_BYTES });
  return { stream, boundary, lengthBytes: headBytes.length + f.sizeBytes + tailBytes.length, failure: () => failure };
}

/**
 * Uploads one file; resolves with its job id. The wait is bounded by the remote's timeout between two chunks taken
 * by the connection, then for the answer once the body is sent.
 */
async function uploadFile(remote: Remote, f: LocalFile, fields: Record<string, string>, io: CliIo): Promise<string> {
  const handle = await fs.open(f.file, 'r');
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new DOMException(`no progress within ${remote.timeoutMs} ms`, 'TimeoutError')), remote.timeoutMs);
  };
  const progress = progressReporter(f.name, f.sizeBytes, io);
  const body = multipartBody(f, handle, fields, (sent) => {
    touch();
    progress.update(sent);
  });
  touch();
  try {
    const answer = await postStream(
      remote,
      '/upload',
      { 'content-type': `multipart/form-data; boundary=${body.boundary}`, 'content-length': String(body.lengthBytes) },
      body.stream,
      idle.signal,
    );
    progress.end();
    const jobId = (answer.body as { job_id?: unknown } | undefined)?.job_id;
    if (typeof jobId !== 'string') throw new CommandError(`the gateway accepted ${f.file} without a job id: ${answer.text.slice(0, 200)}`);
    return jobId;
  } catch (err) {
    const failure = body.failure();
    if (failure) throw new CommandError(failure.message);
    throw err;
  } finally {
    clearTimeout(timer);
    body.stream.destroy();
    await handle.close();
  }
}

async function localFile(file: string): Promise<LocalFile> {
  let st: Awaited<ReturnType<typeof fs.stat>>;
  try {
    st = await fs.stat(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CommandError(`${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  if (!st.isFile()) throw new CommandError(`${file}: not a regular file`);
  return { file, name: path.basename(file), sizeBytes: st.size };
}

export const uploadCommand: Command = {
  name: 'upload',
  summary: 'upload files through the gateway (streamed, with progress) and follow their jobs',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values, flags, positionals, help } = readCommandLine(
      argv,
      { strings: [...CONNECTION_OPTIONS.filter((n) => n !== 'url'), 'tier', 'metadata', 'wait-timeout'] as const, flags: ['no-wait'] as const, positionalsMax: FILES_MAX },
      USAGE,
    );
    if (help) {
      io.out(USAGE);
      return 0;
    }
    if (positionals.length === 0) throw new UsageError('at least one FILE is required', USAGE);
    const fields: Record<string, string> = {};
    if (values.tier !== undefined) fields.tier = values.tier;
    if (values.metadata !== undefined) {
      let m: unknown;
      try {
        m = JSON.parse(values.metadata);
      } catch {
        m = undefined;
      }
      if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new UsageError(`--metadata must be a JSON object, got '${values.metadata}'`, USAGE);
      fields.metadata = JSON.stringify(m);
    }
    const noWait = flags.has('no-wait');
    if (noWait && values['wait-timeout'] !== undefined) throw new UsageError('--wait-timeout and --no-wait do not go together', USAGE);
    const waitMs = durationOption('wait-timeout', values['wait-timeout'] ?? WAIT_TIMEOUT_DEFAULT, USAGE);
    const remote = remoteOf('gateway', values, io.env, USAGE);
    // every file is there before the first byte is sent
    const files: LocalFile[] = [];
    for (const f of positionals) files.push(await localFile(f));

    let failed = 0;
    const accepted: (FollowedJob & { file: string })[] = [];
    for (const f of files) {
      let jobId: string;
      try {
        jobId = await uploadFile(remote, f, fields, io);
      } catch (err) {
        // a refused file does not stop the others; a gateway that cannot be reached does
        if (!(err instanceof CommandError) || err instanceof UnreachableError) throw err;
        io.err(`percolate: ${f.file}: ${err.message}`);
        failed++;
        continue;
      }
      io.out(jobId);
      io.err(`${f.name}: accepted, job ${jobId}`);
      accepted.push({ id: jobId, label: f.name, file: f.file });
    }
    if (!noWait && accepted.length > 0) {
      const states: JobState[] = await followJobs(remote, accepted, waitMs, io);
      for (const [i, s] of states.entries()) {
        if (s.status !== 'failed') continue;
        io.err(`percolate: ${accepted[i]!.file}: ${failureOf(s)}`);
        failed++;
      }
    }
    if (failed > 0 && files.length > 1) io.err(`percolate: ${failed} of ${files.length} files failed`);
    return failed > 0 ? 1 : 0;
  },
};
