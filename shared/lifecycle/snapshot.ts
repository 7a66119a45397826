// A tenant snapshot on this node's disk: the consistent copy of a tenant's directory, its manifest, the gzip tar
// stream that packs it and the guarded extraction that turns an archive back into a tenant directory.
//
// Consistency. A tenant is a LevelDB directory `db/` plus vector checkpoints `vidx-<kind>-<seq>/`. With the tenant's
// write lock held no record is written and no checkpoint is made (checkpoints take the same lock), so a copy of the
// files is the state of one moment. The copy is cheap: LevelDB table files (`*.ldb`, `*.sst`) and checkpoint files
// are never modified once written, so they are hard-linked; only CURRENT, the MANIFEST and the write-ahead log change
// in place, and those are small (the log is at most the write buffer), so they are copied. LevelDB may still compact
// in the background while writes are held (seek compactions, a memtable flush started before the lock) and the
// outbox publisher deletes published ops without the lock, so the db directory is listed before and after the copy
// and the capture is taken again when anything changed.
//
// Restoring. The archive comes from S3 and is treated as hostile: only regular files and directories under the
// names a tenant directory has (`db/<file>`, `vidx-<kind>-<seq>/<file>`) are written, never through a link, never
// over an existing file, within a byte and entry budget; the archive's sha256 and size are checked against its
// manifest as it streams, and everything extracted is removed when any check fails.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Parser, create as createTar, type ReadEntry } from 'tar';
import { RetryExhaustedError, retry } from '../rem/retry.js';
import { tenantDigest } from '../store/digest.js';
import type { TenantStore } from '../store/tenant-store.js';

export const SNAPSHOT_FORMAT = 1;

export type SnapshotErrorCode =
  /** The archive does not match its manifest (sha256, size, files) or is not a readable gzip tar. */
  | 'snapshot_corrupt'
  /** The snapshot (its manifest or its archive) is not in S3. */
  | 'snapshot_not_found'
  /** The snapshot is above a configured bound (archive bytes, extracted bytes, entries, listing pages). */
  | 'snapshot_too_large'
  /** The archive holds an entry a tenant directory never has: a link, a device, a path outside its names. */
  | 'snapshot_unsafe'
  /** The tenant's files kept changing under the write lock (background compactions): no consistent copy. */
  | 'capture_unstable'
  /** The tenant's write lock was not granted within lockWaitMs (its writers kept it). */
  | 'capture_busy'
  /** installSnapshot: the tenant directory already exists. */
  | 'install_target_exists';

export class SnapshotError extends Error {
  constructor(
    readonly code: SnapshotErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'SnapshotError';
  }
}

/** What a capture knows about the snapshot; the S3 layout adds the snapshot id and the archive (SnapshotManifest). */
export interface SnapshotContent {
  format: typeof SNAPSHOT_FORMAT;
  tenant: string;
  embedder: { id: string; dimension: number };
  counts: { resources: number; entities: number; moments: number; tombstones: number };
  /** tenantDigest() of the tenant at the moment of the copy. */
  digest: string;
  hlc_max: string | null;
  /** The sync stream sequence the snapshot covers (given by the caller). */
  stream_seq: number;
  /** The node that took it (given by the caller). */
  node: string;
  created_at: string;
  /** Regular files in the snapshot and their total size (checked again after extraction). */
  files: number;
  bytes: number;
}

export interface SnapshotManifest extends SnapshotContent {
  /** Sortable: zero-padded stream_seq, creation time in ms, random suffix (see snapshot-store.ts). */
  id: string;
  archive: { key: string; bytes: number; sha256: string };
}

export interface CaptureOptions {
  streamSeq: number;
  node: string;
  /** Captures tried before giving up with capture_unstable (default 8). */
  attemptsMax?: number;
  /** Wait before the second attempt, doubling up to retryMaxMs (defaults 50 ms, 2 s: about 7 s over 8 attempts). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Waiting for the write lock longer than this (per attempt) gives up with capture_busy (default 60 s). */
  lockWaitMs?: number;
  /** Tests: runs under the lock between the copy and the second listing (to change the db directory there). */
  afterCopy?: (attempt: number) => Promise<void>;
}

export interface CaptureTimings {
  /** Time the tenant's writes were held by the successful attempt (copy + digest). */
  heldMs: number;
  copyMs: number;
  digestMs: number;
}

export interface CapturedSnapshot {
  /** The staging directory holding the copy (`db/`, `vidx-*`); remove it with discardCapture once packed. */
  dir: string;
  manifest: SnapshotContent;
  attempts: number;
  timings: CaptureTimings;
}

export const CAPTURE_ATTEMPTS_DEFAULT = 8;
export const CAPTURE_RETRY_INITIAL_MS_DEFAULT = 50;
export const CAPTURE_RETRY_MAX_MS_DEFAULT = 2000;
export const CAPTURE_LOCK_WAIT_MS_DEFAULT = 60_000;

/** Never part of a snapshot: the lock of the open database, its info logs, CURRENT's temporary file. */
const DB_SKIPPED = /^(LOCK|LOG|LOG\.old|.*\.dbtmp)$/;
/** Written once, never changed (LevelDB tables). */
const DB_IMMUTABLE = /\.(ldb|sst)$/;
/** A complete checkpoint directory (`.tmp-<pid>` directories are unfinished ones). */
const CHECKPOINT_DIR = /^vidx-[a-z]+-[0-9]+$/;

type Listing = Map<string, string>;

/** Name -> size, inode and mtime of every file of the db directory that a snapshot holds. */
async function listDb(dbDir: string): Promise<Listing> {
  const out: Listing = new Map();
  for (const name of (await fs.readdir(dbDir)).sort()) {
    if (DB_SKIPPED.test(name)) continue;
    try {
      const st = await fs.stat(path.join(dbDir, name));
      out.set(name, `${st.size}:${st.ino}:${st.mtimeMs}`);
    } catch (err) {
      // removed between readdir and stat: a compaction is running; the listings will differ
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      out.set(name, 'vanished');
    }
  }
  return out;
}

function sameListing(a: Listing, b: Listing): boolean {
  if (a.size !== b.size) return false;
  for (const [name, sig] of a) if (b.get(name) !== sig || sig === 'vanished') return false;
  return true;
}

class CaptureRaced extends Error {}

/**
 * Runs `fn` under the tenant's write lock, or throws capture_busy when the lock is not granted within `waitMs`. The
 * mutex cannot withdraw a waiter: an abandoned one runs nothing when its turn comes and releases at once.
 */
async function underLock<T>(store: TenantStore, waitMs: number, fn: () => Promise<T>): Promise<T> {
  let abandoned = false;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abandoned = true;
      reject(new SnapshotError('capture_busy', `tenant '${store.tenant}': the write lock was not granted within ${waitMs} ms`, { tenant: store.tenant, lockWaitMs: waitMs }));
    }, waitMs);
  });
  const granted = store.writeLock.run(async () => {
    clearTimeout(timer);
    return abandoned ? undefined : { value: await fn() };
  });
  try {
    const r = await Promise.race([granted, timedOut]);
    return r!.value;
  } finally {
    clearTimeout(timer);
  }
}

async function linkInto(src: string, dst: string): Promise<void> {
  try {
    await fs.link(src, dst);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CaptureRaced(`${src} vanished`);
    if (code === 'EXDEV') throw new Error(`snapshot staging directory must be on the data directory's filesystem (hard links): ${dst}`);
    throw err;
  }
}

async function copyInto(src: string, dst: string): Promise<void> {
  try {
    // a reflink where the filesystem has them, else a plain copy
    await fs.copyFile(src, dst, fs.constants.COPYFILE_FICLONE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CaptureRaced(`${src} vanished`);
    throw err;
  }
}

/** Copies the tenant's db files and checkpoints into `dest`; returns the regular files and bytes written. */
async function copyTenant(tenantDirPath: string, dest: string, listing: Listing): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const count = async (file: string) => {
    files++;
    bytes += (await fs.stat(file)).size;
  };
  await fs.mkdir(path.join(dest, 'db'));
  for (const name of listing.keys()) {
    const src = path.join(tenantDirPath, 'db', name);
    const dst = path.join(dest, 'db', name);
    // anything not known to be immutable is copied: a copy is right for every file, a link only for tables
    await (DB_IMMUTABLE.test(name) ? linkInto(src, dst) : copyInto(src, dst));
    await count(dst);
  }
  for (const entry of await fs.readdir(tenantDirPath, { withFileTypes: true })) {
    if (!entry.isDirectory() || !CHECKPOINT_DIR.test(entry.name)) continue;
    await fs.mkdir(path.join(dest, entry.name));
    for (const name of await fs.readdir(path.join(tenantDirPath, entry.name))) {
      const dst = path.join(dest, entry.name, name);
      await linkInto(path.join(tenantDirPath, entry.name, name), dst);
      await count(dst);
    }
  }
  return { files, bytes };
}

/**
 * Copies the tenant's files into a fresh directory under `stagingRoot` (which must be on the data directory's
 * filesystem: immutable files are hard-linked) while holding the tenant's write lock, and computes the manifest in
 * the same critical section. Retries (up to attemptsMax) while LevelDB changes its directory under the lock.
 */
export async function captureSnapshot(store: TenantStore, stagingRoot: string, opts: CaptureOptions): Promise<CapturedSnapshot> {
  if (!Number.isSafeInteger(opts.streamSeq) || opts.streamSeq < 0) throw new TypeError(`streamSeq must be a non-negative integer, got ${opts.streamSeq}`);
  const attemptsMax = Math.max(1, Math.floor(opts.attemptsMax ?? CAPTURE_ATTEMPTS_DEFAULT));
  const lockWaitMs = Math.max(1, opts.lockWaitMs ?? CAPTURE_LOCK_WAIT_MS_DEFAULT);
  await fs.mkdir(stagingRoot, { recursive: true });
  const attempt = async (n: number): Promise<CapturedSnapshot> => {
    const dir = await fs.mkdtemp(path.join(stagingRoot, `snapshot-${store.tenant}-`));
    try {
      const taken = await underLock(store, lockWaitMs, () => copyAndDescribe(store, dir, opts, n));
      return { dir, manifest: taken.manifest, attempts: n, timings: taken.timings };
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  };
  try {
    // a compaction runs for a while: the next attempt waits longer (outside the lock, writes flowing meanwhile)
    return await retry(attempt, {
      attempts: attemptsMax,
      initialMs: opts.retryInitialMs ?? CAPTURE_RETRY_INITIAL_MS_DEFAULT,
      maxMs: opts.retryMaxMs ?? CAPTURE_RETRY_MAX_MS_DEFAULT,
      retryable: (err) => err instanceof CaptureRaced,
    });
  } catch (err) {
    if (!(err instanceof RetryExhaustedError)) throw err;
    throw new SnapshotError('capture_unstable', `tenant '${store.tenant}': no consistent copy in ${err.attempts} attempts (${(err.cause as Error).message})`, {
      tenant: store.tenant,
      attempts: err.attempts,
    });
  }
}

/** One attempt, under the write lock: the copy, bracketed by two listings of the db directory, then the manifest. */
async function copyAndDescribe(store: TenantStore, dir: string, opts: CaptureOptions, attempt: number): Promise<{ manifest: SnapshotContent; timings: CaptureTimings }> {
  const dbDir = path.join(store.dir, 'db');
  const t0 = performance.now();
  const before = await listDb(dbDir);
  const { files, bytes } = await copyTenant(store.dir, dir, before);
  await opts.afterCopy?.(attempt);
  const after = await listDb(dbDir);
  if (!sameListing(before, after)) throw new CaptureRaced('the db directory changed during the copy');
  const t1 = performance.now();
  const d = await tenantDigest(store);
  const t2 = performance.now();
  const manifest: SnapshotContent = {
    format: SNAPSHOT_FORMAT,
    tenant: store.tenant,
    embedder: { id: store.embedder.id, dimension: store.embedder.dimension },
    counts: d.counts,
    digest: d.digest,
    hlc_max: d.hlc_max,
    stream_seq: opts.streamSeq,
    node: opts.node,
    created_at: new Date().toISOString(),
    files,
    bytes,
  };
  return { manifest, timings: { heldMs: t2 - t0, copyMs: t1 - t0, digestMs: t2 - t1 } };
}

/** Removes a capture's staging directory (after it was packed, or when it is not wanted). */
export async function discardCapture(captured: CapturedSnapshot): Promise<void> {
  await fs.rm(captured.dir, { recursive: true, force: true });
}

export interface PackOptions {
  /** zlib level, 1 (fast) to 9 (small); LevelDB tables are already compressed, so little is gained above 1. */
  gzipLevel?: number;
}

export const GZIP_LEVEL_DEFAULT = 1;

/** A gzip tar stream of a captured directory (`db/`, `vidx-*`; paths relative to it, no owners), read lazily. */
export async function packSnapshot(dir: string, opts: PackOptions = {}): Promise<Readable> {
  const names = (await fs.readdir(dir)).sort();
  const pack = createTar({ cwd: dir, gzip: { level: opts.gzipLevel ?? GZIP_LEVEL_DEFAULT }, portable: true }, names);
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}

export interface ExtractLimits {
  /** The archive's exact size (from its manifest): more bytes than this are refused as they arrive. */
  archiveBytes: number;
  /** Total size of the files written at most. */
  bytesMax: number;
  /** Entries (files and directories) at most. */
  entriesMax: number;
}

export interface ExtractResult {
  sha256: string;
  archiveBytes: number;
  files: number;
  bytes: number;
}

/** One name of a tenant directory's entry: no separators, no leading dot (so never `.` or `..`). */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const TOP_NAME = /^(db|vidx-[a-z]+-[0-9]+)$/;
const META_ENTRY_BYTES_MAX = 64 * 1024;

/** The entry's path relative to the extraction directory, or why it is refused. */
function admit(entry: ReadEntry): { rel: string; dir: boolean } {
  const shown = JSON.stringify(entry.path).slice(0, 200);
  const dir = entry.type === 'Directory';
  if (!dir && entry.type !== 'File' && entry.type !== 'OldFile') {
    throw new SnapshotError('snapshot_unsafe', `archive entry ${shown} is a ${entry.type}; a snapshot holds only files and directories`);
  }
  const parts = (dir ? entry.path.replace(/\/+$/, '') : entry.path).split('/');
  const ok = parts.every((p) => NAME.test(p)) && TOP_NAME.test(parts[0]!) && (dir ? parts.length === 1 : parts.length === 2);
  if (!ok) throw new SnapshotError('snapshot_unsafe', `archive entry ${shown} is not a path of a tenant directory (db/<file> or vidx-<kind>-<seq>/<file>)`);
  return { rel: parts.join('/'), dir };
}

async function writeEntry(entry: ReadEntry, target: string): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  // 'wx': never over an existing file nor through a link; the archive's mode and owner are not used
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(target, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new SnapshotError('snapshot_unsafe', `archive holds ${JSON.stringify(entry.path)} twice`);
    throw err;
  }
  try {
    for await (const chunk of entry as AsyncIterable<Buffer>) await fh.write(chunk);
  } finally {
    await fh.close();
  }
}

const asCorrupt = (err: unknown): unknown =>
  err instanceof SnapshotError ? err : new SnapshotError('snapshot_corrupt', `archive is not a readable gzip tar: ${err instanceof Error ? err.message : String(err)}`);

/**
 * Extracts a gzip tar into `dir` (an empty directory of the caller's), hashing the archive bytes as they stream; the
 * caller compares the result with the manifest. Refuses (snapshot_unsafe) any entry but a file or directory at a
 * tenant directory's path and stops at the first bound crossed (snapshot_too_large); errors of the tar or gzip format
 * become snapshot_corrupt, those of the stream or the filesystem are rethrown. On any failure it waits for its own
 * writes to finish first, so the caller can remove `dir` afterwards.
 */
export async function extractSnapshot(archive: Readable, dir: string, limits: ExtractLimits): Promise<ExtractResult> {
  const hash = createHash('sha256');
  let archiveBytes = 0;
  let entries = 0;
  let files = 0;
  let bytes = 0;
  const writes: Promise<void>[] = [];
  const active = new Set<ReadEntry>();
  let failure: unknown;
  let fail!: (err: unknown) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = (err) => {
      if (failure !== undefined) return;
      failure = err;
      reject(err);
    };
  });
  failed.catch(() => {}); // observed through the races below

  const parser = new Parser({ strict: true, maxMetaEntrySize: META_ENTRY_BYTES_MAX });
  parser.on('entry', (entry: ReadEntry) => {
    if (failure !== undefined) return void entry.resume();
    try {
      const { rel, dir: isDir } = admit(entry);
      if (++entries > limits.entriesMax) throw new SnapshotError('snapshot_too_large', `archive has more than ${limits.entriesMax} entries`);
      bytes += entry.size;
      if (bytes > limits.bytesMax) throw new SnapshotError('snapshot_too_large', `archive extracts to more than ${limits.bytesMax} bytes`);
      const target = path.join(dir, rel);
      if (isDir) {
        writes.push(fs.mkdir(target, { recursive: true }).then(() => undefined, fail));
        entry.resume();
        return;
      }
      files++;
      active.add(entry);
      writes.push(
        writeEntry(entry, target)
          .catch(fail)
          .finally(() => active.delete(entry)),
      );
    } catch (err) {
      entry.resume();
      fail(err);
    }
  });
  // entries of a type tar does not know, oversized pax headers: nothing a snapshot writer produces
  parser.on('ignoredEntry', (entry: ReadEntry) => fail(new SnapshotError('snapshot_unsafe', `archive entry ${JSON.stringify(entry.path).slice(0, 200)} of type ${entry.type} is not allowed`)));
  parser.on('error', (err: unknown) => fail(asCorrupt(err)));
  const ended = new Promise<void>((resolve) => parser.once('end', resolve));

  const feed = async () => {
    for await (const chunk of archive as AsyncIterable<Buffer>) {
      if (failure !== undefined) return;
      archiveBytes += chunk.length;
      if (archiveBytes > limits.archiveBytes) {
        throw new SnapshotError('snapshot_corrupt', `archive is longer than the ${limits.archiveBytes} bytes its manifest says`);
      }
      hash.update(chunk);
      if (!parser.write(chunk)) await Promise.race([once(parser, 'drain'), failed]);
    }
    parser.end();
  };
  try {
    await Promise.race([feed(), failed]);
    await Promise.race([ended, failed]);
    await Promise.race([Promise.all(writes), failed]);
    if (failure !== undefined) throw failure;
  } catch (err) {
    fail(err);
    archive.destroy();
    // entries still being written end now; their files are closed before the caller removes `dir`
    for (const entry of active) entry.destroy();
    await Promise.allSettled(writes);
    throw failure;
  }
  return { sha256: hash.digest('hex'), archiveBytes, files, bytes };
}

async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Moves an extracted snapshot into place with one rename (same filesystem). Refuses when the tenant directory exists:
 * a restore never merges into, nor replaces, a tenant. The caller makes sure no store of the tenant is open.
 */
export async function installSnapshot(stagingDir: string, tenantDirPath: string): Promise<void> {
  await fs.mkdir(path.dirname(tenantDirPath), { recursive: true });
  const refuse = () => new SnapshotError('install_target_exists', `${tenantDirPath} already exists; a snapshot is installed only where the tenant has no directory`);
  // rename(2) would replace an empty directory silently: check first (an empty directory holds nothing to lose)
  if (await pathExists(tenantDirPath)) throw refuse();
  try {
    await fs.rename(stagingDir, tenantDirPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') throw refuse();
    throw err;
  }
}
