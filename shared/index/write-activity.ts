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

/** How long a process must have been quiet before low-priority work runs (ms). */
export const IDLE_MS_DEFAULT = 200;

/** How long until the process counts as idle for low-priority work after `idleMs` of quiet (0: it is). */
export function untilIdleMs(idleMs: number, nowMs = performance.now()): number {
  return Math.max(0, idleMs - quietForMs(nowMs));
}

/** Rest after a drain slice that worked `workMs`, so that work is `cpuPercent` of the time (0 at 100 %). */
export function drainRestMs(workMs: number, cpuPercent: number): number {
  const p = Math.min(100, Math.max(1, cpuPercent));
  return (workMs * (100 - p)) / p;
}
