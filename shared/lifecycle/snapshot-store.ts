// Tenant snapshots in S3. Layout, under the tenant's prefix (beside its uploads):
//
//   tenants/<tenant>/snapshots/<id>/data.tar.gz     the archive (snapshot.ts), streamed up as it is packed
//   tenants/<tenant>/snapshots/<id>/manifest.json   written LAST: a snapshot without one is incomplete, never read
//
// `<id>` sorts by what the snapshot covers: the sync stream sequence (16 digits, every safe integer), then the
// creation time in ms (13 digits), then a random suffix, so two nodes snapshotting at the same sequence never write
// the same keys. Newest first is descending id.
//
// Whatever is read back from S3 is hostile: a manifest is size-bounded, validated field by field, must name the
// tenant asked for and point at the archive key of its own prefix (never another tenant's object); an archive is
// checked against the manifest's sha256 and size while it streams, and extracted under snapshot.ts's rules.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ObjectTooLargeError, getBytes, getStream, putStream } from '../blob/s3.js';
import { isHlc } from '../rem/hlc.js';
import { isTenantId, tenantDir } from '../rem/tenant-id.js';
import { tenantPrefix } from '../blob/keys.js';
import type { TenantStore } from '../store/tenant-store.js';
import {
  SNAPSHOT_FORMAT,
  SnapshotError,
  captureSnapshot,
  discardCapture,
  extractSnapshot,
  installSnapshot,
  packSnapshot,
  type CaptureOptions,
  type CaptureTimings,
  type CapturedSnapshot,
  type SnapshotManifest,
} from './snapshot.js';

export interface SnapshotStoreOptions {
  client: S3Client;
  bucket: string;
  /** Multipart part size and parts in flight of an archive upload (memory: about partBytes * (queueSize + 1)). */
  partBytes?: number;
  queueSize?: number;
  /** zlib level of archives (snapshot.ts GZIP_LEVEL_DEFAULT). */
  gzipLevel?: number;
  /** A manifest larger than this is invalid (they are a few hundred bytes). */
  manifestBytesMax?: number;
  /** Pages of ListObjectsV2 (1,000 keys each, two per snapshot) read at most for one tenant's snapshots. */
  listPagesMax?: number;
  /** Manifests read at once by list(). */
  manifestReadsConcurrent?: number;
  /** prune() deletes an incomplete snapshot (no manifest) only once its newest object is older than this. */
  incompleteGraceMs?: number;
  /** fetch() refuses snapshots above these (snapshot_too_large), before downloading and while extracting. */
  archiveBytesMax?: number;
  extractedBytesMax?: number;
  entriesMax?: number;
  /** Keys per ListObjectsV2 page of deleteTenant and per DeleteObjects request (S3's maximum is 1,000). */
  deleteBatch?: number;
  /** The clock prune() judges ages by (tests). */
  now?: () => number;
}

export const SNAPSHOT_STORE_DEFAULTS = {
  partBytes: 16 * 1024 * 1024,
  queueSize: 2,
  manifestBytesMax: 64 * 1024,
  listPagesMax: 20,
  manifestReadsConcurrent: 8,
  incompleteGraceMs: 60 * 60 * 1000,
  archiveBytesMax: 64 * 1024 ** 3,
  extractedBytesMax: 128 * 1024 ** 3,
  entriesMax: 100_000,
  deleteBatch: 1000,
} as const;

const ID_PATTERN = /^[0-9]{16}-[0-9]{13}-[0-9a-f]{8}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const ARCHIVE = 'data.tar.gz';
const MANIFEST = 'manifest.json';

export function snapshotsPrefix(tenant: string): string {
  return `${tenantPrefix(tenant)}snapshots/`;
}

export function archiveKey(tenant: string, id: string): string {
  return `${snapshotsPrefix(tenant)}${id}/${ARCHIVE}`;
}

export function manifestKey(tenant: string, id: string): string {
  return `${snapshotsPrefix(tenant)}${id}/${MANIFEST}`;
}

/** `<stream_seq, 16 digits>-<ms, 13 digits>-<8 hex>`: sorts by sequence, then time. */
export function snapshotId(streamSeq: number, createdMs: number, suffix = randomBytes(4).toString('hex')): string {
  return `${String(streamSeq).padStart(16, '0')}-${String(createdMs).padStart(13, '0')}-${suffix}`;
}

// ---- manifest validation ----

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The manifest of snapshot `id` of `tenant`, checked field by field (a copy holding only the known fields), or a
 * SnapshotError('snapshot_corrupt') saying which field is wrong.
 */
export function parseManifest(value: unknown, tenant: string, id: string): SnapshotManifest {
  const bad = (what: string) => new SnapshotError('snapshot_corrupt', `snapshot ${id} of tenant '${tenant}': manifest ${what}`, { tenant, id });
  if (!isObject(value)) throw bad('is not an object');
  const m = value;
  if (m.format !== SNAPSHOT_FORMAT) throw bad(`has format ${JSON.stringify(m.format)?.slice(0, 20)}, this node reads ${SNAPSHOT_FORMAT}`);
  if (!isTenantId(m.tenant) || m.tenant !== tenant) throw bad('names another tenant');
  if (m.id !== id || !ID_PATTERN.test(id)) throw bad('names another snapshot id');
  const e = m.embedder;
  if (!isObject(e) || !isText(e.id, 256) || !isCount(e.dimension) || e.dimension < 1 || e.dimension > 65_536) throw bad('has no valid embedder');
  const c = m.counts;
  if (!isObject(c) || !isCount(c.resources) || !isCount(c.entities) || !isCount(c.moments) || !isCount(c.tombstones)) throw bad('has no valid counts');
  if (typeof m.digest !== 'string' || !HEX64.test(m.digest)) throw bad('has no valid digest');
  if (m.hlc_max !== null && !isHlc(m.hlc_max)) throw bad('has no valid hlc_max');
  if (!isCount(m.stream_seq)) throw bad('has no valid stream_seq');
  if (!isText(m.node, 256)) throw bad('has no valid node');
  if (!isText(m.created_at, 64) || !Number.isFinite(Date.parse(m.created_at))) throw bad('has no valid created_at');
  if (!isCount(m.files) || !isCount(m.bytes)) throw bad('has no valid files/bytes');
  const a = m.archive;
  if (!isObject(a) || a.key !== archiveKey(tenant, id) || !isCount(a.bytes) || typeof a.sha256 !== 'string' || !HEX64.test(a.sha256)) {
    throw bad('has no valid archive (key of its own prefix, bytes, sha256)');
  }
  return {
    format: SNAPSHOT_FORMAT,
    tenant,
    id,
    embedder: { id: e.id, dimension: e.dimension },
    counts: { resources: c.resources, entities: c.entities, moments: c.moments, tombstones: c.tombstones },
    digest: m.digest,
    hlc_max: m.hlc_max,
    stream_seq: m.stream_seq,
    node: m.node,
    created_at: m.created_at,
    files: m.files,
    bytes: m.bytes,
    archive: { key: a.key, bytes: a.bytes, sha256: a.sha256 },
  };
}

// ---- the store ----

/** One snapshot prefix as listed: its objects and whether its manifest is there. */
export interface SnapshotListing {
  id: string;
  keys: string[];
  hasManifest: boolean;
  /** Newest LastModified of its objects (ms). */
  modifiedMs: number;
}

export interface SnapshotScan {
  /** Valid manifests, newest first. */
  complete: { manifest: SnapshotManifest; listing: SnapshotListing }[];
  /** Prefixes without a manifest (an upload in progress, or one that died). */
  incomplete: SnapshotListing[];
  /** Manifests that failed validation (another format, tampered): left alone by prune. */
  invalid: { listing: SnapshotListing; reason: string }[];
}

export interface PruneResult {
  kept: string[];
  deleted: string[];
  objectsDeleted: number;
}

const isNotFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
};

/** Runs `fn` over `items`, at most `width` at once, keeping the order. */
async function mapBounded<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

export class SnapshotStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly o: Required<Omit<SnapshotStoreOptions, 'client' | 'bucket' | 'gzipLevel'>> & { gzipLevel?: number };

  constructor(opts: SnapshotStoreOptions) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.o = { ...SNAPSHOT_STORE_DEFAULTS, now: Date.now, ...stripUndefined(opts) };
    this.o.deleteBatch = Math.min(1000, Math.max(1, Math.floor(this.o.deleteBatch)));
  }

  /**
   * Packs a capture into `tenants/<t>/snapshots/<id>/data.tar.gz` as one stream (no archive in memory or on disk),
   * hashing it on the way, then writes the manifest. Returns the manifest; the caller discards the capture.
   */
  async put(captured: CapturedSnapshot): Promise<SnapshotManifest> {
    const content = captured.manifest;
    const id = snapshotId(content.stream_seq, Date.parse(content.created_at));
    const key = archiveKey(content.tenant, id);
    const hash = createHash('sha256');
    let bytes = 0;
    const packed = await packSnapshot(captured.dir, { gzipLevel: this.o.gzipLevel });
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of packed as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    }
    await putStream(this.client, this.bucket, key, Readable.from(hashed(), { objectMode: false }), {
      partBytes: this.o.partBytes,
      queueSize: this.o.queueSize,
      contentType: 'application/gzip',
    });
    const manifest: SnapshotManifest = { ...content, id, archive: { key, bytes, sha256: hash.digest('hex') } };
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: manifestKey(content.tenant, id),
        Body: JSON.stringify(manifest),
        ContentType: 'application/json',
      }),
    );
    return manifest;
  }

  /** Every snapshot prefix of the tenant, sorted into complete (valid manifest), incomplete and invalid. */
  async scan(tenant: string): Promise<SnapshotScan> {
    const prefix = snapshotsPrefix(tenant);
    const byId = new Map<string, SnapshotListing>();
    let token: string | undefined;
    for (let page = 0; ; page++) {
      if (page >= this.o.listPagesMax) {
        throw new SnapshotError('snapshot_too_large', `tenant '${tenant}' has more snapshot objects than ${this.o.listPagesMax} listing pages; prune them`, { tenant });
      }
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const obj of res.Contents ?? []) {
        const rest = (obj.Key ?? '').slice(prefix.length);
        const slash = rest.indexOf('/');
        const id = rest.slice(0, slash);
        // keys that are not <id>/<name> are none of ours: listed by nobody, deleted only with the tenant
        if (slash < 0 || !ID_PATTERN.test(id)) continue;
        const listing = byId.get(id) ?? { id, keys: [], hasManifest: false, modifiedMs: 0 };
        listing.keys.push(obj.Key!);
        if (rest.slice(slash + 1) === MANIFEST) listing.hasManifest = true;
        listing.modifiedMs = Math.max(listing.modifiedMs, obj.LastModified?.getTime() ?? 0);
        byId.set(id, listing);
      }
      if (!res.IsTruncated || !res.NextContinuationToken) break;
      token = res.NextContinuationToken;
    }
    const listings = [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const withManifest = listings.filter((l) => l.hasManifest);
    type Read = { listing: SnapshotListing; manifest: SnapshotManifest } | { listing: SnapshotListing; reason: string } | undefined;
    const read = await mapBounded(withManifest, this.o.manifestReadsConcurrent, async (listing): Promise<Read> => {
      try {
        return { listing, manifest: await this.readManifest(tenant, listing.id) };
      } catch (err) {
        if (err instanceof SnapshotError && err.code === 'snapshot_corrupt') return { listing, reason: err.message };
        // removed since the listing (a concurrent prune): as if it had not been listed
        if (err instanceof SnapshotError && err.code === 'snapshot_not_found') return undefined;
        throw err;
      }
    });
    const scan: SnapshotScan = { complete: [], incomplete: listings.filter((l) => !l.hasManifest), invalid: [] };
    for (const r of read) {
      if (!r) continue;
      if ('manifest' in r) scan.complete.push({ manifest: r.manifest, listing: r.listing });
      else scan.invalid.push({ listing: r.listing, reason: r.reason });
    }
    return scan;
  }

  /** Valid manifests of the tenant's complete snapshots, newest first. */
  async list(tenant: string): Promise<SnapshotManifest[]> {
    return (await this.scan(tenant)).complete.map((c) => c.manifest);
  }

  async latest(tenant: string): Promise<SnapshotManifest | undefined> {
    return (await this.list(tenant))[0];
  }

  /** Reads and validates one manifest (snapshot_not_found, snapshot_corrupt). */
  async readManifest(tenant: string, id: string): Promise<SnapshotManifest> {
    if (!ID_PATTERN.test(id)) throw new SnapshotError('snapshot_not_found', `'${id.slice(0, 64)}' is not a snapshot id`);
    let raw: Buffer;
    try {
      raw = await getBytes(this.client, this.bucket, manifestKey(tenant, id), this.o.manifestBytesMax);
    } catch (err) {
      if (isNotFound(err)) throw new SnapshotError('snapshot_not_found', `snapshot ${id} of tenant '${tenant}' has no manifest`, { tenant, id });
      if (err instanceof ObjectTooLargeError) throw new SnapshotError('snapshot_corrupt', `snapshot ${id}: manifest larger than ${this.o.manifestBytesMax} bytes`, { tenant, id });
      throw err;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new SnapshotError('snapshot_corrupt', `snapshot ${id} of tenant '${tenant}': manifest is not JSON`, { tenant, id });
    }
    return parseManifest(value, tenant, id);
  }

  /**
   * Keeps the tenant's `keep` newest complete snapshots and deletes the older ones, and incomplete ones whose newest
   * object is older than incompleteGraceMs (younger ones may be uploads in progress). Invalid ones are left alone:
   * they may be a newer node's format.
   */
  async prune(tenant: string, keep: number): Promise<PruneResult> {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new TypeError(`keep must be an integer >= 1, got ${keep} (deleteTenant removes everything)`);
    const scan = await this.scan(tenant);
    const cutoff = this.o.now() - this.o.incompleteGraceMs;
    const doomed = [...scan.complete.slice(keep).map((c) => c.listing), ...scan.incomplete.filter((l) => l.modifiedMs < cutoff)];
    const keys = doomed.flatMap((l) => l.keys);
    // manifests first: a snapshot half deleted is then incomplete (ignored), never a manifest without its archive
    await this.deleteKeys(keys.filter((k) => k.endsWith(MANIFEST)));
    await this.deleteKeys(keys.filter((k) => !k.endsWith(MANIFEST)));
    return { kept: scan.complete.slice(0, keep).map((c) => c.manifest.id), deleted: doomed.map((l) => l.id), objectsDeleted: keys.length };
  }

  /**
   * Deletes every object under `tenants/<tenant>/` (snapshots, uploads, anything else) and aborts the multipart
   * uploads in progress there. Returns what it removed.
   */
  async deleteTenant(tenant: string): Promise<{ objects: number; multipartUploads: number }> {
    const prefix = tenantPrefix(tenant);
    let objects = 0;
    // list the first page again after each deletion: the deleted keys are gone, so every round makes progress
    for (;;) {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: this.o.deleteBatch }));
      const keys = (res.Contents ?? []).map((o) => o.Key!).filter((k) => k.startsWith(prefix));
      if (keys.length === 0) break;
      await this.deleteKeys(keys);
      objects += keys.length;
    }
    let multipartUploads = 0;
    const uploads = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }));
    for (const u of uploads.Uploads ?? []) {
      if (!u.Key?.startsWith(prefix) || !u.UploadId) continue; // servers that ignore Prefix
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
      multipartUploads++;
    }
    return { objects, multipartUploads };
  }

  private async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += this.o.deleteBatch) {
      const batch = keys.slice(i, i + this.o.deleteBatch);
      const res = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      if (res.Errors?.length) {
        const first = res.Errors[0]!;
        throw new Error(`S3 refused to delete ${res.Errors.length} of ${batch.length} objects (first: ${first.Key}: ${first.Code} ${first.Message})`);
      }
    }
  }

  /**
   * Downloads and extracts a snapshot into a fresh staging directory under `targetDir` (on the data directory's
   * filesystem, so installSnapshot can rename it into place) and returns that directory. The archive must match the
   * manifest (sha256, bytes, files, extracted bytes) and hold a LevelDB directory; otherwise nothing is left in
   * `targetDir` and a SnapshotError says why.
   */
  async fetch(manifest: SnapshotManifest, targetDir: string): Promise<string> {
    const m = parseManifest(manifest, manifest.tenant, manifest.id);
    const tooLarge = (what: string) => new SnapshotError('snapshot_too_large', `snapshot ${m.id} of tenant '${m.tenant}': ${what}`, { tenant: m.tenant, id: m.id });
    if (m.archive.bytes > this.o.archiveBytesMax) throw tooLarge(`archive of ${m.archive.bytes} bytes is above ${this.o.archiveBytesMax}`);
    if (m.bytes > this.o.extractedBytesMax) throw tooLarge(`${m.bytes} bytes of files are above ${this.o.extractedBytesMax}`);
    if (m.files > this.o.entriesMax) throw tooLarge(`${m.files} files are above ${this.o.entriesMax}`);
    const corrupt = (what: string) => new SnapshotError('snapshot_corrupt', `snapshot ${m.id} of tenant '${m.tenant}': ${what}`, { tenant: m.tenant, id: m.id });
    await fs.mkdir(targetDir, { recursive: true });
    const staging = await fs.mkdtemp(path.join(targetDir, `.restore-${m.tenant}-`));
    try {
      let body: Readable;
      let size: number | undefined;
      try {
        ({ body, size } = await getStream(this.client, this.bucket, m.archive.key));
      } catch (err) {
        if (isNotFound(err)) throw new SnapshotError('snapshot_not_found', `snapshot ${m.id} of tenant '${m.tenant}' has no archive`, { tenant: m.tenant, id: m.id });
        throw err;
      }
      if (size !== undefined && size !== m.archive.bytes) {
        body.destroy();
        throw corrupt(`archive is ${size} bytes, its manifest says ${m.archive.bytes}`);
      }
      const got = await extractSnapshot(body, staging, {
        archiveBytes: m.archive.bytes,
        // the manifest's figures bound what is written: a tampered archive cannot write more than it announced
        bytesMax: Math.min(m.bytes, this.o.extractedBytesMax),
        // its files plus their directories (db/ and one checkpoint per kind; a few more are allowed, not thousands)
        entriesMax: Math.min(m.files + 16, this.o.entriesMax),
      });
      if (got.archiveBytes !== m.archive.bytes || got.sha256 !== m.archive.sha256) {
        throw corrupt(`archive sha256 ${got.sha256} (${got.archiveBytes} bytes) is not the manifest's ${m.archive.sha256} (${m.archive.bytes} bytes)`);
      }
      if (got.files !== m.files || got.bytes !== m.bytes) throw corrupt(`archive holds ${got.files} files of ${got.bytes} bytes, the manifest says ${m.files} of ${m.bytes}`);
      try {
        await fs.access(path.join(staging, 'db', 'CURRENT'));
      } catch {
        throw corrupt('archive holds no LevelDB directory (db/CURRENT)');
      }
      return staging;
    } catch (err) {
      await fs.rm(staging, { recursive: true, force: true });
      throw err;
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export interface TakeSnapshotResult {
  manifest: SnapshotManifest;
  attempts: number;
  timings: CaptureTimings & { uploadMs: number };
}

/** Captures the tenant under its write lock, uploads the archive and its manifest, and removes the staging copy. */
export async function takeSnapshot(store: TenantStore, snapshots: SnapshotStore, stagingRoot: string, opts: CaptureOptions): Promise<TakeSnapshotResult> {
  const captured = await captureSnapshot(store, stagingRoot, opts);
  try {
    const t0 = performance.now();
    const manifest = await snapshots.put(captured);
    return { manifest, attempts: captured.attempts, timings: { ...captured.timings, uploadMs: performance.now() - t0 } };
  } finally {
    await discardCapture(captured);
  }
}

/**
 * Fetches a snapshot into `stagingRoot` and installs it as the tenant's directory of `dataDir` (which must not
 * exist; stagingRoot on the same filesystem). The caller makes sure no store of the tenant is open meanwhile.
 */
export async function restoreSnapshot(snapshots: SnapshotStore, manifest: SnapshotManifest, dataDir: string, stagingRoot: string): Promise<string> {
  const target = tenantDir(dataDir, manifest.tenant);
  const staging = await snapshots.fetch(manifest, stagingRoot);
  try {
    await installSnapshot(staging, target);
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true });
    throw err;
  }
  return target;
}
