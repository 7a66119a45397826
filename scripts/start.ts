// `npm start`: the embedded single-machine stack on loopback, data under ./data (PERCOLATE_DATA_DIR).
// Starts each service as a child process, in order, each once the previous one answers its readiness check:
// nats-server (JetStream, <data>/nats), an S3-compatible server (s3rver, <data>/s3), the database node, the upload
// gateway and one ingest worker. Prefixes their output, and stops them all (in reverse order) on Ctrl-C.
// With auth required (PERCOLATE_AUTH, the default), first makes sure a signing key exists (PERCOLATE_AUTH_KEYS_FILE,
// else <data>/keys/jwks.json, created when absent) and points every service at it, gives the worker its own token,
// and once the stack is ready prints a token for tenant demo.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RetryExhaustedError, retry } from '../shared/rem/retry.js';
import { DEMO_TENANT, DEMO_TOKEN_TTL_S, prepareStackAuth } from './cli/auth.js';
import { requireBinary } from './system-deps.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Service {
  name: string;
  /** A TypeScript entry run with tsx, or `command` with `args`. */
  entry?: string;
  command?: string;
  args?: string[];
  env: Record<string, string>;
  /** Polled until it answers (any HTTP status below 500) before the next service starts. */
  ready: string;
  /** Gets the worker's token (PERCOLATE_API_TOKEN). */
  worker?: boolean;
}

const env = process.env;
const host = env.HOST || '127.0.0.1';
const dataDir = path.resolve(env.PERCOLATE_DATA_DIR || path.join(root, 'data'));
const port = (e: NodeJS.ProcessEnv, name: string, fallback: number) => e[name] || String(fallback);
const natsPort = port(env, 'PERCOLATE_NATS_PORT', 4222);
const natsMonitorPort = port(env, 'PERCOLATE_NATS_MONITOR_PORT', 8222);
const s3Port = port(env, 'PERCOLATE_S3_PORT', 4568);
const apiPort = port(env, 'PORT', 8080);
const gatewayPort = port(env, 'PERCOLATE_GATEWAY_PORT', 8081);
const workerPort = port(env, 'PERCOLATE_WORKER_PORT', 8082);
const natsUrl = `nats://${host}:${natsPort}`;
const apiUrl = `http://${host}:${apiPort}`;
// the gateway and the worker talk to the embedded S3 server, whose only credentials are s3rver's
const ingestEnv = {
  PERCOLATE_NATS_URL: natsUrl,
  PERCOLATE_S3_ENDPOINT: `http://${host}:${s3Port}`,
  PERCOLATE_S3_BUCKET: env.PERCOLATE_S3_BUCKET || 'percolate',
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  PERCOLATE_API_URL: apiUrl,
  // the SDK's notice that its 2027 releases need Node 22 would be printed by every process at every start
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED || 'true',
};
const natsDir = path.join(dataDir, 'nats');
fs.mkdirSync(natsDir, { recursive: true });
const services: Service[] = [
  {
    name: 'nats',
    command: requireBinary('nats-server', 'nats-server'),
    args: ['-a', host, '-p', natsPort, '-m', natsMonitorPort, '-js', '-sd', natsDir, '-n', 'percolate-local'],
    env: {},
    ready: `http://${host}:${natsMonitorPort}/healthz`,
  },
  {
    name: 's3',
    entry: 'scripts/s3-server.ts',
    env: { PERCOLATE_S3_PORT: s3Port, PERCOLATE_S3_DIR: path.join(dataDir, 's3'), PERCOLATE_S3_BUCKET: ingestEnv.PERCOLATE_S3_BUCKET },
    ready: `http://${host}:${s3Port}/`,
  },
  {
    name: 'api',
    entry: 'services/api/main.ts',
    // the node keeps tenant snapshots in the same S3 server (cold tenants, restore on any node)
    env: { ...ingestEnv, PERCOLATE_DATA_DIR: dataDir, PORT: apiPort },
    ready: `${apiUrl}/health/ready`,
  },
  {
    name: 'gateway',
    entry: 'services/gateway/main.ts',
    env: { ...ingestEnv, PERCOLATE_DATA_DIR: dataDir, PERCOLATE_GATEWAY_PORT: gatewayPort },
    ready: `http://${host}:${gatewayPort}/health/ready`,
  },
  {
    name: 'worker',
    entry: 'services/worker/main.ts',
    env: { ...ingestEnv, PERCOLATE_DATA_DIR: dataDir, PERCOLATE_WORKER_PORT: workerPort },
    ready: `http://${host}:${workerPort}/health/ready`,
    worker: true,
  },
];
const READY_TIMEOUT_MS = 60_000;

const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;
/** Aborted when the stack stops: cuts a readiness wait short. */
const stopSignal = new AbortController();

function start(s: Service): ChildProcess {
  const [command, args] = s.entry ? [process.execPath, ['--import', 'tsx', path.join(root, s.entry)]] : [s.command!, s.args ?? []];
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...s.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = `[${s.name}] `;
  const pipe = (stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) => {
    let buf = '';
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) out.write(prefix + line + '\n');
    });
  };
  pipe(child.stdout!, process.stdout);
  pipe(child.stderr!, process.stderr);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`${prefix}exited (code ${code}, signal ${signal}); stopping the stack`);
    void stopAll(1);
  });
  return child;
}

async function stopAll(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  stopSignal.abort(new Error('stopping'));
  for (const { child } of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  process.exit(exitCode);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

/** Polls the service's readiness URL every 200 ms until it answers below 500; gives up after READY_TIMEOUT_MS. */
async function waitReady(s: Service): Promise<void> {
  try {
    await retry(
      async () => {
        const res = await fetch(s.ready, { signal: AbortSignal.timeout(2_000) }); // throws while nothing listens
        await res.body?.cancel();
        if (res.status >= 500) throw new Error(`answered ${res.status}`);
      },
      { initialMs: 200, factor: 1, deadlineMs: READY_TIMEOUT_MS, signal: stopSignal.signal },
    );
  } catch (err) {
    if (stopSignal.signal.aborted) return;
    if (err instanceof RetryExhaustedError) throw new Error(`${s.name} did not become ready at ${s.ready} within ${READY_TIMEOUT_MS / 1000} s`);
    throw err;
  }
}

async function main(): Promise<void> {
  console.log(`percolate: starting the local stack with data under ${dataDir}`);
  // before any service starts, so that they all verify with the same key (none creates one of its own)
  const auth = await prepareStackAuth(env, dataDir);
  if (auth.mode === 'required') {
    console.log(`percolate: ${auth.created ? 'created the signing key' : 'signing key'} ${auth.keysFile} (PERCOLATE_AUTH_KEYS_FILE of every service)`);
    for (const s of services) {
      if (!s.entry) continue;
      Object.assign(s.env, auth.serviceEnv, s.worker ? auth.workerEnv : {});
    }
  }
  for (const s of services) {
    if (stopping) return;
    children.push({ name: s.name, child: start(s) });
    await waitReady(s);
  }
  if (stopping) return;
  console.log(
    `percolate: ready. database ${apiUrl}, upload gateway http://${host}:${gatewayPort}, ` +
      `worker http://${host}:${workerPort}, nats ${natsUrl} (monitor :${natsMonitorPort}), s3 ${ingestEnv.PERCOLATE_S3_ENDPOINT}`,
  );
  if (!auth.demoToken) {
    console.log('percolate: auth is off (PERCOLATE_AUTH=off): requests need no token, and any client can read and write any tenant');
    return;
  }
  const token = await auth.demoToken();
  console.log(
    `percolate: a token for tenant ${DEMO_TENANT} (scope rw, valid ${DEMO_TOKEN_TTL_S / 3600} h); to use it, in another shell run\n` +
      `  export TOKEN=${token}\n` +
      `percolate: and send -H "Authorization: Bearer $TOKEN" with each request (README, Quick start); ` +
      `more tokens: npx percolate token --tenant <tenant> --scope ro|rw|admin --ttl 1h`,
  );
}

main().catch((err) => {
  console.error(`percolate: ${err instanceof Error ? err.message : err}; stopping the stack`);
  void stopAll(1);
});
