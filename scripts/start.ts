// `npm start`: the embedded single-machine stack on loopback, data under ./data (PERCOLATE_DATA_DIR).
// Starts each service as a child process, prefixes its output, and stops them all (in reverse order) on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Service {
  name: string;
  entry: string;
  env: Record<string, string>;
}

const dataDir = path.resolve(process.env.PERCOLATE_DATA_DIR || path.join(root, 'data'));
const services: Service[] = [{ name: 'api', entry: 'services/api/main.ts', env: { PERCOLATE_DATA_DIR: dataDir } }];

const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;

function start(s: Service): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, s.entry)], {
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

console.log(`percolate: starting the local stack with data under ${dataDir}`);
for (const s of services) children.push({ name: s.name, child: start(s) });
