// Whether this process is writing (any tenant): background work that yields to writes (building the HNSW graphs of
// tenants nobody searches here) waits until no write is in progress and none ended for a while. A node catching up
// on one tenant's stream must not build another tenant's graph meanwhile, and a large replicated batch spends
// hundreds of milliseconds merging before it commits, so a write counts from its start to its commit.
let lastWriteMs = -Infinity;
let inProgress = 0;

/** Runs a write (local or replicated) as activity: from its start until it settled. */
export async function asWriteActivity<T>(write: () => Promise<T>): Promise<T> {
  inProgress++;
  lastWriteMs = performance.now();
  try {
    return await write();
  } finally {
    inProgress--;
    lastWriteMs = performance.now();
  }
}

/** Milliseconds since the process last wrote; 0 while a write is in progress. */
export function quietForMs(nowMs = performance.now()): number {
  return inProgress > 0 ? 0 : nowMs - lastWriteMs;
}
