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

/**
 * One op of peer `node` at `hlc`: puts of resources doc://<i> with the given content and vector, and deletes of them
 * where the content is null (as a replica receives them from the sync stream).
 */
export function docsOp(tenant: string, node: string, hlc: string, changes: readonly { i: number; content: string | null; vector?: Float32Array }[]): Op {
  const at = new Date().toISOString();
  return {
    v: 1,
    op_id: `${hlc}#0`,
    tenant,
    node,
    hlc,
    mutations: changes.map(({ i, content, vector }) => {
      const id = resourceId(`doc://${i}`, 0);
      if (content === null) return { type: 'delete' as const, kind: 'resources' as const, id };
      if (!vector) throw new Error(`doc://${i}: a put needs a vector`);
      const record = { id, uri: `doc://${i}`, name: '', content, chunk_ordinal: 0, metadata: {}, created_at: at, updated_at: at };
      return { type: 'put' as const, kind: 'resources' as const, id, vector: encodeVector(vector), record };
    }),
  };
}
