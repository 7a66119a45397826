// What the engine tells its operator: log lines (pino's shape, so fastify's logger fits) and degraded paths taken
// (a vector index rebuilt from the store, an error swallowed to keep serving), each logged and counted once, so a
// failure is never silent. The engine has no HTTP and no metrics registry: the service passes an observer in.

export interface EngineObserver {
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
  /**
   * A degraded path was taken: `event` names it (`vector_index_rebuilt`, `checkpoint_failed`, ...: see
   * DEGRADED_EVENTS), low-cardinality (it becomes a metric label); details go in `fields`, which the implementation
   * logs. Report an occurrence once, where it is handled, and pass errors as their message (no stacks).
   */
  degraded(event: string, fields: object, msg: string): void;
}

/** For in-process use without a service (tests, benchmarks): warnings and degraded paths reach stderr. */
export const consoleObserver: EngineObserver = {
  warn: (fields, msg) => console.warn(msg, flatten(fields)),
  error: (fields, msg) => console.error(msg, flatten(fields)),
  degraded: (event, fields, msg) => (DEGRADED_EVENTS[event] === 'error' ? console.error : console.warn)(`[${event}] ${msg}`, flatten(fields)),
};

/**
 * The degraded events the engine reports, with the level they are logged at: `error` when data or memory is at risk
 * until someone looks (a checkpoint not written, a store not closed, an inconsistency found), `warn` when the engine
 * recovered by itself at some cost (a rebuild). An event not listed is logged as a warning.
 */
export const DEGRADED_EVENTS: Record<string, 'warn' | 'error'> = {
  /** A kind's HNSW graph was rebuilt from the store: its checkpoint was unreadable, stale or missing. */
  vector_index_rebuilt: 'warn',
  /** A vector checkpoint could not be written (the log is kept: the next open replays it). Reported by the store. */
  checkpoint_failed: 'error',
  /** An hnswlib graph object was left unusable by a failed call and is retired (kept, never used again). */
  hnsw_wrapper_retired: 'error',
  /** A keyword index statistic went negative (document frequency, document count): clamped to 0. */
  keyword_index_inconsistent: 'error',
  /** A tenant store failed to open (other than a tenant that does not exist). */
  tenant_open_failed: 'error',
  /** A tenant store failed to close (eviction or shutdown): its LevelDB lock may still be held. */
  tenant_close_failed: 'error',
  /** A demotion (to warm or cold) or an interval snapshot failed: the tenant stays where it was, and is tried again. */
  tenant_demotion_failed: 'warn',
  /** The periodic check of tenant budgets and ages failed as a whole. */
  tenant_sweep_failed: 'error',
  /** A tenant's catalog entry (presence, pin, size) could not be written. */
  tenant_catalog_failed: 'error',
  /** A store that failed to open did not close cleanly either. Reported by the store. */
  store_close_failed: 'error',
  /** The marker of a drained outbox could not be removed at close: the next start opens the tenant to check it. */
  outbox_marker_failed: 'warn',
};

/** The part of a pino (fastify) logger an observer needs. */
export interface ObserverLog {
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/**
 * Errors in `fields` logged as their message: one line per occurrence, no stack (a degraded path is an operational
 * event, not a crash; the stack of a failed fs call says nothing the message does not).
 */
function flatten(fields: object): object {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof Error) (out ??= { ...fields })[k] = v.message;
  }
  return out ?? fields;
}

/**
 * An observer over a service's logger: every degraded event is logged once (at its DEGRADED_EVENTS level, with
 * `event` and its fields) and counted through `count` (the service's `percolate_engine_degraded_total{event}`).
 */
export function loggingObserver(log: ObserverLog, count: (event: string) => void): EngineObserver {
  return {
    warn: (fields, msg) => log.warn(flatten(fields), msg),
    error: (fields, msg) => log.error(flatten(fields), msg),
    degraded: (event, fields, msg) => {
      count(event);
      const line = { event, ...flatten(fields) };
      if (DEGRADED_EVENTS[event] === 'error') log.error(line, msg);
      else log.warn(line, msg);
    },
  };
}
