// Starts a real database node (fastify listening on a free loopback port) over a temporary data directory.
import { waitFor } from './wait.js';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type NodeConfig } from '../../shared/config/config.js';
import { HashEmbedder } from '../../shared/embed/hash-embedder.js';
import type { Embedder } from '../../shared/embed/embedder.js';
import { buildApi } from '../../services/api/app.js';
import { tempDir } from './tmp.js';

export interface CallOptions {
  tenant?: string | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

/** fetch with JSON encoding and the tenant header (`acme` unless given; null sends none). */
export async function callUrl(url: string, method: string, path: string, o: CallOptions = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const tenant = o.tenant === undefined ? 'acme' : o.tenant;
  if (tenant !== null) headers['x-tenant-id'] = tenant;
  let body: string | undefined;
  if (o.rawBody !== undefined) body = o.rawBody;
  else if (o.body !== undefined) body = JSON.stringify(o.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed as any };
}

export interface TestNode {
  app: FastifyInstance;
  url: string;
  cfg: NodeConfig;
  dataDir: string;
  /** fetch against the node with JSON encoding and the tenant header. */
  call(method: string, path: string, opts?: CallOptions): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** Lines each in-process node keeps of its own warnings and errors, for a failure's message (the newest). */
const NODE_LOG_LINES_MAX = 30;
/** The warnings and errors of the in-process nodes that are running, by node id (several nodes may share one). */
const liveNodeLogs = new Set<{ nodeId: string; lines: string[] }>();

/** The newest warnings and errors of every in-process node still running, one paragraph per node. */
export function recentNodeWarnings(): string {
  const out = [...liveNodeLogs].filter((l) => l.lines.length > 0).map((l) => `node ${l.nodeId}: ${l.lines.join(' | ')}`);
  return out.length > 0 ? out.join('; ') : 'none';
}

export async function startNode(env: Record<string, string> = {}, opts: { embedder?: Embedder; dataDir?: string } = {}): Promise<TestNode> {
  const tmp = opts.dataDir ? undefined : await tempDir();
  const dataDir = opts.dataDir ?? tmp!.dir;
  // auth is off unless a test asks for it (the auth tests do; the others test something else)
  const cfg = loadConfig({ PERCOLATE_DATA_DIR: dataDir, PORT: '0', PERCOLATE_AUTH: 'off', ...env });
  // warnings and errors are kept, not printed: a test that fails on replication names what the nodes reported
  const logs = { nodeId: cfg.nodeId, lines: [] as string[] };
  const stream = {
    write(line: string) {
      logs.lines.push(line.trim().slice(0, 600));
      if (logs.lines.length > NODE_LOG_LINES_MAX) logs.lines.shift();
    },
  };
  const app = await buildApi(cfg, { embedder: opts.embedder ?? new HashEmbedder(), logger: { level: 'warn', stream } });
  liveNodeLogs.add(logs);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    app,
    url,
    cfg,
    dataDir,
    call: (method, path, o = {}) => callUrl(url, method, path, o),
    async close() {
      await app.close();
      liveNodeLogs.delete(logs);
      await tmp?.cleanup();
    },
  };
}

/** A node's `call`, or any function that calls a node the same way. */
export type Caller = (method: string, path: string, o?: CallOptions) => Promise<{ status: number; body: any }>;

/** Waits until every node answers the same digest for `tenant` (replicas converged); returns it. */
export async function digestsConverge(callers: Caller[], tenant: string, timeoutMs = 30_000): Promise<string> {
  // what each node answered last, for the timeout's message: counts and hlc_max tell a lost op from a slow one
  let last: { status: number; body: any }[] = [];
  try {
    return await waitFor(
      `digests of ${tenant} to converge`,
      async () => {
        const ds = await Promise.all(callers.map((c) => c('GET', '/api/v1/tenant/digest', { tenant })));
        last = ds;
        if (ds.some((d) => d.status !== 200)) return undefined;
        const set = new Set(ds.map((d) => d.body.digest));
        return set.size === 1 ? (ds[0]!.body.digest as string) : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    const seen = last.map((d, i) => `node ${i}: ${d.status} ${JSON.stringify(d.body)}`).join('; ');
    // and each node's replication counters: ops published, applied by result, refused by reason, still in the outbox
    const counters = await Promise.all(
      callers.map(async (c, i) => {
        const m = await c('GET', '/metrics', { tenant: null }).catch((e: unknown) => ({ status: 0, body: String(e) }));
        const text = typeof m.body === 'string' ? m.body : JSON.stringify(m.body);
        const lines = text.split('\n').filter((l) => /^percolate_replication_(ops_published_total|ops_applied_total|apply_errors_total|consumer_events_total|outbox_depth)/.test(l));
        return `node ${i}: ${lines.join(', ') || `metrics ${m.status}`}`;
      }),
    );
    throw new Error(`${(err as Error).message}; last answers: ${seen}; replication counters: ${counters.join('; ')}; warnings logged: ${recentNodeWarnings()}`);
  }
}
