// Init container of the database pods: writes the zone of the node the pod runs on (its topology.kubernetes.io/zone
// label) to a file, which the node's command exports as PERCOLATE_ZONE. The downward API exposes the pod's fields,
// not its node's labels, so this reads the node object from the API server with the pod's service account (get on
// nodes, ClusterRole percolate-node-reader), using only Node's standard library (the percolate-api image).
//
//   node zone-from-node.mjs <output file> [--api https://kubernetes.default.svc] [--account-dir <dir>]
//   NODE_NAME: the node (downward API spec.nodeName); the account directory holds token and ca.crt
//   (default /var/run/secrets/kubernetes.io/serviceaccount, where the pod mounts them)
//
// Exit 0 with the zone written (empty when the node has no zone label: the node then says no zone), 1 when the API
// server could not be asked: the pod does not start with a zone that is silently wrong.
import fs from 'node:fs';
import https from 'node:https';
import { parseArgs } from 'node:util';

const ZONE_LABEL = 'topology.kubernetes.io/zone';
const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { api: { type: 'string', default: 'https://kubernetes.default.svc' }, 'account-dir': { type: 'string', default: '/var/run/secrets/kubernetes.io/serviceaccount' } },
});
const REQUEST_TIMEOUT_MS = 10_000;
const BODY_BYTES_MAX = 1024 * 1024;
/** The values PERCOLATE_ZONE accepts (shared/config/config.ts): a label value. */
const ZONE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function getNode(name) {
  const token = fs.readFileSync(`${opts['account-dir']}/token`, 'utf8').trim();
  const ca = fs.readFileSync(`${opts['account-dir']}/ca.crt`);
  const url = new URL(`/api/v1/nodes/${encodeURIComponent(name)}`, opts.api);
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      { ca, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks = [];
        let bytes = 0;
        res.on('data', (c) => {
          bytes += c.length;
          if (bytes > BODY_BYTES_MAX) req.destroy(new Error(`node object larger than ${BODY_BYTES_MAX} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`GET node ${name}: HTTP ${res.statusCode} ${body.slice(0, 300)}`));
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new Error(`GET node ${name}: the answer is not JSON`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET node ${name}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

async function main() {
  const out = positionals[0];
  const nodeName = process.env.NODE_NAME;
  if (!out || !nodeName) throw new Error('usage: NODE_NAME=<node> node zone-from-node.mjs <output file> [--api URL] [--account-dir DIR]');
  const node = await getNode(nodeName);
  const zone = node?.metadata?.labels?.[ZONE_LABEL] ?? '';
  if (zone !== '' && !ZONE_PATTERN.test(zone)) throw new Error(`node ${nodeName}: ${ZONE_LABEL} '${zone}' is not a label value PERCOLATE_ZONE accepts`);
  if (zone === '') console.warn(`zone-from-node: node ${nodeName} has no ${ZONE_LABEL} label; PERCOLATE_ZONE stays empty`);
  fs.writeFileSync(out, zone);
  console.log(`zone-from-node: node ${nodeName} is in zone '${zone}'`);
}

main().catch((err) => {
  console.error(`zone-from-node: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
