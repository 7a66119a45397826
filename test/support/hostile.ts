// Support for tests written as a hostile tenant would act: a database node in its own process (so a blocked event
// loop there is visible from here), and a probe that keeps asking the node for liveness and another tenant's search
// while a hostile request runs.
import { callUrl, type CallOptions } from './api.js';
import { spawnService, type ServiceProcess } from './process.js';
import { tempDir } from './tmp.js';

export interface NodeProcess {
  url: string;
  dataDir: string;
  proc: ServiceProcess;
  call(method: string, path: string, opts?: CallOptions): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** Starts services/api/main.ts over a temporary data directory (standalone unless `env` names NATS). */
export async function startNodeProcess(env: Record<string, string> = {}): Promise<NodeProcess> {
  const tmp = await tempDir();
  const proc = await spawnService('services/api/main.ts', { PERCOLATE_DATA_DIR: tmp.dir, PORT: '0', LOG_LEVEL: 'info', ...env });
  return {
    url: proc.url,
    dataDir: tmp.dir,
    proc,
    call: (method, path, o = {}) => callUrl(proc.url, method, path, o),
    async close() {
      await proc.kill('SIGTERM');
      await tmp.cleanup();
    },
  };
}

export interface Responsiveness {
  /** Liveness probes answered while the hostile work ran (at least one). */
  probes: number;
  /** Slowest liveness answer, in ms (a probe that did not answer within `probeTimeoutMs` counts as that). */
  healthMaxMs: number;
  /** Statuses of the other tenant's searches. */
  searchStatuses: number[];
}

/**
 * Runs `work` (the hostile request) and, until it settles, probes `/health/live` and runs a search as `otherTenant`
 * (which must already hold data), one after the other. Probes time out after `probeTimeoutMs`, so a node whose event
 * loop is blocked for minutes fails the check instead of hanging the test.
 */
export async function probeWhile<T>(
  url: string,
  work: () => Promise<T>,
  opts: { otherTenant: string; probeTimeoutMs?: number; minProbes?: number },
): Promise<{ result: T; responsiveness: Responsiveness }> {
  const timeoutMs = opts.probeTimeoutMs ?? 1000;
  let settled = false;
  const running = work().finally(() => {
    settled = true;
  });
  const r: Responsiveness = { probes: 0, healthMaxMs: 0, searchStatuses: [] };
  const minProbes = opts.minProbes ?? 1;
  while (!settled || r.probes < minProbes) {
    const started = performance.now();
    try {
      await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(timeoutMs) });
      r.healthMaxMs = Math.max(r.healthMaxMs, performance.now() - started);
    } catch {
      r.healthMaxMs = Math.max(r.healthMaxMs, timeoutMs);
      r.probes++;
      break; // the node is not answering: no point in probing on
    }
    r.probes++;
    try {
      const res = await fetch(`${url}/api/v1/search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tenant-id': opts.otherTenant },
        body: JSON.stringify({ query: 'quiet neighbour', limit: 3 }),
        signal: AbortSignal.timeout(timeoutMs * 5),
      });
      await res.arrayBuffer();
      r.searchStatuses.push(res.status);
    } catch {
      r.searchStatuses.push(0);
      break;
    }
  }
  return { result: await running, responsiveness: r };
}

/** Seeds `tenant` with a few resources that the probe's search finds. */
export async function seedQuietTenant(url: string, tenant: string): Promise<void> {
  const res = await callUrl(url, 'POST', '/api/v1/resources', {
    tenant,
    body: { resources: [1, 2, 3].map((i) => ({ uri: `quiet://${i}`, content: `a quiet neighbour writes note ${i}` })) },
  });
  if (res.status !== 201) throw new Error(`seeding ${tenant} failed: ${res.status} ${JSON.stringify(res.body)}`);
}
