// The local stack launcher: one code path for `npm start` (one of each service) and `npm run topology` (a NATS
// cluster, database nodes in zones, HAProxy, the gateway, and workers started and stopped by the autoscaler). It
// starts each service as a child process once the ones it needs answer, passes every service the same auth
// (prepareStackAuth: one key file, the worker's own token), and stops everything in reverse order of start.
import fs from 'node:fs';
import path from 'node:path';
import type { StackAuth } from '../cli/auth.js';
import { requireBinary } from '../system-deps.js';
import { natsServerArgs, waitNatsHealthy, type NatsServerSpec } from './nats.js';
import { ManagedProcess, READY_TIMEOUT_MS, type ExitInfo, type OutputMode, type ProcessSpec } from './process.js';

/** s3rver accepts only these credentials; the services of the stack use them for its S3 server. */
export const S3RVER_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' } as const;

export interface StackOptions {
  host: string;
  dataDir: string;
  bucket: string;
  auth: StackAuth;
  output: OutputMode;
  /** Variables every service of ours gets (after the stack's own). */
  env: Record<string, string>;
  /** A process exited without being stopped. */
  onUnexpectedExit(p: ManagedProcess, info: ExitInfo): void;
}

export interface DatabaseSpec {
  name: string;
  port: number;
  dataDir: string;
  /** PERCOLATE_NODE_ID and PERCOLATE_ZONE; unset: the node's defaults (node-1, no zone). */
  nodeId?: string;
  zone?: string;
  env?: Record<string, string>;
}

export interface WorkerSpec {
  name: string;
  port: number;
  env?: Record<string, string>;
}

export class Stack {
  /** Running processes in the order they started (stopped in reverse). */
  private readonly processes: ManagedProcess[] = [];
  private readonly stopController = new AbortController();
  private stopped: Promise<void> | undefined;
  natsServers: NatsServerSpec[] = [];
  s3Endpoint = '';

  constructor(readonly o: StackOptions) {}

  get stopSignal(): AbortSignal {
    return this.stopController.signal;
  }

  get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** The NATS URLs every client gets (all servers: a client fails over to another when one dies). */
  get natsUrl(): string {
    return this.natsServers.map((s) => `nats://${s.host}:${s.port}`).join(',');
  }

  /** What the gateway, the worker and the node need to reach NATS and the S3 server, and the API at `apiUrl`. */
  serviceEnv(apiUrl: string): Record<string, string> {
    return {
      PERCOLATE_NATS_URL: this.natsUrl,
      PERCOLATE_S3_ENDPOINT: this.s3Endpoint,
      PERCOLATE_S3_BUCKET: this.o.bucket,
      ...S3RVER_ENV,
      PERCOLATE_API_URL: apiUrl,
      ...this.o.env,
      ...this.o.auth.serviceEnv,
    };
  }

  /** Spawns a process and waits until it is ready; a process that fails to get ready is stopped and the error thrown. */
  async run(spec: ProcessSpec, readyTimeoutMs = READY_TIMEOUT_MS): Promise<ManagedProcess> {
    if (this.stopping) throw new Error('the stack is stopping');
    const p = new ManagedProcess(spec, this.o.output, (proc, info) => {
      this.forget(proc);
      if (!this.stopping) this.o.onUnexpectedExit(proc, info);
    });
    this.processes.push(p);
    try {
      await p.waitReady(this.stopSignal, readyTimeoutMs);
    } catch (err) {
      await this.stopProcess(p);
      throw err;
    }
    return p;
  }

  /** Starts the NATS servers (one, or a cluster when `specs` route to each other) and waits until they are healthy. */
  async startNats(specs: (NatsServerSpec & { processName?: string })[], readyTimeoutMs = READY_TIMEOUT_MS): Promise<ManagedProcess[]> {
    const binary = requireBinary('nats-server', 'nats-server');
    this.natsServers = specs;
    const started = await Promise.all(
      specs.map((s) => {
        fs.mkdirSync(s.storeDir, { recursive: true });
        return this.run({ name: s.processName ?? s.name, command: binary, args: natsServerArgs(s), env: {}, ready: `http://${s.host}:${s.monitorPort}/healthz` }, readyTimeoutMs);
      }),
    );
    if (specs.length > 1) {
      await waitNatsHealthy(specs[0]!.host, specs[0]!.monitorPort, { timeoutMs: readyTimeoutMs, needLeader: true, signal: this.stopSignal });
    }
    return started;
  }

  /** The S3 server (scripts/s3-server.ts) with the stack's bucket, data under <data>/s3. */
  async startS3(port: number, name = 's3'): Promise<ManagedProcess> {
    const { host } = this.o;
    this.s3Endpoint = `http://${host}:${port}`;
    return this.run({
      name,
      entry: 'scripts/s3-server.ts',
      env: { PERCOLATE_S3_PORT: String(port), PERCOLATE_S3_DIR: path.join(this.o.dataDir, 's3'), PERCOLATE_S3_BUCKET: this.o.bucket, ...this.o.env },
      ready: `http://${host}:${port}/`,
    });
  }

  /** A database node; it keeps tenant snapshots in the stack's S3 server (cold tenants, restore on any node). */
  async startDatabase(d: DatabaseSpec, apiUrl: string): Promise<ManagedProcess> {
    const env: Record<string, string> = { ...this.serviceEnv(apiUrl), PERCOLATE_DATA_DIR: d.dataDir, PORT: String(d.port), ...(d.env ?? {}) };
    if (d.nodeId) env.PERCOLATE_NODE_ID = d.nodeId;
    if (d.zone) env.PERCOLATE_ZONE = d.zone;
    return this.run({ name: d.name, entry: 'services/api/main.ts', env, ready: `http://${this.o.host}:${d.port}/health/ready` });
  }

  async startGateway(port: number, apiUrl: string, env: Record<string, string> = {}, name = 'gateway'): Promise<ManagedProcess> {
    return this.run({
      name,
      entry: 'services/gateway/main.ts',
      env: { ...this.serviceEnv(apiUrl), PERCOLATE_DATA_DIR: this.o.dataDir, PERCOLATE_GATEWAY_PORT: String(port), ...env },
      ready: `http://${this.o.host}:${port}/health/ready`,
    });
  }

  /** An ingest worker with its own token (PERCOLATE_API_TOKEN) when auth is required. */
  async startWorker(w: WorkerSpec, apiUrl: string): Promise<ManagedProcess> {
    return this.run({
      name: w.name,
      entry: 'services/worker/main.ts',
      env: { ...this.serviceEnv(apiUrl), PERCOLATE_DATA_DIR: this.o.dataDir, PERCOLATE_WORKER_PORT: String(w.port), ...this.o.auth.workerEnv, ...(w.env ?? {}) },
      ready: `http://${this.o.host}:${w.port}/health/ready`,
    });
  }

  /** Stops one process (SIGTERM, SIGKILL past the timeout) and forgets it. */
  async stopProcess(p: ManagedProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitInfo> {
    const info = await p.stop(signal);
    this.forget(p);
    return info;
  }

  /** Stops every process, last started first; idempotent. */
  stopAll(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopController.abort(new Error('the stack is stopping'));
      while (this.processes.length > 0) await this.stopProcess(this.processes[this.processes.length - 1]!);
    })();
    return this.stopped;
  }

  private forget(p: ManagedProcess): void {
    const i = this.processes.indexOf(p);
    if (i >= 0) this.processes.splice(i, 1);
  }
}
