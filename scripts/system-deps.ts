// System packages the project needs beside Node.js: nats-server (npm start, replication and ingest tests, benchmarks),
// and enscript and ghostscript (the generated PDF fixtures). scripts/install-system-deps.sh installs them; this only
// finds them, and says which script to run when one is missing. Nothing here installs anything.
import fs from 'node:fs';

export const INSTALL_SCRIPT = 'scripts/install-system-deps.sh';

/** Binaries and the Debian packages that provide them (the same list as the install script). */
export const SYSTEM_BINARIES: readonly { binary: string; pkg: string }[] = [
  { binary: 'nats-server', pkg: 'nats-server' },
  { binary: 'enscript', pkg: 'enscript' },
  { binary: 'ps2pdf', pkg: 'ghostscript' },
  { binary: 'haproxy', pkg: 'haproxy' },
  { binary: 'promtool', pkg: 'prometheus' },
  { binary: 'shellcheck', pkg: 'shellcheck' },
];

/** The absolute path of `binary` on PATH (or in the sbin directories Debian keeps servers in), if any. */
export function findBinary(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'])) {
    if (!dir) continue;
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

/** The absolute path of `binary`; throws a one-line instruction naming the install script when it is missing. */
export function requireBinary(binary: string, pkg: string): string {
  const found = findBinary(binary);
  if (found) return found;
  throw new Error(`${binary} is not installed (Debian package ${pkg}): run ${INSTALL_SCRIPT} (as root, or with sudo available)`);
}

/** Every system binary the project needs; one error naming all that are missing and the install script. */
export function requireSystemBinaries(): void {
  const missing = SYSTEM_BINARIES.filter((b) => !findBinary(b.binary));
  if (missing.length === 0) return;
  const names = missing.map((b) => `${b.binary} (package ${b.pkg})`).join(', ');
  throw new Error(`missing system packages: ${names}. Run ${INSTALL_SCRIPT} once (as root, or with sudo available), then run the tests again.`);
}
