// POST /upload: a multipart stream (field `file`, optional `uri`, `tier`, `metadata`) piped through the inspector
// (size, sha256, type from the first bytes) straight into an S3 multipart upload, then a job is queued.
// Nothing holds more than the detection head and the S3 parts in flight, whatever the file size. The tenant's upload
// quotas admit the upload before anything is read, and count its bytes as they arrive: an upload that crosses the
// daily bytes is stopped there and its multipart upload aborted, as a too-large one is.
import { randomUUID } from 'node:crypto';
import type { Multipart, MultipartFile } from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { objectUri, deleteObject, putStream } from '../../../shared/blob/s3.js';
import { uploadKey } from '../../../shared/blob/keys.js';
import { jobSubject } from '../../../shared/bus/names.js';
import { audit } from '../../../shared/http/audit.js';
import { HttpError } from '../../../shared/http/errors.js';
import { SUPPORTED_DESCRIPTION } from '../../../shared/ingest/detect.js';
import { InspectStream, UploadRejectedError } from '../../../shared/ingest/inspect-stream.js';
import { initialJobState, type JobMessage } from '../../../shared/jobs/types.js';
import { RemError } from '../../../shared/rem/errors.js';
import { retry } from '../../../shared/rem/retry.js';
import type { GatewayContext, GatewayRouteOptions } from '../context.js';
import type { UploadTicket } from '../quotas.js';

/** Queueing a stored upload's job: retried for up to 10 s (a JetStream leader election), then 503. */
const QUEUE_RETRY = { initialMs: 200, maxMs: 2_000, deadlineMs: 10_000 };

const FIELDS = ['uri', 'tier', 'metadata'] as const;
type FieldName = (typeof FIELDS)[number];

interface StoredFile {
  key: string;
  filename: string;
  inspect: InspectStream;
}

const REJECTIONS: Record<UploadRejectedError['reason'], [number, string]> = {
  empty: [400, 'empty_file'],
  too_large: [413, 'payload_too_large'],
  unsupported: [415, 'unsupported_media_type'],
};

/** Multipart parser errors, by @fastify/multipart code. */
const MULTIPART_ERRORS: Record<string, [number, string, string]> = {
  FST_REQ_FILE_TOO_LARGE: [413, 'payload_too_large', 'the file is larger than the upload limit'],
  FST_FILES_LIMIT: [400, 'invalid_request', 'only one file per upload'],
  FST_PARTS_LIMIT: [400, 'invalid_request', 'too many form fields'],
  FST_FIELDS_LIMIT: [400, 'invalid_request', 'too many form fields'],
  FST_PROTO_VIOLATION: [400, 'invalid_request', 'invalid form field name'],
  FST_INVALID_JSON_FIELD_ERROR: [400, 'invalid_request', 'metadata is not valid JSON'],
};

function toUploadError(err: unknown): unknown {
  if (err instanceof HttpError || err instanceof RemError) return err;
  if (err instanceof UploadRejectedError) {
    const [status, code] = REJECTIONS[err.reason];
    const message = err.reason === 'unsupported' ? `${err.message}; supported: ${SUPPORTED_DESCRIPTION}` : err.message;
    return new HttpError(status, code, message);
  }
  const known = MULTIPART_ERRORS[(err as { code?: string })?.code ?? ''];
  if (known) return new HttpError(known[0], known[1], known[2]);
  if (/multipart|Unexpected end of form|Part terminated early/i.test(String((err as Error)?.message))) {
    return new HttpError(400, 'invalid_multipart', `malformed multipart body: ${(err as Error).message}`);
  }
  return err;
}

function checkFields(ctx: GatewayContext, fields: Partial<Record<FieldName, string>>): { tier: string; uri: string | null; metadata: Record<string, unknown> } {
  const tier = fields.tier ?? ctx.cfg.tierDefault;
  if (!ctx.cfg.tiers.includes(tier)) throw new HttpError(400, 'invalid_request', `tier must be one of ${ctx.cfg.tiers.join(', ')}`);
  const uri = fields.uri ?? null;
  if (uri !== null && (uri.length === 0 || uri.length > 2048)) throw new HttpError(400, 'invalid_request', 'uri must be 1..2048 characters');
  let metadata: Record<string, unknown> = {};
  if (fields.metadata !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fields.metadata);
    } catch {
      throw new HttpError(400, 'invalid_request', 'metadata is not valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, 'invalid_request', 'metadata must be a JSON object');
    metadata = parsed as Record<string, unknown>;
  }
  return { tier, uri, metadata };
}

/** Counts a refusal by a quota (percolate_rate_limited_total{kind="quota_<name>"}) and writes its audit line. */
function noteQuotaRefusal(ctx: GatewayContext, req: FastifyRequest, err: RemError): void {
  const d = err.details as { quota: string; limit: number; usage: number };
  ctx.metrics.access.rateLimited.inc({ kind: `quota_${d.quota}` });
  audit(req.log, 'quota_exceeded', { tenant: req.tenant, sub: req.auth?.sub, route: req.routeOptions.url, quota: d.quota, limit: d.limit, usage: d.usage });
}

async function storeFile(ctx: GatewayContext, req: FastifyRequest, part: MultipartFile, ticket: UploadTicket, jobId: string): Promise<StoredFile> {
  const inspect = new InspectStream(part.filename, ctx.cfg.uploadBytesMax);
  const key = uploadKey(ticket.tenant, jobId, part.filename);
  part.file.on('error', (err) => inspect.destroy(err));
  // the day's bytes, counted as they arrive: crossing the quota fails the stream, which aborts the S3 upload
  const meter = (chunk: Buffer) => {
    const refused = ticket.addBytes(chunk.length);
    if (refused && !inspect.destroyed) {
      noteQuotaRefusal(ctx, req, refused);
      inspect.destroy(refused);
    }
  };
  part.file.on('data', meter);
  part.file.pipe(inspect);
  try {
    await putStream(ctx.s3, ctx.cfg.s3.bucket, key, inspect, {
      partBytes: ctx.cfg.uploadPartBytes,
      queueSize: ctx.cfg.uploadQueueSize,
      metadata: { tenant: ticket.tenant, job_id: jobId },
    });
  } catch (err) {
    // read and discard the rest of the file so the request ends and the answer reaches the client
    part.file.off('data', meter);
    part.file.unpipe(inspect);
    part.file.resume();
    throw err;
  }
  part.file.off('data', meter);
  return { key, filename: key.slice(key.lastIndexOf('/') + 1), inspect };
}

async function readUpload(ctx: GatewayContext, req: FastifyRequest, ticket: UploadTicket, jobId: string) {
  const fields: Partial<Record<FieldName, string>> = {};
  let stored: StoredFile | undefined;
  const parts = req.parts({
    limits: { fileSize: ctx.cfg.uploadBytesMax + 1, files: 1, fields: FIELDS.length, parts: FIELDS.length + 1, fieldSize: ctx.cfg.fieldBytesMax },
  });
  try {
    for await (const part of parts as AsyncIterableIterator<Multipart>) {
      if (part.type === 'field') {
        if (!(FIELDS as readonly string[]).includes(part.fieldname)) {
          throw new HttpError(400, 'invalid_request', `unknown form field '${part.fieldname}' (expected file, ${FIELDS.join(', ')})`);
        }
        if (part.valueTruncated) throw new HttpError(400, 'invalid_request', `${part.fieldname} is longer than ${ctx.cfg.fieldBytesMax} bytes`);
        fields[part.fieldname as FieldName] = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
        // fields sent before the file are checked before a byte is stored
        if (!stored) checkFields(ctx, fields);
        continue;
      }
      if (part.fieldname !== 'file') {
        part.file.resume();
        throw new HttpError(400, 'invalid_request', `the file must be sent in the form field 'file', not '${part.fieldname}'`);
      }
      stored = await storeFile(ctx, req, part, ticket, jobId);
    }
    if (!stored) throw new HttpError(400, 'missing_file', "no file: send it in the multipart form field 'file'");
    return { stored, ...checkFields(ctx, fields) };
  } catch (err) {
    if (stored) await deleteObject(ctx.s3, ctx.cfg.s3.bucket, stored.key).catch((e) => req.log.warn({ err: e }, 'could not delete a rejected upload'));
    throw toUploadError(err);
  }
}

/** The `outcome` label of percolate_uploads_total for an upload that was not stored. */
function uploadOutcome(err: unknown): string {
  if (err instanceof RemError && err.code === 'quota_exceeded') return 'over_quota';
  if (!(err instanceof HttpError)) return 'failed';
  if (err.code === 'payload_too_large') return 'too_large';
  if (err.code === 'empty_file') return 'empty';
  return err.statusCode === 415 ? 'unsupported' : 'invalid';
}

/** The upload's answer: the job queued for the stored file, and where to follow it. */
export const uploadAccepted = Type.Object(
  { job_id: Type.String(), status_url: Type.String({ description: 'GET it for the status: /jobs/{job_id}' }) },
  { additionalProperties: false, description: 'stored; its ingestion job is queued' },
);

export type UploadAccepted = Static<typeof uploadAccepted>;

export default async function uploadRoutes(scope: FastifyInstance, { ctx }: GatewayRouteOptions): Promise<void> {
  // the body is a multipart stream read by the handler (no body schema); the headers and the answer are typed
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  let inFlight = 0;
  app.post(
    '/upload',
    {
      schema: {
        summary: 'Upload a file (multipart field `file`; optional `uri`, `tier`, `metadata` JSON) and queue its ingestion',
        consumes: ['multipart/form-data'],
        headers: Type.Object({ 'x-tenant-id': Type.Optional(Type.String({ maxLength: 256 })) }),
        response: { 202: uploadAccepted },
      },
      // storing a file and queueing a job is a write
      config: { scope: 'rw' },
    },
    async (req, reply) => {
      if (!req.isMultipart()) throw new HttpError(415, 'unsupported_media_type', "POST /upload takes multipart/form-data with the file in field 'file'");
      if (inFlight >= ctx.cfg.uploadsConcurrentMax) throw new HttpError(503, 'too_many_uploads', 'too many uploads in progress; retry later');
      // the tenant's quotas, before a byte is read: its uploads in progress, and the day's bytes already used
      let ticket: UploadTicket;
      try {
        ticket = ctx.quotas.admit(req.tenant);
      } catch (err) {
        if (err instanceof RemError) {
          noteQuotaRefusal(ctx, req, err);
          ctx.metrics.uploads.inc({ outcome: 'over_quota' });
        }
        throw err;
      }
      // the ticket is held until the job is queued; an upload that is not (refused, failed) gives its bytes back
      let queued = false;
      try {
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        const jobId = randomUUID();
        inFlight++;
        ctx.metrics.uploadsInFlight.inc();
        let upload;
        try {
          upload = await readUpload(ctx, req, ticket, jobId);
        } catch (err) {
          const outcome = uploadOutcome(err);
          ctx.metrics.uploads.inc({ outcome });
          ctx.metrics.uploadDuration.observe({ outcome }, seconds());
          throw err;
        } finally {
          inFlight--;
          ctx.metrics.uploadsInFlight.dec();
        }
        const { stored, tier, uri, metadata } = upload;
        const kind = stored.inspect.kind!;
        const msg: JobMessage = {
          job_id: jobId,
          tenant: req.tenant,
          tier,
          file: {
            bucket: ctx.cfg.s3.bucket,
            key: stored.key,
            uri: objectUri(ctx.cfg.s3.bucket, stored.key),
            filename: stored.filename,
            kind,
            size_bytes: stored.inspect.bytes,
            sha256: stored.inspect.sha256,
          },
          source_uri: uri,
          metadata,
          created_at: new Date().toISOString(),
        };
        try {
          // state first, so a worker that picks the job up at once finds it. The file is stored already: a NATS
          // server lost (its streams elect new leaders in seconds) is waited out rather than failing the upload, which
          // would make the client send the whole file again; the publish is idempotent (Nats-Msg-Id = job id)
          const state = initialJobState(msg);
          await retry(() => ctx.jobs.create(state), QUEUE_RETRY);
          await retry(() => ctx.js.publish(jobSubject(tier), JSON.stringify(msg), { msgID: jobId }), QUEUE_RETRY);
        } catch (err) {
          req.log.error({ err, job_id: jobId }, 'could not queue the job');
          await ctx.jobs.update(req.tenant, jobId, (s) => ({ ...s, status: 'failed', error: 'the job could not be queued' })).catch(() => undefined);
          await deleteObject(ctx.s3, ctx.cfg.s3.bucket, stored.key).catch(() => undefined);
          ctx.metrics.uploads.inc({ outcome: 'failed' });
          throw new HttpError(503, 'queue_unavailable', 'the job queue is unavailable; retry the upload');
        }
        queued = true;
        ctx.metrics.uploads.inc({ outcome: 'accepted' });
        ctx.metrics.uploadBytes.inc({ kind }, stored.inspect.bytes);
        ctx.metrics.uploadDuration.observe({ outcome: 'accepted' }, seconds());
        ctx.metrics.jobsQueued.inc({ tier });
        req.log.info({ tenant: req.tenant, job_id: jobId, kind, size_bytes: stored.inspect.bytes, tier }, 'upload stored, job queued');
        return reply.code(202).send({ job_id: jobId, status_url: `/jobs/${jobId}` });
      } finally {
        ticket.release(queued);
      }
    },
  );
}
