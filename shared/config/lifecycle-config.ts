// Tenant lifecycle configuration: presence budgets, idle ages, the retention score's weights, snapshots in object
// storage and their schedule. Refuses settings that could lose acknowledged writes (a sync stream that forgets ops
// before the next snapshot would have covered them).
import { ConfigError, intFrom } from './env.js';
import { loadS3Config, type S3Config } from './ingest-config.js';

export interface ScoreWeightsConfig {
  access_1h: number;
  access_24h: number;
  rebuild: number;
  size: number;
  idle_hours: number;
  pinned: number;
}

export interface LifecycleConfig {
  /** Estimated memory of hot tenants at most; 0 = count budget only. */
  hotMemoryBytesMax: number;
  /** Local disk of hot and warm tenants at most (demotes to cold beyond it); 0 = no disk budget. */
  diskBytesMax: number;
  idleWarmMs: number;
  idleColdMs: number;
  /** A tenant with a request within this window counts as active (percolate_active_tenants, which KEDA scales on). */
  activeWindowMs: number;
  snapshotIntervalMs: number;
  sweepIntervalMs: number;
  scoreWeights: ScoreWeightsConfig;
  /** Snapshots kept per tenant in object storage. */
  snapshotsKeep: number;
  /** Longest the stream replay of one restore may take. */
  replayTimeoutMs: number;
  /** Largest snapshot archive a restore downloads and unpacks. */
  restoreBytesMax: number;
  /** Object storage for snapshots; undefined = no snapshots, hence no cold state. */
  snapshots: S3Config | undefined;
}

const WEIGHT_NAMES = ['access_1h', 'access_24h', 'rebuild', 'size', 'idle_hours', 'pinned'] as const;
export const SCORE_WEIGHTS_CONFIG_DEFAULT: ScoreWeightsConfig = { access_1h: 2, access_24h: 1, rebuild: 0.5, size: 0.25, idle_hours: 0.5, pinned: 1000 };

/** `access_1h=2,size=0.5`: the weights named are set, the others keep their defaults. */
export function parseScoreWeights(text: string | undefined): ScoreWeightsConfig {
  const out = { ...SCORE_WEIGHTS_CONFIG_DEFAULT };
  if (!text) return out;
  for (const part of text.split(',')) {
    const m = /^\s*([a-z0-9_]+)\s*=\s*(-?\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m || !(WEIGHT_NAMES as readonly string[]).includes(m[1]!)) {
      throw new ConfigError(`PERCOLATE_TENANT_SCORE_WEIGHTS: '${part.trim()}' is not <name>=<number> with a name of ${WEIGHT_NAMES.join(', ')}`);
    }
    const v = Number(m[2]);
    if (!Number.isFinite(v) || Math.abs(v) > 1e6) throw new ConfigError(`PERCOLATE_TENANT_SCORE_WEIGHTS: ${m[1]} must be a number of at most 1e6`);
    out[m[1] as (typeof WEIGHT_NAMES)[number]] = v;
  }
  return out;
}

/** Snapshots are on when asked (on), off when asked (off), and otherwise when object storage is configured. */
function snapshotsFrom(env: NodeJS.ProcessEnv): S3Config | undefined {
  const mode = env.PERCOLATE_SNAPSHOTS || 'auto';
  if (!['auto', 'on', 'off'].includes(mode)) throw new ConfigError(`PERCOLATE_SNAPSHOTS must be auto, on or off, got '${mode}'`);
  if (mode === 'off') return undefined;
  if (mode === 'auto' && !env.PERCOLATE_S3_BUCKET && !env.PERCOLATE_S3_ENDPOINT) return undefined;
  return loadS3Config(env);
}

export function loadLifecycleConfig(env: NodeJS.ProcessEnv, replication: { natsUrl: string; syncMaxAgeMs: number }): LifecycleConfig {
  const snapshots = snapshotsFrom(env);
  const cfg: LifecycleConfig = {
    hotMemoryBytesMax: intFrom(env, 'PERCOLATE_TENANTS_HOT_MEMORY_BYTES_MAX', 4 * 2 ** 30, 0, Number.MAX_SAFE_INTEGER),
    diskBytesMax: intFrom(env, 'PERCOLATE_TENANTS_DISK_BYTES_MAX', 0, 0, Number.MAX_SAFE_INTEGER),
    idleWarmMs: intFrom(env, 'PERCOLATE_TENANT_IDLE_WARM_S', 900, 0, 365 * 86_400) * 1000,
    idleColdMs: intFrom(env, 'PERCOLATE_TENANT_IDLE_COLD_S', 86_400, 0, 10 * 365 * 86_400) * 1000,
    activeWindowMs: intFrom(env, 'PERCOLATE_ACTIVE_WINDOW_S', 300, 1, 86_400) * 1000,
    snapshotIntervalMs: intFrom(env, 'PERCOLATE_SNAPSHOT_INTERVAL_S', 3600, 0, 30 * 86_400) * 1000,
    sweepIntervalMs: intFrom(env, 'PERCOLATE_TENANT_SWEEP_MS', 10_000, 100, 3_600_000),
    scoreWeights: parseScoreWeights(env.PERCOLATE_TENANT_SCORE_WEIGHTS),
    snapshotsKeep: intFrom(env, 'PERCOLATE_SNAPSHOTS_KEEP', 3, 1, 1000),
    replayTimeoutMs: intFrom(env, 'PERCOLATE_RESTORE_REPLAY_TIMEOUT_MS', 60_000, 1000, 3_600_000),
    restoreBytesMax: intFrom(env, 'PERCOLATE_RESTORE_BYTES_MAX', 64 * 2 ** 30, 1024, Number.MAX_SAFE_INTEGER),
    snapshots,
  };
  // Ops after a tenant's latest snapshot exist only in the sync stream (and on nodes holding the tenant warm). The
  // stream must keep them until the next interval snapshot has covered them, with room for one failed attempt.
  if (snapshots && replication.natsUrl && cfg.snapshotIntervalMs > 0 && replication.syncMaxAgeMs < 2 * cfg.snapshotIntervalMs) {
    throw new ConfigError(
      `PERCOLATE_SYNC_MAX_AGE_S (${replication.syncMaxAgeMs / 1000}) must be at least twice PERCOLATE_SNAPSHOT_INTERVAL_S ` +
        `(${cfg.snapshotIntervalMs / 1000}): the sync stream would forget ops of cold tenants before a snapshot covered them`,
    );
  }
  return cfg;
}
