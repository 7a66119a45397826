// `npm run topology`: the local multi-zone topology (test-topology/local-topology.ts) with a live status line.
//
//   npm run topology -- [--data-dir DIR] [--tier small|medium|large] [--port N] [--gateway-port N] [--databases N]
//                       [--time-scale F] [--db-polling-s S] [--db-cooldown-s S] [--worker-polling-s S]
//                       [--worker-cooldown-s S] [--active-window-s S] [--no-db-autoscale] [--no-worker-autoscale]
//
// Defaults: data under ./data/topology, tier small, HAProxy on 8090, the gateway on 8091, three database nodes, and
// the autoscaler on the periods of keda/<tier>/scaledobjects.yaml. Ctrl-C stops everything in reverse order.
import path from 'node:path';
import { readArgs } from '../scripts/cli-args.js';
import { DEMO_TENANT } from '../scripts/cli/auth.js';
import { REPO_ROOT } from '../scripts/stack/process.js';
import { Topology, type TopologyOptions } from './local-topology.js';
import { StatusLine } from './status-line.js';

const USAGE =
  'usage: npm run topology -- [--data-dir DIR] [--tier T] [--port N] [--gateway-port N] [--databases N] [--time-scale F] ' +
  '[--db-polling-s S] [--db-cooldown-s S] [--worker-polling-s S] [--worker-cooldown-s S] [--active-window-s S] [--no-db-autoscale] [--no-worker-autoscale]';

const STRING = ['data-dir', 'tier', 'port', 'gateway-port', 'databases', 'time-scale', 'db-polling-s', 'db-cooldown-s', 'worker-polling-s', 'worker-cooldown-s', 'active-window-s'];
const FLAGS = ['no-db-autoscale', 'no-worker-autoscale', 'help'];

function parse(argv: string[]): TopologyOptions | undefined {
  const options = Object.fromEntries([...STRING.map((n) => [n, { type: 'string' as const }]), ...FLAGS.map((n) => [n, { type: 'boolean' as const }])]);
  const args = readArgs(argv, options, (raw) => new Error(`unknown argument ${raw}\n${USAGE}`));
  const o: TopologyOptions = { dataDir: path.join(REPO_ROOT, 'data', 'topology'), port: 8090, gatewayPort: 8091, autoscale: { database: {}, worker: {} } };
  const number = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number of at least ${min}, got '${v ?? ''}'`);
    return n;
  };
  for (const a of args) {
    if (a.kind === 'positional') throw new Error(`unexpected argument ${a.raw}\n${USAGE}`);
    switch (a.name) {
      case 'help':
        return undefined;
      case 'data-dir':
        o.dataDir = path.resolve(a.value ?? '');
        break;
      case 'tier':
        o.tier = a.value;
        break;
      case 'port':
        o.port = number(a.name, a.value, 0);
        break;
      case 'gateway-port':
        o.gatewayPort = number(a.name, a.value, 0);
        break;
      case 'databases':
        o.databases = number(a.name, a.value, 0);
        break;
      case 'time-scale':
        o.timeScale = number(a.name, a.value, 0.001);
        break;
      case 'db-polling-s':
        o.autoscale!.database!.pollingIntervalS = number(a.name, a.value, 0.05);
        break;
      case 'db-cooldown-s':
        o.autoscale!.database!.cooldownPeriodS = number(a.name, a.value, 0);
        break;
      case 'worker-polling-s':
        o.autoscale!.worker!.pollingIntervalS = number(a.name, a.value, 0.05);
        break;
      case 'worker-cooldown-s':
        o.autoscale!.worker!.cooldownPeriodS = number(a.name, a.value, 0);
        break;
      case 'active-window-s':
        o.activeWindowS = number(a.name, a.value, 1);
        break;
      case 'no-db-autoscale':
        o.autoscale!.database!.scale = false;
        break;
      case 'no-worker-autoscale':
        o.autoscale!.worker!.scale = false;
        break;
    }
  }
  return o;
}

async function main(): Promise<void> {
  let o: TopologyOptions | undefined;
  try {
    o = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`topology: ${(err as Error).message}`);
    process.exit(2);
  }
  if (!o) {
    console.log(USAGE);
    return;
  }
  const tty = process.stdout.isTTY === true;
  // an event line clears the status line first; the status line is drawn again at its next refresh
  o.log = (line) => process.stdout.write(`${tty ? '\r\x1b[2K' : ''}topology: ${line}\n`);
  const t = new Topology(o);
  const status = new StatusLine(t);
  let exiting = false;
  const stop = async (code: number) => {
    if (exiting) return;
    exiting = true;
    status.stop();
    o!.log!('stopping (reverse order of start)');
    await t.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  o.log(`starting under ${o.dataDir} (service logs in ${path.join(o.dataDir, 'logs')})`);
  try {
    await t.start();
  } catch (err) {
    if (exiting) return;
    console.error(`topology: ${(err as Error).message}; stopping`);
    await stop(1);
    return;
  }
  o.log(`ready. database (HAProxy) ${t.url}, upload gateway ${t.gatewayUrl}, nats ${t.natsUrl}, s3 ${t.stack.s3Endpoint}`);
  if (t.auth.demoToken) o.log(`a token for tenant ${DEMO_TENANT}: export TOKEN=${await t.auth.demoToken()}`);
  else o.log('auth is off (PERCOLATE_AUTH=off)');
  status.start();
}

void main();
