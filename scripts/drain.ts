// The database pod's preStop hook: asks the node in this container to drain (stop taking traffic, publish its
// outboxes, snapshot its hot tenants) and waits for it, so Kubernetes' SIGTERM finds nothing left to lose.
//
//   node dist/scripts/drain.js        (PERCOLATE_DATA_DIR for the token, PORT for the node; defaults ./data, 8080)
//
// Exit 0 when drained, 1 when the node could not be asked (the SIGTERM that follows drains anyway).
import fs from 'node:fs/promises';
import path from 'node:path';
import { DRAIN_TOKEN_FILE } from '../services/api/drain-token.js';

const dataDir = path.resolve(process.env.PERCOLATE_DATA_DIR || './data');
const port = Number(process.env.PORT || 8080);

async function main(): Promise<number> {
  const token = (await fs.readFile(path.join(dataDir, DRAIN_TOKEN_FILE), 'utf8')).trim();
  const res = await fetch(`http://127.0.0.1:${port}/health/drain`, { method: 'POST', headers: { 'x-drain-token': token } });
  const body = await res.text();
  console.log(`percolate drain: ${res.status} ${body}`);
  return res.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`percolate drain: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
