// System packages the project needs at run time (nats-server; ghostscript for PDF fixtures). When a binary is
// missing and we are root on Debian, install it with apt-get; otherwise stop with a one-line instruction.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    const p = `${dir}/${binary}`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

let aptUpdated = false;

/** Returns the absolute path of `binary`, installing Debian package `pkg` first when needed and possible. */
export function ensureBinary(binary: string, pkg: string): string {
  const found = onPath(binary);
  if (found) return found;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !fs.existsSync('/usr/bin/apt-get')) {
    throw new Error(`${binary} is required: install it with 'sudo apt-get install -y ${pkg}'`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    aptUpdated = true;
  }
  execFileSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'ignore', env });
  const installed = onPath(binary);
  if (!installed) throw new Error(`installed ${pkg} but ${binary} is still not on PATH`);
  return installed;
}
