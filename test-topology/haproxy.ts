// HAProxy in front of the database nodes, as the topology's load balancer: one backend hashing X-Tenant-ID on a
// consistent ring (`balance hdr(X-Tenant-ID)` + `hash-type consistent`, so a node joining or leaving moves only the
// tenants whose ring segment changes), health checks on /health/ready, and servers added and removed at run time over
// the admin stats socket (`add server` / `del server` of HAProxy 2.6). With no server up it answers at once 503 with
// Retry-After and the error envelope (an errorfile), which is what the first request gets while the pool wakes from
// zero; the autoscaler counts those requests too (HAProxy's request total of the backend).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { requireBinary } from '../scripts/system-deps.js';
import type { ProcessSpec } from '../scripts/stack/process.js';

export const BACKEND = 'db';
/** Answered by the frontend itself (readiness of HAProxy, not of the nodes). */
export const MONITOR_URI = '/haproxy-health';
/** Seconds a client is told to wait when no node is up (a node starts in a few seconds). */
export const NO_NODE_RETRY_AFTER_S = 5;
/** Health checks: every 500 ms, down after 2 failures, up after 1 success. */
const CHECK = 'check inter 500 fall 2 rise 1';
/** weight 100: 1600 points per server on the consistent-hash ring (16 per unit of weight): a near-even share for each. */
const WEIGHT = 'weight 100';
const SOCKET_TIMEOUT_MS = 5_000;

export interface HaproxyFiles {
  config: string;
  socket: string;
}

/** Writes haproxy.cfg and the 503 errorfile under `dir`. */
export function writeHaproxyConfig(dir: string, o: { host: string; port: number }): HaproxyFiles {
  fs.mkdirSync(dir, { recursive: true });
  const socket = path.join(dir, 'admin.sock');
  const errorfile = path.join(dir, '503.http');
  const body = JSON.stringify({
    error: {
      code: 'node_unavailable',
      message: `no database node is up to serve this request (the pool may be scaling up from zero); retry after ${NO_NODE_RETRY_AFTER_S} s`,
    },
  });
  fs.writeFileSync(
    errorfile,
    ['HTTP/1.1 503 Service Unavailable', 'Content-Type: application/json', `Retry-After: ${NO_NODE_RETRY_AFTER_S}`, 'Cache-Control: no-cache', 'Connection: close', `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'),
  );
  const config = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    config,
    `# written by test-topology/haproxy.ts; servers are added and removed at run time over ${path.basename(socket)}
global
  stats socket ${socket} mode 600 level admin
  maxconn 4096

defaults
  mode http
  option http-server-close
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-request 30s
  errorfile 503 ${errorfile}

frontend percolate
  bind ${o.host}:${o.port}
  monitor-uri ${MONITOR_URI}
  default_backend ${BACKEND}

backend ${BACKEND}
  balance hdr(X-Tenant-ID)
  hash-type consistent
  option httpchk GET /health/ready
  http-check expect status 200
  # a node that died takes its requests' retries to another one
  retries 2
  option redispatch
`,
  );
  return { config, socket };
}

export function haproxyProcess(files: HaproxyFiles, o: { host: string; port: number }): ProcessSpec {
  // -db: stay in the foreground (the launcher owns the process); -W would fork a master
  return { name: 'haproxy', command: requireBinary('haproxy', 'haproxy'), args: ['-db', '-f', files.config], env: {}, ready: `http://${o.host}:${o.port}${MONITOR_URI}` };
}

export interface ServerStat {
  name: string;
  status: string;
  /** HTTP requests sent to it (server) or received (backend). */
  requests: number;
}

/** The admin socket of the running HAProxy. */
export class HaproxyRuntime {
  constructor(private readonly socket: string) {}

  /** One command, its answer (the socket closes after each command in non-interactive mode). */
  command(cmd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.socket);
      let out = '';
      s.setTimeout(SOCKET_TIMEOUT_MS, () => s.destroy(new Error(`haproxy: no answer to '${cmd}' within ${SOCKET_TIMEOUT_MS} ms`)));
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('end', () => resolve(out.trim()));
      s.on('error', reject);
      s.write(cmd + '\n');
    });
  }

  /**
   * Adds a node to the pool: registered in maintenance, its health check enabled, then made ready; it takes traffic
   * once its first check passes. `id` fixes its place on the hash ring (a node coming back gets its tenants back).
   */
  async addServer(name: string, host: string, port: number, id: number): Promise<void> {
    const added = await this.command(`add server ${BACKEND}/${name} ${host}:${port} ${CHECK} ${WEIGHT} id ${id}`);
    if (!/New server registered/i.test(added)) throw new Error(`haproxy: add server ${name}: ${added}`);
    await this.expectEmpty(`enable health ${BACKEND}/${name}`);
    await this.expectEmpty(`enable server ${BACKEND}/${name}`);
  }

  /** Stops sending new requests to a node (maintenance); it stays registered. */
  async disableServer(name: string): Promise<void> {
    await this.expectEmpty(`disable server ${BACKEND}/${name}`);
  }

  /**
   * Removes a node: maintenance, its sessions shut, then `del server`, retried while HAProxy still holds
   * connections to it (it refuses to delete a server in use), for at most `timeoutMs`.
   */
  async removeServer(name: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.disableServer(name).catch(() => undefined);
    for (;;) {
      await this.command(`shutdown sessions server ${BACKEND}/${name}`).catch(() => undefined);
      const out = await this.command(`del server ${BACKEND}/${name}`);
      if (/Server deleted|No such server/i.test(out)) return;
      if (Date.now() > deadline) throw new Error(`haproxy: del server ${name}: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Servers of the backend and the backend itself (name BACKEND), from `show stat`. */
  async stats(): Promise<{ servers: ServerStat[]; backend: ServerStat | undefined }> {
    const csv = await this.command('show stat');
    const lines = csv.split('\n').filter((l) => l.trim() !== '');
    const header = (lines.shift() ?? '').replace(/^# /, '').split(',');
    const col = (name: string) => header.indexOf(name);
    const [px, sv, status, reqTot, hrsp] = [col('pxname'), col('svname'), col('status'), col('req_tot'), ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other'].map(col)];
    const servers: ServerStat[] = [];
    let backend: ServerStat | undefined;
    for (const line of lines) {
      const f = line.split(',');
      if (f[px] !== BACKEND) continue;
      // servers have no req_tot in 2.6: their answers by class add up to the requests they served
      const answered = hrsp.reduce((sum, i) => sum + (Number(f[i]) || 0), 0);
      const row = { name: f[sv]!, status: f[status]!, requests: Number(f[reqTot]) || answered };
      if (row.name === 'BACKEND') backend = row;
      else servers.push(row);
    }
    return { servers, backend };
  }

  private async expectEmpty(cmd: string): Promise<void> {
    const out = await this.command(cmd);
    if (out !== '') throw new Error(`haproxy: ${cmd}: ${out}`);
  }
}
