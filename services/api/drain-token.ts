// The drain token: a random secret the node writes to `<data dir>/drain.token` (mode 0600) at every start. The
// Kubernetes preStop hook (scripts/drain.ts, in the same container) reads it and sends it with POST /health/drain, so
// only something with access to the node's data volume can make it stop taking traffic: not a client, and not a
// request relayed by a sidecar (under Istio every inbound request reaches the node from a loopback address).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export const DRAIN_TOKEN_FILE = 'drain.token';

export async function writeDrainToken(dataDir: string): Promise<string> {
  const token = randomBytes(32).toString('hex');
  const file = path.join(dataDir, DRAIN_TOKEN_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, token + '\n', { mode: 0o600 });
  await fs.rename(tmp, file);
  return token;
}

export function drainTokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}
