// Builds replication ops in the wire format (as a peer, or a hostile client of POST /sync, would send them).
import { HashEmbedder } from '../../shared/embed/hash-embedder.js';
import { resourceId } from '../../shared/rem/ids.js';
import { encodeHlc } from '../../shared/rem/hlc.js';
import { encodeVector, type Mutation, type Op } from '../../shared/rem/ops.js';

const embedder = new HashEmbedder(384);

export const hlcAt = (wallMs: number, node: string, counter = 0) => encodeHlc({ wallMs, counter, node });

/** A put of one resource, as node `node` would publish it at `hlc` (the vector from the default embedder). */
export async function resourceOp(tenant: string, node: string, hlc: string, uri: string, content: string): Promise<Op> {
  const [v] = await embedder.embed([content]);
  return { v: 1, op_id: `${hlc}#0`, tenant, node, hlc, mutations: [resourcePut(uri, content, v!, new Date().toISOString())] };
}

function resourcePut(uri: string, content: string, vector: Float32Array, at: string): Mutation {
  const id = resourceId(uri, 0);
  const record = { id, uri, name: '', content, chunk_ordinal: 0, metadata: {}, created_at: at, updated_at: at };
  return { type: 'put', kind: 'resources', id, vector: encodeVector(vector), record };
}

/**
 * One op of peer `node` at `hlc`: puts of resources doc://<i> with the given content and vector, and deletes of them
 * where the content is null (as a replica receives them from the sync stream).
 */
export function docsOp(tenant: string, node: string, hlc: string, changes: readonly { i: number; content: string | null; vector?: Float32Array }[]): Op {
  const at = new Date().toISOString();
  const mutations = changes.map(({ i, content, vector }): Mutation => {
    if (content === null) return { type: 'delete', kind: 'resources', id: resourceId(`doc://${i}`, 0) };
    if (!vector) throw new Error(`doc://${i}: a put needs a vector`);
    return resourcePut(`doc://${i}`, content, vector, at);
  });
  return { v: 1, op_id: `${hlc}#0`, tenant, node, hlc, mutations };
}
