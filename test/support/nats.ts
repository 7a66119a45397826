// Real nats-server processes (Debian package) with JetStream, on free loopback ports, for tests and benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { natsServerArgs } from '../../scripts/stack/nats.js';
import { requireBinary } from '../../scripts/system-deps.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface NatsServer {
  url: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  /** Stops the process (SIGTERM by default); the store directory stays, so `start()` brings the same server back. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  readonly running: boolean;
}

interface Spec {
  name: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  cluster?: { name: string; port: number; routes: number[] };
}

async function waitHealthy(monitorPort: number, timeoutMs: number, needLeader: boolean): Promise<void> {
  await waitFor(
    `nats-server on monitor port ${monitorPort} to be healthy${needLeader ? ' with a JetStream meta leader' : ''}`,
    async () => {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz`);
      if (!res.ok) throw new Error(`/jsz answered ${res.status}`);
      const jsz = (await res.json()) as { meta_cluster?: { leader?: string }; config?: unknown };
      if (needLeader && !jsz.meta_cluster?.leader) throw new Error('no JetStream meta leader yet');
      return true;
    },
    timeoutMs,
    100,
  );
}

function server(spec: Spec, binary: string): NatsServer {
  let proc: ChildProcess | undefined;
  let exited: Promise<void> | undefined;
  // the same command line as the local stacks' (scripts/stack/nats.ts)
  const args = () => natsServerArgs({ ...spec, host: '127.0.0.1' });
  const handle: NatsServer = {
    url: `nats://127.0.0.1:${spec.port}`,
    port: spec.port,
    monitorPort: spec.monitorPort,
    storeDir: spec.storeDir,
    get running() {
      return proc !== undefined;
    },
    async start() {
      if (proc) return;
      const p = spawn(binary, args(), { stdio: ['ignore', 'ignore', 'pipe'] });
      proc = p;
      let err = '';
      p.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
      exited = new Promise((resolve) =>
        p.on('exit', () => {
          if (proc === p) proc = undefined;
          resolve();
        }),
      );
      try {
        const healthy = waitHealthy(spec.monitorPort, 20_000, false);
        const gone = exited.then(() => 'exited' as const);
        if ((await Promise.race([healthy.then(() => 'healthy' as const), gone])) === 'exited') {
          void healthy.catch(() => undefined);
          if (/address already in use/i.test(err)) throw new PortTaken(`a port was taken before nats-server bound it: ${err.trim().slice(-200)}`);
          throw new Error(`nats-server exited before it was healthy:\n${err}`);
        }
        // free ports are picked before the server binds them: another test's server may have taken the same monitor
        // port, in which case the health check above reached that one and this one exited
        const varz = (await (await fetch(`http://127.0.0.1:${spec.monitorPort}/varz`)).json()) as { port?: number };
        if (varz.port !== spec.port) throw new PortTaken(`monitor port ${spec.monitorPort} belongs to another nats-server (client port ${varz.port}, not ${spec.port})`);
      } catch (e) {
        if (proc === p) p.kill('SIGKILL');
        await exited;
        if (e instanceof PortTaken) throw e;
        throw new Error(`${(e as Error).message}\n${err}`);
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!proc) return;
      proc.kill(signal);
      await exited;
    },
  };
  return handle;
}

async function storeRoot(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'percolate-nats-'));
}

/** A port picked as free was bound by another process before this server bound it. */
class PortTaken extends Error {}

/** Attempts at starting a server on fresh free ports when another process took one of them first. */
const PORT_ATTEMPTS = 3;

/** One JetStream-enabled nats-server. */
export async function startNats(): Promise<NatsServer & { cleanup(): Promise<void> }> {
  const binary = requireBinary('nats-server', 'nats-server');
  const root = await storeRoot();
  let s: NatsServer | undefined;
  for (let attempt = 1; !s; attempt++) {
    const candidate = server({ name: 'n1', port: await freePort(), monitorPort: await freePort(), storeDir: root }, binary);
    try {
      await candidate.start();
      s = candidate;
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt >= PORT_ATTEMPTS) throw e;
    }
  }
  return Object.assign(s, {
    async cleanup() {
      await s.stop();
      await fs.rm(root, { recursive: true, force: true });
    },
  });
}

/** A JetStream cluster of `size` servers (R3 streams need 3). */
export async function startNatsCluster(size = 3): Promise<{ servers: NatsServer[]; urls: string; cleanup(): Promise<void> }> {
  const binary = requireBinary('nats-server', 'nats-server');
  const root = await storeRoot();
  const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const servers: NatsServer[] = [];
  for (let i = 0; i < size; i++) {
    const storeDir = path.join(root, `n${i + 1}`);
    await fs.mkdir(storeDir, { recursive: true });
    servers.push(
      server(
        {
          name: `n${i + 1}`,
          port: await freePort(),
          monitorPort: await freePort(),
          storeDir,
          cluster: { name: 'percolate-test', port: clusterPorts[i]!, routes: clusterPorts.filter((_, j) => j !== i) },
        },
        binary,
      ),
    );
  }
  await Promise.all(servers.map((s) => s.start()));
  await waitHealthy(servers[0]!.monitorPort, 30_000, true);
  return {
    servers,
    urls: servers.map((s) => s.url).join(','),
    async cleanup() {
      await Promise.all(servers.map((s) => s.stop()));
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}
