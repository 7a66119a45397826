// The `percolate` command as a process, for the CLI tests: bin/percolate.js (or `npx percolate`) with an environment
// cleared of the test process's own PERCOLATE_ settings, its exit code and both outputs collected.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './process.js';

export const BIN = path.join(REPO_ROOT, 'bin', 'percolate.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of the test process without any PERCOLATE_ setting of its own. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('PERCOLATE_')) delete env[k];
  return env;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the command's stdin, which is then closed (none: stdin is not a pipe). */
  stdin?: string;
  /** `npx --offline --no percolate` instead of node bin/percolate.js. */
  npx?: boolean;
}

export function runPercolate(args: readonly string[], o: RunOptions = {}): Promise<Run> {
  const [cmd, argv] = o.npx ? ['npx', ['--offline', '--no', 'percolate', ...args]] : [process.execPath, [BIN, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: o.cwd ?? REPO_ROOT, env: { ...cleanEnv(), ...(o.env ?? {}) }, stdio: [o.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (o.stdin !== undefined) child.stdin!.end(o.stdin);
  });
}
