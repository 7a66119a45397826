// The topology's scale targets: the database StatefulSet and the worker Deployment, as pools of child processes.
// A pool is told how many replicas it should have (scaleTo) and reconciles towards it one step at a time.
// Database nodes behave like StatefulSet pods: ordinal names db-0, db-1, ... in zones round-robin, each with its own
// data directory and HAProxy server id kept across restarts (a node that comes back gets its tenants back), scaled
// down from the highest ordinal: out of HAProxy's rotation, drained (POST /health/drain with the token of its data
// directory), stopped with SIGTERM, then deleted from HAProxy. A node that dies is deleted from HAProxy at once (the
// endpoints controller's part) and started again after a delay (the StatefulSet's), unless restarts are off.
// Simplified: new pods start in parallel (podManagementPolicy: Parallel), not one after the other.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ManagedProcess } from '../scripts/stack/process.js';
import { freePort } from '../scripts/stack/ports.js';
import type { Stack } from '../scripts/stack/stack.js';
import type { HaproxyRuntime } from './haproxy.js';

const DRAIN_TIMEOUT_MS = 70_000;
const REPLICATION_WAIT_MS = 30_000;

abstract class Pool {
  protected wanted = 0;
  private reconciling: Promise<void> | undefined;
  private again = false;
  stopped = false;

  constructor(protected readonly log: (line: string) => void) {}

  get replicas(): number {
    return this.wanted;
  }

  scaleTo(n: number): void {
    this.wanted = Math.max(0, Math.floor(n));
    void this.reconcile();
  }

  /** Resolves once the pool has reached the wanted count (or gave up on this round after an error). */
  reconcile(): Promise<void> {
    if (this.reconciling) {
      this.again = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      do {
        this.again = false;
        if (this.stopped) break;
        try {
          await this.step();
        } catch (err) {
          this.log(`${this.kind}: ${(err as Error).message}`);
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  protected abstract readonly kind: string;
  protected abstract step(): Promise<void>;
}

export interface DatabaseMember {
  ordinal: number;
  name: string;
  zone: string;
  port: number;
  dataDir: string;
  proc: ManagedProcess | undefined;
  state: 'starting' | 'up' | 'stopping' | 'crashed';
}

export interface DatabasePoolOptions {
  stack: Stack;
  haproxy: HaproxyRuntime;
  host: string;
  zones: string[];
  /** <data>/nodes/<name> for each node. */
  nodesDir: string;
  env: Record<string, string>;
  apiUrl: string;
  /** null: a node that died stays down until restart() (tests that look at the pool without it). */
  crashRestartDelayMs: number | null;
  log(line: string): void;
}

export class DatabasePool extends Pool {
  protected readonly kind = 'database pool';
  readonly members = new Map<number, DatabaseMember>();

  constructor(private readonly o: DatabasePoolOptions) {
    super(o.log);
  }

  /** Nodes in HAProxy's rotation. */
  up(): DatabaseMember[] {
    return [...this.members.values()].filter((m) => m.state === 'up').sort((a, b) => a.ordinal - b.ordinal);
  }

  byName(name: string): DatabaseMember | undefined {
    return [...this.members.values()].find((m) => m.name === name);
  }

  /** A crash: the process is gone; out of HAProxy now, back after the restart delay. */
  onExit(name: string, info: { code: number | null; signal: NodeJS.Signals | null }): void {
    const m = this.byName(name);
    if (!m) return;
    m.proc = undefined;
    m.state = 'crashed';
    this.log(`${name} exited (code ${info.code}, signal ${info.signal}): removed from HAProxy${this.o.crashRestartDelayMs === null ? '' : `, restarting in ${this.o.crashRestartDelayMs} ms`}`);
    void this.o.haproxy.removeServer(name).catch((err: unknown) => this.log(`${name}: ${(err as Error).message}`));
    if (this.o.crashRestartDelayMs !== null) setTimeout(() => void this.reconcile(), this.o.crashRestartDelayMs).unref();
  }

  /** Starts a crashed node again (same name, data directory and ring position). */
  async restart(name: string): Promise<void> {
    const m = this.byName(name);
    if (!m || m.state !== 'crashed') throw new Error(`${name} is not a crashed node`);
    await this.startMember(m);
  }

  /** Sends a signal to a node as a crash would (SIGKILL): the pool sees it exit unexpectedly. */
  kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): number {
    const m = this.byName(name);
    if (!m?.proc) throw new Error(`${name} is not running`);
    const pid = m.proc.pid!;
    m.proc.kill(signal);
    return pid;
  }

  protected async step(): Promise<void> {
    const restartCrashed = this.o.crashRestartDelayMs !== null;
    const missing: number[] = [];
    for (let i = 0; i < this.wanted; i++) {
      const m = this.members.get(i);
      if (!m || (m.state === 'crashed' && restartCrashed)) missing.push(i);
    }
    const extra = [...this.members.values()].filter((m) => m.ordinal >= this.wanted && (m.state === 'up' || m.state === 'crashed'));
    await Promise.all([...missing.map((i) => this.startMember(this.member(i))), ...extra.map((m) => this.stopMember(m))]);
  }

  private member(i: number): DatabaseMember {
    let m = this.members.get(i);
    if (!m) {
      const name = `db-${i}`;
      m = { ordinal: i, name, zone: this.o.zones[i % this.o.zones.length]!, port: 0, dataDir: path.join(this.o.nodesDir, name), proc: undefined, state: 'starting' };
      this.members.set(i, m);
    }
    return m;
  }

  private async startMember(m: DatabaseMember): Promise<void> {
    m.state = 'starting';
    m.port ||= await freePort(this.o.host);
    await fs.mkdir(m.dataDir, { recursive: true });
    try {
      m.proc = await this.o.stack.startDatabase({ name: m.name, port: m.port, dataDir: m.dataDir, nodeId: m.name, zone: m.zone, env: this.o.env }, this.o.apiUrl);
      await this.replicationConnected(m);
      // a server deleted on a crash may still be registered when the node is back quickly
      await this.o.haproxy.removeServer(m.name).catch(() => undefined);
      await this.o.haproxy.addServer(m.name, this.o.host, m.port, m.ordinal + 1);
      m.state = 'up';
      this.log(`${m.name} (zone ${m.zone}) up on port ${m.port}, in HAProxy`);
    } catch (err) {
      m.state = 'crashed';
      if (m.proc) await this.o.stack.stopProcess(m.proc);
      m.proc = undefined;
      throw err;
    }
  }

  /**
   * The node answers ready before its replication has connected; until then it cannot restore a tenant it does not
   * hold (503 tenant_unavailable). A readiness gate: it joins HAProxy once /health/ready says replication connected,
   * or after REPLICATION_WAIT_MS anyway (NATS may be down: the node still serves the tenants it holds).
   */
  private async replicationConnected(m: DatabaseMember): Promise<void> {
    const deadline = Date.now() + REPLICATION_WAIT_MS;
    while (Date.now() < deadline && m.proc?.running) {
      try {
        const res = await fetch(`http://${this.o.host}:${m.port}/health/ready`, { signal: AbortSignal.timeout(2_000) });
        if (((await res.json()) as { replication?: string }).replication === 'connected') return;
      } catch {
        /* not answering yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    this.log(`${m.name}: replication not connected after ${REPLICATION_WAIT_MS} ms; adding it to HAProxy anyway`);
  }

  private async stopMember(m: DatabaseMember): Promise<void> {
    if (m.state === 'crashed') {
      this.members.delete(m.ordinal);
      return;
    }
    m.state = 'stopping';
    const proc = m.proc!;
    await this.o.haproxy.disableServer(m.name).catch(() => undefined);
    try {
      const token = (await fs.readFile(path.join(m.dataDir, 'drain.token'), 'utf8')).trim();
      const res = await fetch(`http://${this.o.host}:${m.port}/health/drain`, { method: 'POST', headers: { 'x-drain-token': token }, signal: AbortSignal.timeout(DRAIN_TIMEOUT_MS) });
      await res.body?.cancel();
      if (!res.ok) this.log(`${m.name}: drain answered ${res.status}; SIGTERM drains too`);
    } catch (err) {
      this.log(`${m.name}: drain failed (${(err as Error).message}); SIGTERM drains too`);
    }
    await this.o.stack.stopProcess(proc);
    await this.o.haproxy.removeServer(m.name);
    this.members.delete(m.ordinal);
    this.log(`${m.name} drained, stopped and removed from HAProxy`);
  }
}

export interface WorkerPoolOptions {
  stack: Stack;
  host: string;
  env: Record<string, string>;
  apiUrl: string;
  log(line: string): void;
}

/** The worker Deployment: stateless workers; scaled down newest first (SIGTERM: jobs in progress finish). */
export class WorkerPool extends Pool {
  protected readonly kind = 'worker pool';
  readonly members = new Map<string, ManagedProcess>();
  /** Workers started so far (names are worker-<n>, n counting up). */
  started = 0;
  private seq = 0;

  constructor(private readonly o: WorkerPoolOptions) {
    super(o.log);
  }

  get running(): number {
    return this.members.size;
  }

  onExit(name: string, info: { code: number | null; signal: NodeJS.Signals | null }): void {
    if (!this.members.delete(name)) return;
    this.log(`${name} exited (code ${info.code}, signal ${info.signal}); the pool starts another`);
    void this.reconcile();
  }

  protected async step(): Promise<void> {
    const have = [...this.members.keys()];
    if (have.length < this.wanted) {
      await Promise.all(
        Array.from({ length: this.wanted - have.length }, async () => {
          const name = `worker-${this.seq++}`;
          const p = await this.o.stack.startWorker({ name, port: await freePort(this.o.host), env: this.o.env }, this.o.apiUrl);
          this.members.set(name, p);
          this.started++;
          this.log(`${name} up`);
        }),
      );
    } else if (have.length > this.wanted) {
      const extra = have.slice(this.wanted).reverse();
      await Promise.all(
        extra.map(async (name) => {
          const p = this.members.get(name)!;
          this.members.delete(name);
          await this.o.stack.stopProcess(p);
          this.log(`${name} stopped`);
        }),
      );
    }
  }
}
