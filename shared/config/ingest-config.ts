// Typed configuration of the upload gateway and the ingest workers, read from environment variables.
// Every bound they enforce (upload size, parts in flight, chunking, concurrency, redelivery, write batches) comes
// from here; S3 credentials are not read here but by the AWS SDK from its standard variables (AWS_ACCESS_KEY_ID, ...).
// Access control (tokens, keys) is read by loadAuthConfig, with the data directory the database node uses, so that on
// one machine the gateway and the worker find the node's local key.
import path from 'node:path';
import { loadAuthConfig, loadCorsConfig, loadRateLimitConfig, type AuthConfig, type CorsConfig } from './auth-config.js';
import { ConfigError, intFrom, boolFrom } from './env.js';
import { httpLimitsFrom, type HttpLimitDefaults, type HttpLimits } from './http-config.js';

export const TIER_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

export interface S3Config {
  /** S3-compatible endpoint (s3rver, MinIO); undefined means AWS S3 itself. */
  endpoint: string | undefined;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  /** Sign request bodies (SigV4 payload hash) instead of sending them as UNSIGNED-PAYLOAD. */
  signPayload: boolean;
  /** A request whose connection is silent this long fails (and is retried by the SDK): a hung S3 never hangs us. */
  requestTimeoutMs: number;
}

/** What the gateway and the workers must agree on: the bus, the job stream's consumer and the job state bucket. */
export interface JobsConfig {
  natsUrl: string;
  /** Deliveries of one job before it is failed and dead-lettered. */
  maxDeliver: number;
  /** A delivered job not acknowledged (nor kept alive by working()) within this is redelivered. */
  ackWaitMs: number;
  /** Job state entries (and queued jobs) expire after this. */
  jobTtlMs: number;
  /** JetStream replicas of the job stream, the dead-letter stream and the job-state bucket (3 on a NATS cluster). */
  replicas: number;
}

export interface GatewayConfig {
  host: string;
  port: number;
  logLevel: string;
  s3: S3Config;
  jobs: JobsConfig;
  /** Tier used when an upload names none; uploads may name any tier in `tiers`. */
  tierDefault: string;
  tiers: string[];
  /** Largest accepted file (413 above; the multipart upload is aborted). */
  uploadBytesMax: number;
  /** S3 multipart part size and parts in flight: the gateway holds about partBytes * (queueSize + 1) per upload. */
  uploadPartBytes: number;
  uploadQueueSize: number;
  /** Uploads in progress at once (503 above), so memory stays bounded whatever the client count. */
  uploadsConcurrentMax: number;
  /** Largest `metadata` / `uri` form field. */
  fieldBytesMax: number;
  /** Connection and request time limits (upload-friendly: a whole upload may take hours, a stall may not). */
  http: HttpLimits;
  jsonDepthMax: number;
  /** Tokens on /upload (rw) and /jobs/:id (ro); keys from PERCOLATE_AUTH_KEYS_FILE or `<data dir>/keys/jwks.json`. */
  auth: AuthConfig;
  cors: CorsConfig;
  /** Requests per tenant per window on this gateway: job status reads and uploads counted apart (429 rate_limited). */
  rateLimit: { readsMax: number; writesMax: number; windowMs: number };
  /** Per-tenant upload quotas of this gateway process (429 quota_exceeded beyond). */
  quotas: UploadQuotaConfig;
}

export interface UploadQuotaConfig {
  /** Uploads of one tenant in progress at once. */
  uploadsInFlightMax: number;
  /** File bytes one tenant may upload per UTC day (counted as they arrive; a refused upload's bytes are given back). */
  uploadBytesPerDay: number;
  /** Tenants whose daily bytes are remembered at most; the least recently active one is forgotten beyond. */
  tenantsMax: number;
}

/**
 * The gateway's HTTP limits: an upload of gigabytes takes minutes, so the whole request may take up to 6 hours, but a
 * socket that sends nothing for a minute is closed, and headers must arrive within 10 s.
 */
export const GATEWAY_HTTP_DEFAULTS: HttpLimitDefaults = {
  requestTimeoutMs: 6 * 3600_000,
  headersTimeoutMs: 10_000,
  connectionTimeoutMs: 60_000,
  keepAliveTimeoutMs: 10_000,
  connectionsMax: 1024,
};

export interface WorkerConfig {
  host: string;
  port: number;
  logLevel: string;
  s3: S3Config;
  jobs: JobsConfig;
  /** The database API the worker writes results to (header X-Tenant-ID). */
  apiUrl: string;
  /** Tier whose jobs this worker consumes (`percolate.jobs.<tier>`, consumer `workers-<tier>`). */
  tier: string;
  /** Jobs processed at once by this process. */
  concurrency: number;
  /** Delay before a job that failed with a transient error is redelivered. */
  retryDelayMs: number;
  /** Largest object the worker parses (parsers need the whole file in memory); larger fails the job. */
  parseBytesMax: number;
  /** Chunk size and overlap, in characters. */
  chunkChars: number;
  chunkOverlapChars: number;
  /** Records per write request to the database API (the API accepts at most 1000). */
  writeBatchSize: number;
  /** Entities extracted per document at most (most frequent first). */
  entitiesMax: number;
  /** Timeout and attempts of one database API request (connection errors, 429 and 5xx are retried). */
  apiTimeoutMs: number;
  apiAttempts: number;
  /** On SIGTERM, in-flight jobs get this long to finish before they are handed back to the queue. */
  shutdownGraceMs: number;
  /** Whether the node needs tokens, and the keys the worker mints its own token with (and verifies /metrics with). */
  auth: AuthConfig;
  /** A token for the database given to the worker (PERCOLATE_API_TOKEN); undefined: the worker mints its own. */
  apiToken: string | undefined;
}

/** What a bearer token may consist of (RFC 6750 b64token), so a pasted `Bearer ...` or a stray space is refused at start. */
const BEARER_TOKEN = /^[A-Za-z0-9._~+/=-]{1,8192}$/;

/** The data directory of this installation: the database node's, where its local signing key lives. */
function dataDirFrom(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.PERCOLATE_DATA_DIR || './data');
}

function tierFrom(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const tier = env[name] || fallback;
  if (!TIER_PATTERN.test(tier)) throw new ConfigError(`${name} must match ${TIER_PATTERN.source}, got '${tier}'`);
  return tier;
}

/** What every ingest service reads alike: listen address and port, log level, S3, the job bus. */
function serviceBase(env: NodeJS.ProcessEnv, portVar: string, portDefault: number) {
  return {
    host: env.HOST || '127.0.0.1',
    port: intFrom(env, portVar, portDefault, 0, 65535),
    logLevel: env.LOG_LEVEL || 'info',
    s3: loadS3Config(env),
    jobs: loadJobsConfig(env),
  };
}

export function loadS3Config(env: NodeJS.ProcessEnv = process.env): S3Config {
  const bucket = env.PERCOLATE_S3_BUCKET || 'percolate';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError(`PERCOLATE_S3_BUCKET is not a valid bucket name: '${bucket}'`);
  const endpoint = env.PERCOLATE_S3_ENDPOINT || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new ConfigError(`PERCOLATE_S3_ENDPOINT must be an http(s) URL, got '${endpoint}'`);
  }
  return {
    endpoint,
    bucket,
    region: env.PERCOLATE_S3_REGION || env.AWS_REGION || 'us-east-1',
    // S3-compatible servers (s3rver, MinIO) want path-style addressing; AWS accepts it too
    forcePathStyle: boolFrom(env, 'PERCOLATE_S3_FORCE_PATH_STYLE', true),
    signPayload: boolFrom(env, 'PERCOLATE_S3_SIGN_PAYLOAD', false),
    requestTimeoutMs: intFrom(env, 'PERCOLATE_S3_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
  };
}

export function loadJobsConfig(env: NodeJS.ProcessEnv = process.env): JobsConfig {
  return {
    natsUrl: env.PERCOLATE_NATS_URL || 'nats://127.0.0.1:4222',
    maxDeliver: intFrom(env, 'PERCOLATE_JOB_MAX_DELIVER', 3, 1, 100),
    ackWaitMs: intFrom(env, 'PERCOLATE_JOB_ACK_WAIT_MS', 30_000, 500, 3_600_000),
    jobTtlMs: intFrom(env, 'PERCOLATE_JOB_TTL_SECONDS', 7 * 24 * 3600, 60, 365 * 24 * 3600) * 1000,
    replicas: intFrom(env, 'PERCOLATE_JOB_REPLICAS', 1, 1, 5),
  };
}

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const tierDefault = tierFrom(env, 'PERCOLATE_TIER', 'small');
  const tiers = (env.PERCOLATE_JOB_TIERS || `${tierDefault}`)
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of tiers) if (!TIER_PATTERN.test(t)) throw new ConfigError(`PERCOLATE_JOB_TIERS: '${t}' must match ${TIER_PATTERN.source}`);
  if (!tiers.includes(tierDefault)) tiers.unshift(tierDefault);
  const cfg: GatewayConfig = {
    ...serviceBase(env, 'PERCOLATE_GATEWAY_PORT', 8081),
    tierDefault,
    tiers,
    uploadBytesMax: intFrom(env, 'PERCOLATE_UPLOAD_BYTES_MAX', 5 * 2 ** 30, 1, 5 * 2 ** 40),
    uploadPartBytes: intFrom(env, 'PERCOLATE_UPLOAD_PART_BYTES', 8 * 2 ** 20, 5 * 2 ** 20, 512 * 2 ** 20),
    uploadQueueSize: intFrom(env, 'PERCOLATE_UPLOAD_QUEUE_SIZE', 4, 1, 64),
    uploadsConcurrentMax: intFrom(env, 'PERCOLATE_UPLOADS_CONCURRENT_MAX', 16, 1, 10_000),
    // metadata is copied onto every chunk: kept small so a batch of chunks stays well inside the node's body limit
    fieldBytesMax: intFrom(env, 'PERCOLATE_UPLOAD_FIELD_BYTES_MAX', 8 * 1024, 256, 1024 * 1024),
    http: httpLimitsFrom(env, GATEWAY_HTTP_DEFAULTS),
    jsonDepthMax: intFrom(env, 'PERCOLATE_JSON_DEPTH_MAX', 64, 2, 1000),
    auth: loadAuthConfig(env, dataDirFrom(env)),
    cors: loadCorsConfig(env),
    rateLimit: loadRateLimitConfig(env),
    quotas: {
      uploadsInFlightMax: intFrom(env, 'PERCOLATE_QUOTA_UPLOADS_IN_FLIGHT_MAX', 4, 1, 10_000),
      uploadBytesPerDay: intFrom(env, 'PERCOLATE_QUOTA_UPLOAD_BYTES_PER_DAY', 50 * 2 ** 30, 1, Number.MAX_SAFE_INTEGER),
      tenantsMax: 100_000,
    },
  };
  // S3 allows at most 10,000 parts per upload
  if (cfg.uploadBytesMax > cfg.uploadPartBytes * 10_000) {
    throw new ConfigError('PERCOLATE_UPLOAD_BYTES_MAX needs more than 10,000 parts of PERCOLATE_UPLOAD_PART_BYTES');
  }
  return cfg;
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const cfg: WorkerConfig = {
    ...serviceBase(env, 'PERCOLATE_WORKER_PORT', 8082),
    apiUrl: (env.PERCOLATE_API_URL || 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    tier: tierFrom(env, 'PERCOLATE_TIER', 'small'),
    concurrency: intFrom(env, 'PERCOLATE_WORKER_CONCURRENCY', 2, 1, 256),
    retryDelayMs: intFrom(env, 'PERCOLATE_JOB_RETRY_DELAY_MS', 5_000, 0, 3_600_000),
    parseBytesMax: intFrom(env, 'PERCOLATE_PARSE_BYTES_MAX', 256 * 2 ** 20, 1024, 4 * 2 ** 30),
    chunkChars: intFrom(env, 'PERCOLATE_CHUNK_CHARS', 1000, 50, 100_000),
    chunkOverlapChars: intFrom(env, 'PERCOLATE_CHUNK_OVERLAP_CHARS', 150, 0, 50_000),
    writeBatchSize: intFrom(env, 'PERCOLATE_WRITE_BATCH_SIZE', 500, 1, 1000),
    entitiesMax: intFrom(env, 'PERCOLATE_ENTITIES_MAX', 1000, 0, 100_000),
    apiTimeoutMs: intFrom(env, 'PERCOLATE_API_TIMEOUT_MS', 60_000, 100, 3_600_000),
    apiAttempts: intFrom(env, 'PERCOLATE_API_ATTEMPTS', 4, 1, 20),
    shutdownGraceMs: intFrom(env, 'PERCOLATE_WORKER_SHUTDOWN_GRACE_MS', 8_000, 0, 600_000),
    auth: loadAuthConfig(env, dataDirFrom(env)),
    apiToken: env.PERCOLATE_API_TOKEN?.trim() || undefined,
  };
  if (cfg.apiToken !== undefined && !BEARER_TOKEN.test(cfg.apiToken)) {
    // the value itself is never echoed: it is a credential
    throw new ConfigError('PERCOLATE_API_TOKEN must be the token alone (a JWT: letters, digits and ._~+/=-), without "Bearer " or spaces');
  }
  if (!/^https?:\/\/[^\s/]+/.test(cfg.apiUrl)) throw new ConfigError(`PERCOLATE_API_URL must be an http(s) URL, got '${cfg.apiUrl}'`);
  if (cfg.chunkOverlapChars >= cfg.chunkChars / 2) {
    throw new ConfigError('PERCOLATE_CHUNK_OVERLAP_CHARS must be less than half of PERCOLATE_CHUNK_CHARS');
  }
  return cfg;
}
