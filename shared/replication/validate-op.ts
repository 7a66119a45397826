// Checks an op received from the bus or POST /api/v1/sync before it reaches the merge path: a malformed op is
// rejected as a whole (and, from the bus, terminated instead of redelivered forever).
import { invalid } from '../rem/errors.js';
import { ID_PATTERN } from '../rem/ids.js';
import { REM_KINDS, type RemKind } from '../rem/types.js';
import { isHlc } from './hlc.js';
import type { Op } from './ops.js';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

export function validateOp(raw: unknown, dimension: number, mutationsMax = 100_000): Op {
  if (!isObj(raw)) throw invalid('op must be an object');
  if (raw.v !== 1) throw invalid('op.v must be 1');
  if (!isStr(raw.op_id) || raw.op_id.length > 256) throw invalid('op.op_id must be a string');
  if (!isStr(raw.tenant)) throw invalid('op.tenant must be a string');
  if (!isStr(raw.node) || !/^[A-Za-z0-9_-]{1,64}$/.test(raw.node)) throw invalid('op.node must be a node id');
  if (!isHlc(raw.hlc) || !raw.hlc.endsWith('.' + raw.node)) throw invalid("op.hlc must be an HLC timestamp of op.node");
  if (!Array.isArray(raw.mutations) || raw.mutations.length === 0 || raw.mutations.length > mutationsMax) {
    throw invalid(`op.mutations must be an array of 1..${mutationsMax}`);
  }
  const vectorChars = Math.ceil((dimension * 4) / 3) * 4;
  raw.mutations.forEach((m: unknown, i: number) => {
    const f = `op.mutations[${i}]`;
    if (!isObj(m)) throw invalid(`${f} must be an object`);
    if (!REM_KINDS.includes(m.kind as RemKind)) throw invalid(`${f}.kind must be one of ${REM_KINDS.join(', ')}`);
    if (!isStr(m.id) || !ID_PATTERN.test(m.id)) throw invalid(`${f}.id must be a 32-character hex id`);
    if (m.type === 'delete') return;
    if (m.type !== 'put') throw invalid(`${f}.type must be put or delete`);
    if (m.kind === 'entities') {
      const d = m.delta;
      if (!isObj(d) || !isStr(d.type) || !isStr(d.key)) throw invalid(`${f}.delta needs type and key`);
      if (d.properties !== undefined && !isObj(d.properties)) throw invalid(`${f}.delta.properties must be an object`);
      for (const list of ['aliases', 'edges', 'edges_remove'] as const) {
        if (d[list] !== undefined && !Array.isArray(d[list])) throw invalid(`${f}.delta.${list} must be an array`);
      }
      for (const e of [...((d.edges as unknown[]) ?? []), ...((d.edges_remove as unknown[]) ?? [])]) {
        if (!isObj(e) || !isStr(e.rel) || !isStr(e.to) || !ID_PATTERN.test(e.to)) throw invalid(`${f}.delta edges need rel and a target id`);
      }
      if (d.embedding !== undefined && d.embedding !== null && (!isStr(d.embedding) || d.embedding.length !== vectorChars)) {
        throw invalid(`${f}.delta.embedding must be base64 of ${dimension} float32`);
      }
      return;
    }
    const r = m.record;
    if (!isObj(r) || r.id !== m.id) throw invalid(`${f}.record must be an object with the mutation's id`);
    if (!isStr(m.vector) || m.vector.length !== vectorChars) throw invalid(`${f}.vector must be base64 of ${dimension} float32`);
    if (m.kind === 'resources' && (!isStr(r.uri) || !isStr(r.content) || typeof r.chunk_ordinal !== 'number')) {
      throw invalid(`${f}.record must be a resource (uri, content, chunk_ordinal)`);
    }
    if (m.kind === 'moments' && (!isStr(r.summary) || !isStr(r.start_time))) throw invalid(`${f}.record must be a moment (summary, start_time)`);
  });
  return raw as unknown as Op;
}
