// The job message the gateway publishes and the job state both services keep in the KV bucket.
import type { FileKind } from '../ingest/detect.js';

export type JobStatus = 'queued' | 'processing' | 'completed' | 'failed';
/** Pipeline stages in order; a failed job keeps the stage it failed in. */
export const JOB_STAGES = ['queued', 'download', 'parse', 'chunk', 'extract', 'write', 'done'] as const;
export type JobStage = (typeof JOB_STAGES)[number];

export interface JobFile {
  bucket: string;
  key: string;
  /** `s3://<bucket>/<key>`: the uri of every resource (chunk) made from the file. */
  uri: string;
  filename: string;
  kind: FileKind;
  size_bytes: number;
  sha256: string;
}

/** Published on `percolate.jobs.<tier>` with Nats-Msg-Id = job_id. */
export interface JobMessage {
  job_id: string;
  tenant: string;
  tier: string;
  file: JobFile;
  /** The client's own uri for the document (optional form field), kept as metadata. */
  source_uri: string | null;
  /** The client's metadata (optional JSON form field), copied onto every resource. */
  metadata: Record<string, unknown>;
  created_at: string;
}

export interface JobProgress {
  stage: JobStage;
  chunks_total: number;
  chunks_written: number;
}

export interface JobState {
  job_id: string;
  tenant: string;
  tier: string;
  status: JobStatus;
  progress: JobProgress;
  /** Resources (chunks) and entities written, once completed. */
  resources: number;
  entities: number;
  error: string | null;
  /** Deliveries so far (1 on the first attempt). */
  attempts: number;
  file: JobFile;
  created_at: string;
  updated_at: string;
}

export function initialJobState(msg: JobMessage): JobState {
  return {
    job_id: msg.job_id,
    tenant: msg.tenant,
    tier: msg.tier,
    status: 'queued',
    progress: { stage: 'queued', chunks_total: 0, chunks_written: 0 },
    resources: 0,
    entities: 0,
    error: null,
    attempts: 0,
    file: msg.file,
    created_at: msg.created_at,
    updated_at: msg.created_at,
  };
}

/** Job ids are UUIDs (lowercase); they are KV key parts, so nothing else may pass. */
export const JOB_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
