// The local multi-zone topology (`npm run topology`), built on the stack launcher that `npm start` uses: a
// three-server NATS cluster (JetStream, R3 streams), the S3 server, HAProxy hashing X-Tenant-ID over the database
// nodes (zones a, b, c), the upload gateway, and the autoscaler applying keda/<tier>/scaledobjects.yaml to the real
// JetStream lag, the processes' /metrics and HAProxy's request count, starting and stopping workers and nodes.
import { jetstreamManager, RetentionPolicy, StorageType, jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, nanos } from '@nats-io/transport-node';
import fs from 'node:fs';
import path from 'node:path';
import { DLQ_STREAM, DLQ_SUBJECT_ALL, JOBS_BUCKET, JOBS_STREAM, JOBS_SUBJECT_ALL } from '../shared/bus/names.js';
import { loadJobsConfig } from '../shared/config/ingest-config.js';
import { prepareStackAuth, type StackAuth } from '../scripts/cli/auth.js';
import { freePort } from '../scripts/stack/ports.js';
import { REPO_ROOT, type ManagedProcess, type OutputMode } from '../scripts/stack/process.js';
import { Stack } from '../scripts/stack/stack.js';
import { Autoscaler } from './autoscaler.js';
import { haproxyProcess, HaproxyRuntime, writeHaproxyConfig, BACKEND } from './haproxy.js';
import { MetricSources } from './metric-sources.js';
import { DatabasePool, WorkerPool } from './pools.js';
import { loadScaledObjects, type Component } from './scaled-objects.js';

export interface TopologyOptions {
  dataDir: string;
  host?: string;
  tier?: string;
  zones?: string[];
  /** Database nodes started before the autoscaler takes over (default 3: one per zone). */
  databases?: number;
  /** HAProxy's frontend port (0: a free one). */
  port?: number;
  /** The gateway's port (0: a free one). */
  gatewayPort?: number;
  /** Where keda/<tier>/scaledobjects.yaml is read from (default the repository's keda/). */
  kedaDir?: string;
  /** Multiplies every period of the autoscaler (1: the files' values). */
  timeScale?: number;
  /** Per component: replace the file's pollingInterval / cooldownPeriod (s); `scale: false` evaluates without scaling. */
  autoscale?: Partial<Record<Component, { scale?: boolean; pollingIntervalS?: number; cooldownPeriodS?: number }>>;
  /** PERCOLATE_ACTIVE_WINDOW_S of the nodes (default: theirs, 300). */
  activeWindowS?: number;
  /** Extra variables of every service (PERCOLATE_AUTH=off, LOG_LEVEL, ...); also what prepareStackAuth reads. */
  env?: Record<string, string>;
  output?: OutputMode;
  /** Restart delay of a database node that died; null: it stays down until restarted by hand. */
  crashRestartDelayMs?: number | null;
  log?: (line: string) => void;
}

export class Topology {
  readonly host: string;
  readonly tier: string;
  readonly zones: string[];
  stack!: Stack;
  auth!: StackAuth;
  haproxy!: HaproxyRuntime;
  databases!: DatabasePool;
  workers!: WorkerPool;
  autoscalers!: Record<Component, Autoscaler>;
  nats: { name: string; port: number; monitorPort: number; proc: ManagedProcess }[] = [];
  url = '';
  gatewayUrl = '';
  private gateway: ManagedProcess | undefined;
  private readonly log: (line: string) => void;

  constructor(readonly o: TopologyOptions) {
    this.host = o.host ?? '127.0.0.1';
    this.tier = o.tier ?? 'small';
    this.zones = o.zones ?? ['a', 'b', 'c'];
    this.log = o.log ?? ((l) => console.log(`topology: ${l}`));
  }

  get natsUrl(): string {
    return this.stack.natsUrl;
  }

  async start(): Promise<void> {
    const o = this.o;
    const host = this.host;
    const dataDir = path.resolve(o.dataDir);
    fs.mkdirSync(dataDir, { recursive: true });
    // read before anything starts: a missing or unsupported file stops the topology here
    const scaled = loadScaledObjects(o.kedaDir ?? path.join(REPO_ROOT, 'keda'), this.tier);
    const env = { ...o.env };
    this.auth = await prepareStackAuth({ ...process.env, ...env }, dataDir);
    this.stack = new Stack({
      host,
      dataDir,
      bucket: 'percolate',
      auth: this.auth,
      output: o.output ?? { kind: 'files', dir: path.join(dataDir, 'logs') },
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', PERCOLATE_TIER: this.tier, PERCOLATE_JOB_TIERS: this.tier, ...env },
      onUnexpectedExit: (p, info) => this.onExit(p, info),
    });

    // NATS: three servers routed to each other
    const specs = await Promise.all(
      [1, 2, 3].map(async (i) => ({ name: `nats-${i}`, host, port: await freePort(host), monitorPort: await freePort(host), storeDir: path.join(dataDir, 'nats', `nats-${i}`), clusterPort: await freePort(host) })),
    );
    const procs = await this.stack.startNats(
      specs.map((s) => ({ name: s.name, host, port: s.port, monitorPort: s.monitorPort, storeDir: s.storeDir, cluster: { name: 'percolate-topology', port: s.clusterPort, routes: specs.filter((x) => x !== s).map((x) => x.clusterPort) } })),
    );
    this.nats = specs.map((s, i) => ({ name: s.name, port: s.port, monitorPort: s.monitorPort, proc: procs[i]! }));
    await this.provisionJobStreams({ ...process.env, ...env });
    await this.stack.startS3(await freePort(host));

    const port = o.port || (await freePort(host));
    const files = writeHaproxyConfig(path.join(dataDir, 'haproxy'), { host, port });
    await this.stack.run(haproxyProcess(files, { host, port }));
    this.haproxy = new HaproxyRuntime(files.socket);
    this.url = `http://${host}:${port}`;

    const dbEnv: Record<string, string> = { PERCOLATE_SYNC_REPLICAS: '3', PERCOLATE_SNAPSHOTS: 'on' };
    if (o.activeWindowS !== undefined) dbEnv.PERCOLATE_ACTIVE_WINDOW_S = String(o.activeWindowS);
    this.databases = new DatabasePool({
      stack: this.stack,
      haproxy: this.haproxy,
      host,
      zones: this.zones,
      nodesDir: path.join(dataDir, 'nodes'),
      env: dbEnv,
      apiUrl: this.url,
      crashRestartDelayMs: o.crashRestartDelayMs === undefined ? 2_000 : o.crashRestartDelayMs,
      log: this.log,
    });
    this.databases.scaleTo(o.databases ?? this.zones.length);
    await this.databases.reconcile();

    const gatewayPort = o.gatewayPort || (await freePort(host));
    this.gateway = await this.stack.startGateway(gatewayPort, this.url);
    this.gatewayUrl = `http://${host}:${gatewayPort}`;
    this.workers = new WorkerPool({ stack: this.stack, host, env: {}, apiUrl: this.url, log: this.log });

    const sources = new MetricSources({
      scrapeTargets: () => [...this.databases.up().map((m) => `http://${host}:${m.port}/metrics`), `${this.gatewayUrl}/metrics`],
      counter: async (metric, labels) => {
        // Istio's request count into the database service: in the topology, HAProxy's requests of the db backend
        if (metric !== 'istio_requests_total' || labels.destination_service_name !== `percolate-db-${this.tier}`) return undefined;
        return (await this.haproxy.stats()).backend?.requests ?? 0;
      },
      natsMonitors: () => this.nats.filter((n) => n.proc.running).map((n) => `http://${host}:${n.monitorPort}`),
    });
    const timeScale = o.timeScale ?? 1;
    const make = (c: Component, target: DatabasePool | WorkerPool) =>
      new Autoscaler(scaled[c], sources, target, {
        timeScale,
        apply: o.autoscale?.[c]?.scale !== false,
        ...(o.autoscale?.[c]?.pollingIntervalS !== undefined ? { pollingIntervalS: o.autoscale[c]!.pollingIntervalS } : {}),
        ...(o.autoscale?.[c]?.cooldownPeriodS !== undefined ? { cooldownPeriodS: o.autoscale[c]!.cooldownPeriodS } : {}),
        log: this.log,
      });
    this.autoscalers = { database: make('database', this.databases), worker: make('worker', this.workers) };
    this.autoscalers.database.start();
    this.autoscalers.worker.start();
  }

  /**
   * The job stream, the dead-letter stream and the job-state bucket, created before the gateway with three replicas:
   * the services create them with one (their own definitions, unchanged here otherwise), which would tie jobs to the
   * one NATS server holding them. The gateway and workers find them existing and use them as they are.
   */
  private async provisionJobStreams(env: NodeJS.ProcessEnv): Promise<void> {
    const jobs = loadJobsConfig({ ...env, PERCOLATE_NATS_URL: this.natsUrl });
    const nc = await connect({ servers: this.natsUrl.split(','), name: 'percolate-topology' });
    try {
      const jsm = await jetstreamManager(nc);
      const common = { storage: StorageType.File, max_age: nanos(jobs.jobTtlMs), duplicate_window: nanos(120_000), num_replicas: 3 };
      for (const s of [
        { name: JOBS_STREAM, subjects: [JOBS_SUBJECT_ALL], retention: RetentionPolicy.Workqueue },
        { name: DLQ_STREAM, subjects: [DLQ_SUBJECT_ALL], retention: RetentionPolicy.Limits },
      ]) {
        const exists = await jsm.streams.info(s.name).then(
          () => true,
          () => false,
        );
        if (!exists) await jsm.streams.add({ ...s, ...common });
      }
      await new Kvm(jetstream(nc)).create(JOBS_BUCKET, { history: 1, ttl: jobs.jobTtlMs, replicas: 3 });
    } finally {
      await nc.close();
    }
  }

  private onExit(p: ManagedProcess, info: { code: number | null; signal: NodeJS.Signals | null }): void {
    if (p.name.startsWith('db-')) return this.databases.onExit(p.name, info);
    if (p.name.startsWith('worker-')) return this.workers.onExit(p.name, info);
    // NATS servers may die (a test kills one: the others carry on); anything else is fatal to the topology
    if (p.name.startsWith('nats-')) return this.log(`${p.name} exited (code ${info.code}, signal ${info.signal}); the cluster carries on with the others`);
    this.log(`${p.name} exited (code ${info.code}, signal ${info.signal}); stopping the topology`);
    void this.stop();
  }

  /** SIGKILLs NATS server i (0-based), as a crash would. */
  killNats(i: number): void {
    this.nats[i]!.proc.kill('SIGKILL');
  }

  /** Requests HAProxy sent to each zone's nodes so far (the servers in the pool now). */
  async zoneRequests(): Promise<Record<string, number>> {
    const out: Record<string, number> = Object.fromEntries(this.zones.map((z) => [z, 0]));
    const { servers } = await this.haproxy.stats();
    for (const s of servers) {
      const m = this.databases.byName(s.name);
      if (m) out[m.zone] = (out[m.zone] ?? 0) + s.requests;
    }
    return out;
  }

  /** HAProxy's servers of the database backend and their state. */
  async haproxyServers(): Promise<{ name: string; status: string }[]> {
    return (await this.haproxy.stats()).servers.filter((s) => s.name !== BACKEND);
  }

  private stopping: Promise<void> | undefined;
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.autoscalers?.database.stop();
      this.autoscalers?.worker.stop();
      if (this.databases) this.databases.stopped = true;
      if (this.workers) this.workers.stopped = true;
      await this.stack?.stopAll();
    })();
    return this.stopping;
  }
}
