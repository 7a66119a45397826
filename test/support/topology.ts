// The local topology (test-topology/local-topology.ts) for scenario tests: started in a temporary directory on free
// ports with the repository's keda/<tier>/scaledobjects.yaml, auth required (every call carries the worker's token,
// tenant *), and helpers to call HAProxy, a node directly or the gateway, and to read what answered.
import path from 'node:path';
import { Topology, type TopologyOptions } from '../../test-topology/local-topology.js';
import { REPO_ROOT } from './process.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
  servedBy: string | null;
}

export interface TestTopology {
  t: Topology;
  dataDir: string;
  /** A request with the tenant header and the token; `base` defaults to HAProxy. */
  call(method: string, p: string, o?: { tenant?: string; body?: unknown; base?: string; timeoutMs?: number }): Promise<Answer>;
  nodeUrl(name: string): string;
  upload(tenant: string, name: string, text: string): Promise<Answer>;
  /** Waits for a job to finish and returns its final state. */
  job(tenant: string, id: string, timeoutMs?: number): Promise<any>;
  cleanup(): Promise<void>;
}

export async function startTopology(o: Omit<TopologyOptions, 'dataDir'>): Promise<TestTopology> {
  const tmp = await tempDir('percolate-topology-');
  const lines: string[] = [];
  const t = new Topology({
    port: 0,
    gatewayPort: 0,
    kedaDir: path.join(REPO_ROOT, 'keda'),
    ...o,
    dataDir: tmp.dir,
    env: { LOG_LEVEL: 'warn', ...(o.env ?? {}) },
    log: (l) => {
      lines.push(l);
      if (process.env.TOPOLOGY_VERBOSE) console.log(`topology: ${l}`);
    },
  });
  try {
    await t.start();
  } catch (err) {
    await t.stop();
    await tmp.cleanup();
    throw new Error(`${(err as Error).message}\n${lines.join('\n')}`);
  }
  const token = t.auth.workerEnv.PERCOLATE_API_TOKEN;
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const call: TestTopology['call'] = async (method, p, c = {}) => {
    const headers: Record<string, string> = { ...auth };
    if (c.tenant) headers['x-tenant-id'] = c.tenant;
    let body: string | undefined;
    if (c.body !== undefined) {
      body = JSON.stringify(c.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch((c.base ?? t.url) + p, { method, headers, body, signal: AbortSignal.timeout(c.timeoutMs ?? 30_000) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* text */
    }
    return { status: res.status, body: parsed, headers: res.headers, servedBy: res.headers.get('x-served-by') };
  };
  return {
    t,
    dataDir: tmp.dir,
    call,
    nodeUrl(name) {
      const m = t.databases.byName(name);
      if (!m) throw new Error(`no node ${name}`);
      return `http://127.0.0.1:${m.port}`;
    },
    async upload(tenant, name, text) {
      const form = new FormData();
      form.append('file', new Blob([text]), name);
      const res = await fetch(`${t.gatewayUrl}/upload`, { method: 'POST', headers: { ...auth, 'x-tenant-id': tenant }, body: form });
      const b = await res.text();
      return { status: res.status, body: b ? JSON.parse(b) : undefined, headers: res.headers, servedBy: null };
    },
    async job(tenant, id, timeoutMs = 60_000) {
      return waitFor(
        `job ${id}`,
        async () => {
          const j = await call('GET', `/jobs/${id}`, { tenant, base: t.gatewayUrl });
          if (j.body?.status === 'completed' || j.body?.status === 'failed') return j.body;
          throw new Error(JSON.stringify(j.body));
        },
        timeoutMs,
        100,
      );
    },
    async cleanup() {
      await t.stop();
      await tmp.cleanup();
    },
  };
}

/** histogram_quantile over the summed buckets of `metric` in Prometheus texts (delta: after minus before). */
export function histogramQuantile(q: number, buckets: Map<number, number>): number {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const b of bounds) {
    const c = buckets.get(b)!;
    if (c >= rank) {
      if (b === Infinity) return prevBound;
      return prevBound + ((b - prevBound) * (rank - prevCount)) / Math.max(1e-9, c - prevCount);
    }
    prevBound = b;
    prevCount = c;
  }
  return prevBound;
}

/** The cumulative buckets of a histogram in a Prometheus text, by upper bound. */
export function histogramBuckets(text: string, metric: string): Map<number, number> {
  const out = new Map<number, number>();
  const re = new RegExp(`^${metric}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    out.set(le, (out.get(le) ?? 0) + Number(m[2]));
  }
  return out;
}
