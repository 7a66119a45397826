// When this process last committed a write batch (any tenant). Background work that yields to writes (building the
// HNSW graphs of tenants nobody searches here) waits until the node has been quiet for a while: a node catching up
// on one tenant's stream must not build another tenant's graph meanwhile.
let lastWriteMs = -Infinity;

/** Notes a committed write batch now (the tenant store calls it after every commit). */
export function noteWriteActivity(nowMs = performance.now()): void {
  lastWriteMs = nowMs;
}

/** Milliseconds since the last committed write batch of the process. */
export function quietForMs(nowMs = performance.now()): number {
  return nowMs - lastWriteMs;
}
