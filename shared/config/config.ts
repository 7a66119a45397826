// Typed configuration read from environment variables, with documented defaults and bounds.
// Every limit the node enforces (bodies, batches, open stores, traversal) comes from here.
import path from 'node:path';
import { loadAuthConfig, loadCorsConfig, loadRateLimitConfig, type AuthConfig, type CorsConfig } from './auth-config.js';
import { boolFrom, ConfigError, intFrom } from './env.js';
import { httpLimitsFrom, type HttpLimitDefaults, type HttpLimits } from './http-config.js';
import { loadLifecycleConfig, type LifecycleConfig } from './lifecycle-config.js';
import { loadChatConfig, loadQueryConfig, type ChatConfig, type QueryConfig } from './query-config.js';

/**
 * Committed vectors a kind's index holds for deferred graph insertion by default: an exact scan of 4096 384-dim
 * vectors costs about 1-2 ms per search, the most a query should pay while the graph catches up with a burst.
 */
export const VECTOR_PENDING_MAX_DEFAULT = 4096;

export interface NodeConfig {
  host: string;
  port: number;
  dataDir: string;
  tier: string;
  nodeId: string;
  /** The zone this node runs in (answers carry it in X-Served-Zone; empty: not said). */
  zone: string;
  logLevel: string;
  /** Maximum HTTP request body size in bytes; larger bodies get 413. */
  bodySizeBytesMax: number;
  /** Maximum records per batch write (resources, entities, moments). */
  batchSizeMax: number;
  /** Maximum tenant stores open at once; least recently used ones are closed past this. */
  tenantsOpenMax: number;
  /** Maximum `limit` for a search or listing. */
  searchLimitMax: number;
  /** Maximum nodes a graph traversal may visit. */
  traversalNodesMax: number;
  /** Maximum characters of `content` / `summary` accepted per record. */
  contentCharsMax: number;
  /** HNSW parameters for new indexes. */
  hnswM: number;
  hnswEfConstruction: number;
  hnswEfSearch: number;
  /** Committed vectors per index awaiting graph insertion (searched exactly meanwhile); 0 inserts synchronously. */
  vectorPendingMax: number;
  /**
   * `on_demand`: a tenant's HNSW graphs are built once it is searched here and at low priority before, so writes
   * and replicated ops commit without HNSW work; `eager`: every node inserts as vectors commit.
   */
  vectorGraph: 'on_demand' | 'eager';
  /**
   * `on_demand`: a tenant's keyword postings are written once it is keyword-searched here and at low priority before
   * (writes and replicated ops commit the record and a log entry, no postings); `eager`: every commit writes them.
   */
  keywordIndex: 'on_demand' | 'eager';
  /** Share of one core (%) the low-priority graph drain of tenants not served here may take while the node is idle. */
  vectorDrainCpuPercent: number;
  /** Index mutations after which the vector index is checkpointed to disk (bounds replay on open). */
  vectorCheckpointOps: number;
  /** Bytes of record JSON each open tenant keeps in memory for fast reads. */
  recordCacheBytes: number;
  /** fsync every LevelDB write batch (survives power loss, not only process kill). */
  syncWrites: boolean;
  /** Embedder: `hash` (offline, lexical) or `transformers:<model-id>` with a local model directory. */
  embedder: string;
  modelDir: string;
  /** NATS servers (comma-separated); empty = standalone, no replication. */
  natsUrl: string;
  /** Replication stream retention and replica count. */
  syncMaxAgeMs: number;
  syncReplicas: number;
  /** Replicated ops delivered but not yet acknowledged, at most (consumer max_ack_pending). */
  syncInflightMax: number;
  /** Deliveries of one replicated op before it is given up (and counted as an apply error). */
  syncMaxDeliver: number;
  /** Redelivery delay for ops delivered but not acknowledged (consumer ack_wait). */
  syncAckWaitMs: number;
  /** Outbox entries published per round. */
  outboxBatchMax: number;
  outboxMemoryBytesMax: number;
  /** Largest replicated op in bytes; larger writes are split (NATS max_payload is 1 MiB by default). */
  opBytesMax: number;
  /**
   * How far ahead of this node's wall clock a replicated timestamp may be: an op beyond it is refused (a poisoned
   * or badly skewed clock must not drag the node-wide HLC into the future, where every later write would lose LWW).
   */
  hlcMaxDriftMs: number;
  /** Largest answer a read route builds; a listing, search, query or traversal stops early (`truncated`) past it. */
  responseBytesMax: number;
  /** Edges a traversal may return (dense graphs: the edge list grows much faster than the node list). */
  traversalEdgesMax: number;
  /** Deepest nesting of a JSON body (objects and arrays); deeper bodies are refused before they are parsed. */
  jsonDepthMax: number;
  /** Items an array under a schema's `uniqueItems` may hold (the check is quadratic in the worst case). */
  schemaUniqueItemsMax: number;
  /** HNSW graph objects kept for reuse after a tenant closes (their native memory is freed only when reused). */
  vectorIndexPoolMax: number;
  /** Connection and request time limits of the HTTP server. */
  http: HttpLimits;
  /** Tokens, keys, scopes. */
  auth: AuthConfig;
  cors: CorsConfig;
  /** Requests per tenant per window on this node, reads and writes counted apart (429 rate_limited beyond). */
  rateLimit: { readsMax: number; writesMax: number; windowMs: number };
  /** Per-tenant quotas on this node (429 quota_exceeded beyond; nothing of a refused write is written). */
  quotas: { recordsMax: number; diskBytesMax: number };
  /** Bounds of the REM query dialect. */
  query: QueryConfig;
  /** Chat: context budget and language-model provider. */
  chat: ChatConfig;
  /** Tenant presence budgets, idle ages, the retention score and snapshots in object storage. */
  lifecycle: LifecycleConfig;
  /** Longest drain before the node stops (preStop, SIGTERM): outboxes published, hot tenants snapshotted. */
  drainTimeoutMs: number;
}

/**
 * The database node's HTTP limits: requests are small and quick, so a request must arrive within 30 s, and a socket
 * that sends nothing for 20 s is closed.
 */
export const API_HTTP_DEFAULTS: HttpLimitDefaults = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  connectionTimeoutMs: 20_000,
  keepAliveTimeoutMs: 10_000,
  connectionsMax: 4096,
};

/** Node ids appear in HLC timestamps and consumer names: letters, digits, _ and - only. */
function nodeIdFrom(raw: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw)) throw new ConfigError(`PERCOLATE_NODE_ID must match [A-Za-z0-9_-]{1,64}, got '${raw}'`);
  return raw;
}

/** Zones are labels (topology.kubernetes.io/zone values): letters, digits, . _ - only. */
function zoneFrom(raw: string): string {
  if (raw !== '' && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(raw)) throw new ConfigError(`PERCOLATE_ZONE must match [A-Za-z0-9._-]{1,63}, got '${raw}'`);
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const dataDir = path.resolve(env.PERCOLATE_DATA_DIR || './data');
  const tier = env.PERCOLATE_TIER || 'small';
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(tier)) throw new ConfigError(`PERCOLATE_TIER must match [a-z0-9-]{1,32}, got '${tier}'`);
  const natsUrl = env.PERCOLATE_NATS_URL ?? '';
  const syncMaxAgeMs = intFrom(env, 'PERCOLATE_SYNC_MAX_AGE_S', 7 * 24 * 3600, 60, 10 * 365 * 24 * 3600) * 1000;
  return {
    host: env.HOST || '127.0.0.1',
    port: intFrom(env, 'PORT', 8080, 0, 65535),
    dataDir,
    tier,
    nodeId: nodeIdFrom(env.PERCOLATE_NODE_ID || 'node-1'),
    zone: zoneFrom(env.PERCOLATE_ZONE ?? ''),
    logLevel: env.LOG_LEVEL || 'info',
    bodySizeBytesMax: intFrom(env, 'PERCOLATE_BODY_BYTES_MAX', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    batchSizeMax: intFrom(env, 'PERCOLATE_BATCH_MAX', 1000, 1, 100_000),
    tenantsOpenMax: intFrom(env, 'PERCOLATE_TENANTS_OPEN_MAX', 64, 1, 100_000),
    searchLimitMax: intFrom(env, 'PERCOLATE_SEARCH_LIMIT_MAX', 1000, 1, 100_000),
    traversalNodesMax: intFrom(env, 'PERCOLATE_TRAVERSAL_NODES_MAX', 10_000, 1, 1_000_000),
    contentCharsMax: intFrom(env, 'PERCOLATE_CONTENT_CHARS_MAX', 1_000_000, 1, 100_000_000),
    hnswM: intFrom(env, 'PERCOLATE_HNSW_M', 16, 4, 128),
    hnswEfConstruction: intFrom(env, 'PERCOLATE_HNSW_EF_CONSTRUCTION', 100, 10, 2000),
    hnswEfSearch: intFrom(env, 'PERCOLATE_HNSW_EF_SEARCH', 64, 10, 5000),
    vectorPendingMax: intFrom(env, 'PERCOLATE_VECTOR_PENDING_MAX', VECTOR_PENDING_MAX_DEFAULT, 0, 1_000_000),
    vectorGraph: onDemandOrEager('PERCOLATE_VECTOR_GRAPH', env.PERCOLATE_VECTOR_GRAPH || 'on_demand'),
    keywordIndex: onDemandOrEager('PERCOLATE_KEYWORD_INDEX', env.PERCOLATE_KEYWORD_INDEX || 'on_demand'),
    vectorDrainCpuPercent: intFrom(env, 'PERCOLATE_VECTOR_DRAIN_CPU_PERCENT', 50, 1, 100),
    vectorCheckpointOps: intFrom(env, 'PERCOLATE_VECTOR_CHECKPOINT_OPS', 50_000, 1, 100_000_000),
    syncWrites: boolFrom(env, 'PERCOLATE_SYNC_WRITES', false),
    recordCacheBytes: intFrom(env, 'PERCOLATE_RECORD_CACHE_BYTES', 32 * 1024 * 1024, 0, 64 * 1024 * 1024 * 1024),
    embedder: env.PERCOLATE_EMBEDDER || 'hash',
    modelDir: path.resolve(env.PERCOLATE_MODEL_DIR || path.join(dataDir, 'models')),
    natsUrl,
    syncMaxAgeMs,
    syncReplicas: intFrom(env, 'PERCOLATE_SYNC_REPLICAS', 1, 1, 5),
    syncInflightMax: intFrom(env, 'PERCOLATE_SYNC_INFLIGHT_MAX', 1024, 1, 100_000),
    syncMaxDeliver: intFrom(env, 'PERCOLATE_SYNC_MAX_DELIVER', 20, 1, 10_000),
    syncAckWaitMs: intFrom(env, 'PERCOLATE_SYNC_ACK_WAIT_MS', 10_000, 1000, 600_000),
    outboxBatchMax: intFrom(env, 'PERCOLATE_OUTBOX_BATCH_MAX', 256, 1, 10_000),
    outboxMemoryBytesMax: intFrom(env, 'PERCOLATE_OUTBOX_MEMORY_BYTES_MAX', 1024 * 1024, 0, 256 * 1024 * 1024),
    opBytesMax: intFrom(env, 'PERCOLATE_OP_BYTES_MAX', 512 * 1024, 1024, 64 * 1024 * 1024),
    hlcMaxDriftMs: intFrom(env, 'PERCOLATE_HLC_MAX_DRIFT_MS', 60_000, 1000, 7 * 24 * 3600_000),
    responseBytesMax: intFrom(env, 'PERCOLATE_RESPONSE_BYTES_MAX', 16 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
    traversalEdgesMax: intFrom(env, 'PERCOLATE_TRAVERSAL_EDGES_MAX', 50_000, 1, 10_000_000),
    jsonDepthMax: intFrom(env, 'PERCOLATE_JSON_DEPTH_MAX', 64, 2, 1000),
    schemaUniqueItemsMax: intFrom(env, 'PERCOLATE_SCHEMA_UNIQUE_ITEMS_MAX', 1000, 1, 100_000),
    vectorIndexPoolMax: intFrom(env, 'PERCOLATE_VECTOR_INDEX_POOL_MAX', 64, 0, 100_000),
    http: httpLimitsFrom(env, API_HTTP_DEFAULTS),
    auth: loadAuthConfig(env, dataDir),
    cors: loadCorsConfig(env),
    rateLimit: loadRateLimitConfig(env),
    quotas: {
      recordsMax: intFrom(env, 'PERCOLATE_QUOTA_RECORDS_MAX', 10_000_000, 1, Number.MAX_SAFE_INTEGER),
      diskBytesMax: intFrom(env, 'PERCOLATE_QUOTA_DISK_BYTES_MAX', 100 * 2 ** 30, 1, Number.MAX_SAFE_INTEGER),
    },
    query: loadQueryConfig(env),
    chat: loadChatConfig(env),
    lifecycle: loadLifecycleConfig(env, { natsUrl, syncMaxAgeMs }),
    drainTimeoutMs: intFrom(env, 'PERCOLATE_DRAIN_TIMEOUT_MS', 60_000, 0, 3_600_000),
  };
}

function onDemandOrEager(name: string, v: string): 'on_demand' | 'eager' {
  if (v !== 'on_demand' && v !== 'eager') throw new ConfigError(`${name} must be on_demand or eager, got '${v}'`);
  return v;
}
