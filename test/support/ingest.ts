// The ingest stack for tests: a real nats-server, a real S3 server (s3rver), a real database node, the gateway
// (in-process, listening on a free port) and optionally a worker in-process; child-process variants are started
// by the tests that need them (SIGKILL, RSS) with `stack.env`. The gateway and the workers share the node's data
// directory (as on one machine, where they find its local key). Auth is off on all three unless a test asks for it
// (`nodeEnv` / `env` with PERCOLATE_AUTH=required); requests then carry `token`.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { buildGateway } from '../../services/gateway/app.js';
import { IngestWorker, type DeadLetter } from '../../services/worker/worker.js';
import { DLQ_STREAM } from '../../shared/bus/names.js';
import { loadGatewayConfig, loadWorkerConfig } from '../../shared/config/ingest-config.js';
import type { JobState } from '../../shared/jobs/types.js';
import { startNode, type TestNode } from './api.js';
import { startNats, type NatsServer } from './nats.js';
import { startS3, type TestS3 } from './s3.js';
import { waitFor } from './wait.js';

export interface UploadFile {
  name: string;
  data: Uint8Array | string;
}

export interface IngestStack {
  nats: NatsServer & { cleanup(): Promise<void> };
  s3: TestS3;
  node: TestNode;
  gatewayUrl: string;
  /** Environment that points a gateway or worker (child process) at this stack. */
  env: Record<string, string>;
  worker: IngestWorker | undefined;
  upload(tenant: string | null, file: UploadFile | null, fields?: Record<string, string>, token?: string): Promise<{ status: number; body: any; headers: Headers }>;
  job(tenant: string, id: string, token?: string): Promise<{ status: number; body: any; headers: Headers }>;
  /** Polls GET /jobs/:id until the job is completed or failed. */
  waitJob(tenant: string, id: string, timeoutMs?: number, token?: string): Promise<JobState>;
  startWorker(env?: Record<string, string>): Promise<IngestWorker>;
  /** Every message on the dead-letter stream, with its subject. */
  deadLetters(): Promise<{ subject: string; letter: DeadLetter }[]>;
  close(): Promise<void>;
}

export interface IngestStackOptions {
  /** Extra environment for the gateway and workers (bounds: ack wait, max deliver, chunk size, ...). */
  env?: Record<string, string>;
  /** Extra environment for the database node (PERCOLATE_AUTH=required, ...). */
  nodeEnv?: Record<string, string>;
  /** Start an in-process worker (default true). */
  worker?: boolean;
}

async function json(res: Response): Promise<{ status: number; body: any; headers: Headers }> {
  const text = await res.text();
  try {
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  } catch {
    return { status: res.status, body: text, headers: res.headers };
  }
}

const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

export async function startIngestStack(opts: IngestStackOptions = {}): Promise<IngestStack> {
  const [nats, s3, node] = await Promise.all([startNats(), startS3(), startNode(opts.nodeEnv)]);
  const env: Record<string, string> = {
    PERCOLATE_AUTH: 'off',
    PERCOLATE_DATA_DIR: node.dataDir,
    ...s3.env,
    PERCOLATE_NATS_URL: nats.url,
    PERCOLATE_API_URL: node.url,
    PERCOLATE_JOB_RETRY_DELAY_MS: '200',
    ...opts.env,
  };
  let gateway: FastifyInstance | undefined;
  const workers: IngestWorker[] = [];
  const stack: IngestStack = {
    nats,
    s3,
    node,
    gatewayUrl: '',
    env,
    worker: undefined,
    async upload(tenant, file, fields = {}, token) {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      if (file) form.append('file', new Blob([typeof file.data === 'string' ? file.data : Buffer.from(file.data)]), file.name);
      const headers: Record<string, string> = { ...(tenant === null ? {} : { 'x-tenant-id': tenant }), ...bearer(token) };
      return json(await fetch(`${stack.gatewayUrl}/upload`, { method: 'POST', body: form, headers }));
    },
    async job(tenant, id, token) {
      return json(await fetch(`${stack.gatewayUrl}/jobs/${id}`, { headers: { 'x-tenant-id': tenant, ...bearer(token) } }));
    },
    async waitJob(tenant, id, timeoutMs = 30_000, token) {
      return waitFor(
        `job ${id} to finish`,
        async () => {
          const r = await stack.job(tenant, id, token);
          if (r.status === 200 && (r.body.status === 'completed' || r.body.status === 'failed')) return r.body as JobState;
          throw new Error(`last state ${JSON.stringify(r.body)}`);
        },
        timeoutMs,
      );
    },
    async startWorker(extra = {}) {
      const w = await IngestWorker.start(loadWorkerConfig({ ...env, ...extra, PERCOLATE_WORKER_PORT: '0' }));
      workers.push(w);
      return w;
    },
    async deadLetters() {
      const nc = await connect({ servers: nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info(DLQ_STREAM).catch(() => undefined);
        const out: { subject: string; letter: DeadLetter }[] = [];
        if (!info || info.state.messages === 0) return out;
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
          const m = await jsm.streams.getMessage(DLQ_STREAM, { seq }).catch(() => null);
          if (m) out.push({ subject: m.subject, letter: m.json<DeadLetter>() });
        }
        return out;
      } finally {
        await nc.close();
      }
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop(2_000)));
      await gateway?.close();
      await Promise.all([node.close(), s3.cleanup(), nats.cleanup()]);
    },
  };
  try {
    gateway = await buildGateway(loadGatewayConfig({ ...env, PERCOLATE_GATEWAY_PORT: '0' }), { logger: false, defaultMetrics: false });
    await gateway.listen({ host: '127.0.0.1', port: 0 });
    const addr = gateway.server.address();
    if (!addr || typeof addr !== 'object') throw new Error('gateway has no address');
    stack.gatewayUrl = `http://127.0.0.1:${addr.port}`;
    if (opts.worker !== false) stack.worker = await stack.startWorker();
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}
