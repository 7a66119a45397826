// The two numbers the scale simulation measures on this machine (bench/scale-sim.ts): the size of one op on the wire,
// and how many ops per second a node's replication applier gets through when it holds none of their tenants: the
// cost of an op a node receives and drops (the lifecycle issue's "apply only what this node holds"), through the
// real code path: a nats-server with the sync stream and a node's durable consumer as the node creates them
// (shared/bus/sync-stream.ts), the ops published as the outbox publisher does, and the SyncApplier reading them
// (msg.string(), decodeOpMessage, grouping per tenant, the tenant manager's answer "cold here", ack).
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { SYNC_STREAM, syncSubject } from '../../shared/bus/names.js';
import { ensureSyncConsumer, ensureSyncStream } from '../../shared/bus/sync-stream.js';
import { SyncApplier } from '../../shared/replication/applier.js';
import type { TenantManager } from '../../shared/store/tenant-manager.js';
import { startNats } from '../../test/support/nats.js';
import { hlcAt, resourceOp } from '../../test/support/ops.js';
import { waitFor } from '../../test/support/wait.js';

const ORIGIN_NODE = 'percolate-db-small-7';
const CHUNK_CHARS = 1000;

/** One op as a peer publishes it: a resource of a 1,000-character chunk (PERCOLATE_CHUNK_CHARS' default) and its vector. */
export async function representativeOp(tenant: string, counter = 0): Promise<string> {
  const words = ['memory', 'agent', 'tenant', 'search', 'vector', 'graph', 'moment', 'entity', 'resource', 'replica', 'snapshot', 'stream'];
  let content = '';
  for (let i = 0; content.length < CHUNK_CHARS; i++) content += `${words[(i * 7 + counter) % words.length]} `;
  const hlc = hlcAt(Date.UTC(2026, 11, 1), ORIGIN_NODE, counter);
  const op = await resourceOp(tenant, ORIGIN_NODE, hlc, `file://uploads/2026/report-${counter}.pdf`, content.slice(0, CHUNK_CHARS));
  return JSON.stringify(op);
}

export interface ReceiveOptions {
  ops: number;
  tenants: number;
  /** The node's settings: consumer (PERCOLATE_SYNC_INFLIGHT_MAX, _MAX_DELIVER, _ACK_WAIT_MS) and the JSON depth bound. */
  inflightMax: number;
  maxDeliver: number;
  ackWaitMs: number;
  syncMaxAgeMs: number;
  jsonDepthMax: number;
}

/**
 * Ops per second the applier receives, decodes, drops and acknowledges, all published before it starts: `rounds`
 * durable consumers read the same stream one after another (each a node catching up); the median and every round.
 */
export async function measureDropRate(o: ReceiveOptions, rounds: number, log: (msg: string) => void): Promise<{ opsPerS: number; rounds: number[]; ops: number }> {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  let applier: SyncApplier | undefined;
  try {
    const jsm = await jetstreamManager(nc);
    await ensureSyncStream(jsm, { maxAgeMs: o.syncMaxAgeMs, replicas: 1 });
    const js = jetstream(nc);
    // distinct op ids (the stream's duplicate window would drop repeats), the tenants in turn
    const texts: string[] = [];
    for (let t = 0; t < o.tenants; t++) texts.push(await representativeOp(`tenant-${t}`, t));
    const PUBLISH_BATCH = 256;
    for (let start = 0; start < o.ops; start += PUBLISH_BATCH) {
      const batch = [];
      for (let j = start; j < Math.min(o.ops, start + PUBLISH_BATCH); j++) {
        const t = j % o.tenants;
        const text = texts[t]!.replace(/"op_id":"([^"#]+)#0"/, `"op_id":"$1#${j}"`);
        batch.push(js.publish(syncSubject(`tenant-${t}`), text, { msgID: `${t}#${j}` }));
      }
      await Promise.all(batch);
    }
    log(`receive: ${o.ops} ops of ${o.tenants} tenants in the stream; ${rounds} consumers drop them in turn (no tenant held)`);
    // every tenant is cold on this node: the applier decodes, groups, asks, acknowledges
    const tenants = { useReplicated: async () => undefined } as unknown as TenantManager;
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const nodeId = `scale-sim-${r}`;
      const durable = await ensureSyncConsumer(jsm, nodeId, { inflightMax: o.inflightMax, maxDeliver: o.maxDeliver, ackWaitMs: o.ackWaitMs });
      applier = new SyncApplier({ nodeId, tenants, batchMax: 512, pullMax: Math.min(o.inflightMax, 1024), jsonDepthMax: o.jsonDepthMax });
      const t0 = performance.now();
      applier.start(() => js.consumers.get(SYNC_STREAM, durable));
      await waitFor(
        'every op acknowledged',
        async () => {
          const info = await jsm.consumers.info(SYNC_STREAM, durable);
          if (info.ack_floor.stream_seq < o.ops) throw new Error(`acknowledged up to ${info.ack_floor.stream_seq} of ${o.ops}`);
          return true;
        },
        120_000,
        20,
      );
      rates.push(o.ops / ((performance.now() - t0) / 1000));
      await applier.stop();
      applier = undefined;
    }
    const sorted = [...rates].sort((a, b) => a - b);
    return { opsPerS: sorted[Math.floor(sorted.length / 2)]!, rounds: rates, ops: o.ops };
  } finally {
    await applier?.stop();
    await nc.close();
    await nats.cleanup();
  }
}
