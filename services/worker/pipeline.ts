// The ingestion pipeline for one job: download the object, detect its type, parse, chunk, extract entities, and write
// resources, entities and an ingestion moment to the database in batches. Every record has a deterministic id (uri +
// chunk ordinal, type + key, the job's moment id), so running a job again rewrites the same records.
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { getBytes, ObjectTooLargeError } from '../../shared/blob/s3.js';
import type { WorkerConfig } from '../../shared/config/ingest-config.js';
import { chunkSections, chunkText, type Chunk } from '../../shared/ingest/chunker.js';
import { DETECT_HEAD_BYTES, detectFileKind } from '../../shared/ingest/detect.js';
import { extractEntities, type ExtractedEntity } from '../../shared/ingest/extract.js';
import { parseDocument, ParseError, type ParsedDocument } from '../../shared/ingest/parse.js';
import type { JobMessage, JobStage } from '../../shared/jobs/types.js';
import type { EntityInput, MomentInput, ResourceInput } from '../../shared/rem/types.js';
import { PermanentJobError, type DatabaseClient } from './db-client.js';

/** The API caps list fields of a moment (resource_ids, entity_ids, people) at this many items. */
const MOMENT_LIST_MAX = 1000;
export const DOCUMENT_ENTITY_TYPE = 'document';
export const MENTIONED_IN = 'mentioned_in';

export interface PipelineDeps {
  cfg: WorkerConfig;
  s3: S3Client;
  db: DatabaseClient;
}

export interface PipelineHooks {
  /** A new stage starts (with the chunk total once known). */
  stage(stage: JobStage, chunksTotal?: number): Promise<void>;
  /** `written` chunks are in the database. */
  progress(written: number): Promise<void>;
}

export interface PipelineResult {
  resources: number;
  entities: number;
  pages: number | null;
}

function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function download(job: JobMessage, deps: PipelineDeps): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await getBytes(deps.s3, job.file.bucket, job.file.key, deps.cfg.parseBytesMax);
  } catch (err) {
    if (err instanceof ObjectTooLargeError) throw new PermanentJobError(`the file is larger than the parse limit of ${err.limitBytes} bytes`);
    if ((err as { name?: string }).name === 'NoSuchKey') throw new PermanentJobError(`the uploaded object ${job.file.uri} no longer exists`);
    throw err;
  }
  // end-to-end integrity: the bytes parsed are the bytes the gateway received (retried: a bad read may not repeat)
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== job.file.sha256) throw new Error(`the stored object's sha256 ${sha256} does not match the upload's ${job.file.sha256}`);
  return bytes;
}

async function parse(job: JobMessage, bytes: Buffer): Promise<ParsedDocument> {
  const detected = detectFileKind(bytes.subarray(0, DETECT_HEAD_BYTES), job.file.filename, bytes.length > DETECT_HEAD_BYTES);
  if (!detected.ok) throw new PermanentJobError(`unsupported file: ${detected.reason}`);
  try {
    return await parseDocument(detected.kind, bytes);
  } catch (err) {
    if (err instanceof ParseError) throw new PermanentJobError(err.message);
    throw err;
  }
}

function resourceInputs(job: JobMessage, chunks: (Chunk & { page?: number })[]): ResourceInput[] {
  return chunks.map((c, i) => ({
    uri: job.file.uri,
    chunk_ordinal: i,
    name: job.file.filename,
    content: c.text,
    // the client's metadata first: our keys describe the chunk and must stay true
    metadata: {
      ...job.metadata,
      job_id: job.job_id,
      filename: job.file.filename,
      kind: job.file.kind,
      chunk_count: chunks.length,
      ...(c.page !== undefined ? { page: c.page } : {}),
      ...(job.source_uri ? { source_uri: job.source_uri } : {}),
    },
    source: { job_id: job.job_id, sha256: job.file.sha256, start: c.start, end: c.end },
  }));
}

function entityInputs(job: JobMessage, doc: ParsedDocument, chunkCount: number, extracted: ExtractedEntity[]): EntityInput[] {
  const documentRef = { type: DOCUMENT_ENTITY_TYPE, key: job.file.uri };
  const document: EntityInput = {
    ...documentRef,
    name: doc.title ?? job.file.filename,
    properties: {
      job_id: job.job_id,
      filename: job.file.filename,
      kind: job.file.kind,
      size_bytes: job.file.size_bytes,
      sha256: job.file.sha256,
      chunks: chunkCount,
      pages: doc.pageStarts?.length ?? null,
      source_uri: job.source_uri,
    },
  };
  return [
    document,
    ...extracted.map((e) => ({
      type: e.type,
      key: e.key,
      name: e.name,
      edges: [{ rel: MENTIONED_IN, to: documentRef, weight: e.mentions, properties: { job_id: job.job_id } }],
    })),
  ];
}

export async function runPipeline(job: JobMessage, deps: PipelineDeps, hooks: PipelineHooks): Promise<PipelineResult> {
  const { cfg, db } = deps;
  await hooks.stage('download');
  const bytes = await download(job, deps);

  await hooks.stage('parse');
  const doc = await parse(job, bytes);

  await hooks.stage('chunk');
  const chunkOpts = { chunkChars: cfg.chunkChars, overlapChars: cfg.chunkOverlapChars };
  // PDF chunks stay within a page, so each one cites its page exactly
  const chunks: (Chunk & { page?: number })[] = doc.pageStarts
    ? chunkSections(doc.text, doc.pageStarts, chunkOpts).map((c) => ({ ...c, page: c.section + 1 }))
    : chunkText(doc.text, chunkOpts);
  if (chunks.length === 0) throw new PermanentJobError('the file has no extractable text (a scanned PDF needs OCR first)');

  await hooks.stage('extract', chunks.length);
  const extracted = extractEntities(doc.text, { entitiesMax: cfg.entitiesMax });

  await hooks.stage('write');
  const resourceIds: string[] = [];
  let written = 0;
  for (const batch of batches(resourceInputs(job, chunks), cfg.writeBatchSize)) {
    const res = await db.post<{ ids: string[] }>(job.tenant, '/api/v1/resources', { resources: batch });
    resourceIds.push(...res.ids);
    written += batch.length;
    await hooks.progress(written);
  }
  const entityIds: string[] = [];
  const entities = entityInputs(job, doc, chunks.length, extracted);
  for (const batch of batches(entities, cfg.writeBatchSize)) {
    const res = await db.post<{ ids: string[] }>(job.tenant, '/api/v1/entities', { entities: batch });
    entityIds.push(...res.ids);
  }
  const people = extracted.filter((e) => e.type === 'person').map((e) => e.name);
  const moment: MomentInput = {
    id: `ingestion:${job.job_id}`,
    name: `Ingested ${job.file.filename}`,
    summary:
      `Ingested ${job.file.filename} (${job.file.kind}, ${job.file.size_bytes} bytes` +
      `${doc.pageStarts ? `, ${doc.pageStarts.length} pages` : ''}): ${chunks.length} chunks, ${extracted.length} entities` +
      (doc.title ? `. Title: ${doc.title.slice(0, 500)}` : ''),
    moment_type: 'ingestion',
    start_time: job.created_at,
    end_time: new Date().toISOString(),
    tags: ['ingestion', job.file.kind],
    people: people.slice(0, MOMENT_LIST_MAX),
    resource_ids: resourceIds.slice(0, MOMENT_LIST_MAX),
    entity_ids: entityIds.slice(0, MOMENT_LIST_MAX),
    metadata: { job_id: job.job_id, uri: job.file.uri, chunks: chunks.length, resource_ids_truncated: resourceIds.length > MOMENT_LIST_MAX },
  };
  await db.post(job.tenant, '/api/v1/moments', { moments: [moment] });
  return { resources: chunks.length, entities: entities.length, pages: doc.pageStarts?.length ?? null };
}
