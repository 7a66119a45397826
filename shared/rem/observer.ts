// What the engine tells its operator: log lines (pino's shape, so fastify's logger fits) and degraded paths taken
// (a vector index rebuilt from the store, an error swallowed to keep serving), each logged and counted once, so a
// failure is never silent. The engine has no HTTP and no metrics registry: the service passes an observer in.

export interface EngineObserver {
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
  /**
   * A degraded path was taken: `event` names it (`vector_index_rebuilt`, `checkpoint_failed`, ...), low-cardinality
   * (it becomes a metric label); details go in `fields`, which the implementation logs.
   */
  degraded(event: string, fields: object, msg: string): void;
}

/** For in-process use without a service (tests, benchmarks): warnings and degraded paths reach stderr. */
export const consoleObserver: EngineObserver = {
  warn: (fields, msg) => console.warn(msg, fields),
  error: (fields, msg) => console.error(msg, fields),
  degraded: (event, fields, msg) => console.warn(`[${event}] ${msg}`, fields),
};
