// Builds replication ops in the wire format (as a peer, or a hostile client of POST /sync, would send them).
import { HashEmbedder } from '../../shared/embed/hash-embedder.js';
import { resourceId } from '../../shared/rem/ids.js';
import { encodeHlc } from '../../shared/rem/hlc.js';
import { encodeVector, type Op } from '../../shared/rem/ops.js';

const embedder = new HashEmbedder(384);

export const hlcAt = (wallMs: number, node: string, counter = 0) => encodeHlc({ wallMs, counter, node });

/** A put of one resource, as node `node` would publish it at `hlc` (the vector from the default embedder). */
export async function resourceOp(tenant: string, node: string, hlc: string, uri: string, content: string): Promise<Op> {
  const [v] = await embedder.embed([content]);
  const id = resourceId(uri, 0);
  const at = new Date().toISOString();
  return {
    v: 1,
    op_id: `${hlc}#0`,
    tenant,
    node,
    hlc,
    mutations: [
      { type: 'put', kind: 'resources', id, vector: encodeVector(v!), record: { id, uri, name: '', content, chunk_ordinal: 0, metadata: {}, created_at: at, updated_at: at } },
    ],
  };
}
