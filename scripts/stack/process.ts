// One child process of a local stack (npm start, npm run topology): a TypeScript entry run with tsx or a binary, its
// output prefixed with its name (or appended to a log file), a readiness URL polled until it answers below 500, and a
// stop that sends SIGTERM, waits, then SIGKILLs. An exit nobody asked for is reported to the owner, who decides
// whether the whole stack stops (npm start) or the process is replaced (a database node of the topology).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RetryExhaustedError, retry } from '../../shared/rem/retry.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** How long a service may take to answer its readiness check. */
export const READY_TIMEOUT_MS = 60_000;
/** How long a stopped service may take to exit after SIGTERM before it is killed. */
export const STOP_TIMEOUT_MS = 10_000;

export interface ProcessSpec {
  name: string;
  /** A TypeScript entry (relative to the repository) run with tsx, or `command` with `args`. */
  entry?: string;
  command?: string;
  args?: string[];
  env: Record<string, string>;
  /** Polled until it answers (any HTTP status below 500); undefined: ready once spawned. */
  ready?: string;
}

/** Where a child's output goes: prefixed lines on our stdout/stderr, or appended to a file per process. */
export type OutputMode = { kind: 'prefix' } | { kind: 'files'; dir: string };

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  /** Set once stop() was called: the exit that follows is expected. */
  private stopping = false;

  constructor(
    readonly spec: ProcessSpec,
    output: OutputMode,
    /** Called when the process exits without stop() having been called. */
    onUnexpectedExit: (p: ManagedProcess, info: ExitInfo) => void,
  ) {
    const [command, args] = spec.entry ? [process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, spec.entry)]] : [spec.command!, spec.args ?? []];
    this.child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    if (output.kind === 'prefix') {
      pipeLines(this.child.stdout!, process.stdout, `[${spec.name}] `);
      pipeLines(this.child.stderr!, process.stderr, `[${spec.name}] `);
    } else {
      fs.mkdirSync(output.dir, { recursive: true });
      const log = fs.createWriteStream(path.join(output.dir, `${spec.name}.log`), { flags: 'a' });
      this.child.stdout!.pipe(log, { end: false });
      this.child.stderr!.pipe(log, { end: false });
      this.child.once('close', () => log.end());
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        const info = { code, signal };
        if (!this.stopping) onUnexpectedExit(this, info);
        resolve(info);
      });
      // a binary that cannot be spawned (ENOENT) emits error and no exit
      this.child.once('error', (err) => {
        if (this.child.exitCode !== null || this.child.signalCode !== null) return;
        console.error(`[${spec.name}] could not start: ${err.message}`);
        const info = { code: -1, signal: null };
        if (!this.stopping) onUnexpectedExit(this, info);
        resolve(info);
      });
    });
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Polls the readiness URL every 200 ms until it answers below 500, for at most READY_TIMEOUT_MS. */
  async waitReady(signal: AbortSignal, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const url = this.spec.ready;
    if (!url) return;
    const died = new AbortController();
    void this.exited.then(() => died.abort(new Error(`${this.name} exited before it was ready`)));
    try {
      await retry(
        async () => {
          const res = await fetch(url, { signal: AbortSignal.timeout(2_000) }); // throws while nothing listens
          await res.body?.cancel();
          if (res.status >= 500) throw new Error(`answered ${res.status}`);
        },
        { initialMs: 200, factor: 1, deadlineMs: timeoutMs, signal: AbortSignal.any([signal, died.signal]) },
      );
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (died.signal.aborted) throw died.signal.reason;
      if (err instanceof RetryExhaustedError) throw new Error(`${this.name} did not become ready at ${url} within ${timeoutMs / 1000} s`);
      throw err;
    }
  }

  /** SIGTERM (or `signal`), then SIGKILL after `timeoutMs` if it has not exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS): Promise<ExitInfo> {
    this.stopping = true;
    if (!this.running) return this.exited;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
    const first = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (first === 'late') this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Sends a signal without announcing a stop: a SIGKILL sent here is a crash, reported as an unexpected exit. */
  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }
}

function pipeLines(stream: NodeJS.ReadableStream, out: NodeJS.WritableStream, prefix: string): void {
  let buf = '';
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) out.write(prefix + line + '\n');
  });
  stream.on('end', () => {
    if (buf) out.write(prefix + buf + '\n');
  });
}
