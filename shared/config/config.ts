// Typed configuration read from environment variables, with documented defaults and bounds.
// Every limit the node enforces (bodies, batches, open stores, traversal) comes from here.
import path from 'node:path';

export interface NodeConfig {
  host: string;
  port: number;
  dataDir: string;
  tier: string;
  nodeId: string;
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
  /** Index mutations after which the vector index is checkpointed to disk (bounds replay on open). */
  vectorCheckpointOps: number;
  /** fsync every LevelDB write batch (survives power loss, not only process kill). */
  syncWrites: boolean;
  /** Embedder: `hash` (offline, lexical) or `transformers:<model-id>` with a local model directory. */
  embedder: string;
  modelDir: string;
}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got '${raw}'`);
  }
  return n;
}

function boolFrom(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got '${raw}'`);
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const dataDir = path.resolve(env.PERCOLATE_DATA_DIR || './data');
  const tier = env.PERCOLATE_TIER || 'small';
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(tier)) throw new ConfigError(`PERCOLATE_TIER must match [a-z0-9-]{1,32}, got '${tier}'`);
  return {
    host: env.HOST || '127.0.0.1',
    port: intFrom(env, 'PORT', 8080, 0, 65535),
    dataDir,
    tier,
    nodeId: env.PERCOLATE_NODE_ID || 'node-1',
    logLevel: env.LOG_LEVEL || 'info',
    bodySizeBytesMax: intFrom(env, 'PERCOLATE_BODY_BYTES_MAX', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    batchSizeMax: intFrom(env, 'PERCOLATE_BATCH_MAX', 1000, 1, 100_000),
    tenantsOpenMax: intFrom(env, 'PERCOLATE_TENANTS_OPEN_MAX', 64, 1, 100_000),
    searchLimitMax: intFrom(env, 'PERCOLATE_SEARCH_LIMIT_MAX', 1000, 1, 100_000),
    traversalNodesMax: intFrom(env, 'PERCOLATE_TRAVERSAL_NODES_MAX', 10_000, 1, 1_000_000),
    contentCharsMax: intFrom(env, 'PERCOLATE_CONTENT_CHARS_MAX', 1_000_000, 1, 100_000_000),
    hnswM: intFrom(env, 'PERCOLATE_HNSW_M', 16, 4, 128),
    hnswEfConstruction: intFrom(env, 'PERCOLATE_HNSW_EF_CONSTRUCTION', 200, 10, 2000),
    hnswEfSearch: intFrom(env, 'PERCOLATE_HNSW_EF_SEARCH', 64, 10, 5000),
    vectorCheckpointOps: intFrom(env, 'PERCOLATE_VECTOR_CHECKPOINT_OPS', 50_000, 1, 100_000_000),
    syncWrites: boolFrom(env, 'PERCOLATE_SYNC_WRITES', false),
    embedder: env.PERCOLATE_EMBEDDER || 'hash',
    modelDir: path.resolve(env.PERCOLATE_MODEL_DIR || path.join(dataDir, 'models')),
  };
}
