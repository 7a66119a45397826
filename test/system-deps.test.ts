// System packages: the TypeScript check, the install script and CI agree on what is needed, and a missing binary
// fails with a message that names the install script. The README's test line is what CI runs.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { INSTALL_SCRIPT, SYSTEM_BINARIES, findBinary, requireBinary } from '../scripts/system-deps.js';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

/** The elements of a bash array assignment `NAME=(a b c)` in the install script. */
function bashArray(script: string, name: string): string[] {
  const m = new RegExp(`^${name}=\\(([^)]*)\\)`, 'm').exec(script);
  if (!m) throw new Error(`no ${name}=(...) in ${INSTALL_SCRIPT}`);
  return m[1]!.trim().split(/\s+/);
}

describe('system packages', () => {
  it('are the same list in scripts/system-deps.ts and the install script', () => {
    const script = read(INSTALL_SCRIPT);
    expect(bashArray(script, 'BINARIES')).toEqual(SYSTEM_BINARIES.map((b) => b.binary));
    expect(bashArray(script, 'PACKAGES')).toEqual(SYSTEM_BINARIES.map((b) => b.pkg));
    expect(fs.statSync(path.join(ROOT, INSTALL_SCRIPT)).mode & 0o111).not.toBe(0); // executable
  });

  it('a missing binary is an error naming its package and the install script', () => {
    expect(findBinary('percolate-no-such-binary')).toBeUndefined();
    expect(() => requireBinary('percolate-no-such-binary', 'percolate-pkg')).toThrow(
      `percolate-no-such-binary is not installed (Debian package percolate-pkg): run ${INSTALL_SCRIPT}`,
    );
    expect(findBinary('sh')).toMatch(/\/sh$/);
  });

  it('CI installs them, then runs exactly the README test line', () => {
    const ci = read('.ci/run').split('\n').map((l) => l.trim());
    const quickStart = read('README.md').split(/^## /m).find((s) => s.startsWith('Quick start'))!;
    const testLine = /^(npm install && npm test)\b/m.exec(quickStart)?.[1];
    expect(testLine).toBe('npm install && npm test');
    const install = ci.findIndex((l) => l === `bash ${INSTALL_SCRIPT}`);
    const test = ci.indexOf(testLine!);
    expect(install).toBeGreaterThanOrEqual(0);
    expect(test).toBeGreaterThan(install);
    expect(quickStart).toContain(INSTALL_SCRIPT);
  });
});
