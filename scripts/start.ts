// `npm start`: the embedded single-machine stack on loopback, data under ./data (PERCOLATE_DATA_DIR).
// Starts each service as a child process, in order, each once the previous one answers its readiness check:
// nats-server (JetStream, <data>/nats), an S3-compatible server (s3rver, <data>/s3), the database node, the upload
// gateway and one ingest worker. Prefixes their output, and stops them all (in reverse order) on Ctrl-C.
// With auth required (PERCOLATE_AUTH, the default), first makes sure a signing key exists (PERCOLATE_AUTH_KEYS_FILE,
// else <data>/keys/jwks.json, created when absent) and points every service at it, gives the worker its own token,
// and once the stack is ready prints a token for tenant demo.
// The one-of-each case of the stack launcher (scripts/stack/stack.ts) that `npm run topology` also uses.
import path from 'node:path';
import { DEMO_TENANT, DEMO_TOKEN_TTL_S, prepareStackAuth } from './cli/auth.js';
import { REPO_ROOT } from './stack/process.js';
import { Stack } from './stack/stack.js';

const env = process.env;
const host = env.HOST || '127.0.0.1';
const dataDir = path.resolve(env.PERCOLATE_DATA_DIR || path.join(REPO_ROOT, 'data'));
const port = (e: NodeJS.ProcessEnv, name: string, fallback: number) => Number(e[name] || String(fallback));
const natsPort = port(env, 'PERCOLATE_NATS_PORT', 4222);
const natsMonitorPort = port(env, 'PERCOLATE_NATS_MONITOR_PORT', 8222);
const s3Port = port(env, 'PERCOLATE_S3_PORT', 4568);
const apiPort = port(env, 'PORT', 8080);
const gatewayPort = port(env, 'PERCOLATE_GATEWAY_PORT', 8081);
const workerPort = port(env, 'PERCOLATE_WORKER_PORT', 8082);
const bucket = env.PERCOLATE_S3_BUCKET || 'percolate';
const apiUrl = `http://${host}:${apiPort}`;

let stack: Stack | undefined;
let exiting = false;
async function stopAll(exitCode: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  await stack?.stopAll();
  process.exit(exitCode);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function main(): Promise<void> {
  console.log(`percolate: starting the local stack with data under ${dataDir}`);
  // before any service starts, so that they all verify with the same key (none creates one of its own)
  const auth = await prepareStackAuth(env, dataDir);
  if (auth.mode === 'required') {
    console.log(`percolate: ${auth.created ? 'created the signing key' : 'signing key'} ${auth.keysFile} (PERCOLATE_AUTH_KEYS_FILE of every service)`);
  }
  const s = new Stack({
    host,
    dataDir,
    bucket,
    auth,
    output: { kind: 'prefix' },
    // the SDK's notice that its 2027 releases need Node 22 would be printed by every process at every start
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED || 'true' },
    onUnexpectedExit: (p, info) => {
      console.error(`[${p.name}] exited (code ${info.code}, signal ${info.signal}); stopping the stack`);
      void stopAll(1);
    },
  });
  stack = s;
  await s.startNats([{ processName: 'nats', name: 'percolate-local', host, port: natsPort, monitorPort: natsMonitorPort, storeDir: path.join(dataDir, 'nats') }]);
  await s.startS3(s3Port);
  await s.startDatabase({ name: 'api', port: apiPort, dataDir }, apiUrl);
  await s.startGateway(gatewayPort, apiUrl);
  await s.startWorker({ name: 'worker', port: workerPort }, apiUrl);
  console.log(
    `percolate: ready. database ${apiUrl}, upload gateway http://${host}:${gatewayPort}, ` +
      `worker http://${host}:${workerPort}, nats ${s.natsUrl} (monitor :${natsMonitorPort}), s3 ${s.s3Endpoint}`,
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
  if (exiting) return; // a readiness wait cut short by Ctrl-C
  console.error(`percolate: ${err instanceof Error ? err.message : err}; stopping the stack`);
  void stopAll(1);
});
