// Checks an op received from the bus or POST /api/v1/sync before it reaches the merge path. A peer is treated like a
// client: every mutation's record must satisfy the rules of the public write routes (shared/rem/rules.ts), its
// timestamp must not be ahead of this node's clock by more than the drift bound, and no key may be `__proto__`.
// An invalid op is refused as a whole (from the bus: terminated and counted, instead of redelivered forever).
import { RemError } from './errors.js';
import { ID_PATTERN } from './ids.js';
import { inspectJson } from './json-guard.js';
import { checkEntityDelta, checkMomentRecord, checkResourceRecord, checkSchemaDefinition, checkWireVector, type RecordLimits } from './rules.js';
import { normalizeKey } from './text.js';
import { REM_KINDS, type RemKind } from './types.js';
import { ClockDriftError, isHlc, type HybridLogicalClock } from './hlc.js';
import { keepDecodedVector, type Mutation, type Op, type SchemaDefinition } from './ops.js';

/** Why an op was refused, for `percolate_replication_apply_errors_total{reason}`. */
export type OpRejectReason = 'malformed' | 'clock_drift';

export class OpRejected extends RemError {
  constructor(
    readonly reason: OpRejectReason,
    message: string,
  ) {
    super('invalid_op', message);
  }
}

export interface OpRules extends RecordLimits {
  /** The node's clock: timestamps further ahead than its drift bound are refused. */
  clock: HybridLogicalClock;
  /** Deepest nesting of an op's JSON. */
  jsonDepthMax: number;
  mutationsMax?: number;
  /**
   * What a schema definition may contain, as PUT /schemas checks it (the store's rules: patterns, uniqueItems, field
   * paths, a schema ajv compiles); throws a RemError. Without it schema ops are refused.
   */
  checkSchema?: (definition: SchemaDefinition) => void;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const bad = (message: string) => new OpRejected('malformed', message);

/** The rules for ops of one tenant store (its dimension and limits, the node's clock). */
export function opRulesFor(store: {
  clock: HybridLogicalClock;
  dimension: number;
  limits: { contentCharsMax: number; jsonDepthMax: number };
}): OpRules {
  return { clock: store.clock, dimension: store.dimension, contentCharsMax: store.limits.contentCharsMax, jsonDepthMax: store.limits.jsonDepthMax };
}

export function validateOp(raw: unknown, rules: OpRules): Op {
  const mutationsMax = rules.mutationsMax ?? 100_000;
  if (!isObj(raw)) throw bad('op must be an object');
  // `+ 3`: the op, its mutation list and the mutation wrap the record, which gets the same depth as a request body;
  // and the merge path and the CRDT copy records with ordinary objects: `__proto__` must never reach them
  const shape = inspectJson(raw, rules.jsonDepthMax + 3);
  if (shape.tooDeep) throw bad(`op nests deeper than the JSON depth bound (${rules.jsonDepthMax})`);
  if (shape.protoPath) throw bad(`op${shape.protoPath}: the key __proto__ is not accepted`);
  if (raw.v !== 1) throw bad('op.v must be 1');
  if (!isStr(raw.op_id) || raw.op_id.length > 256) throw bad('op.op_id must be a string');
  if (!isStr(raw.tenant)) throw bad('op.tenant must be a string');
  if (!isStr(raw.node) || !/^[A-Za-z0-9_-]{1,64}$/.test(raw.node)) throw bad('op.node must be a node id');
  if (!isHlc(raw.hlc) || !raw.hlc.endsWith('.' + raw.node)) throw bad('op.hlc must be an HLC timestamp of op.node');
  try {
    rules.clock.checkRemote(raw.hlc);
  } catch (err) {
    if (err instanceof ClockDriftError) throw new OpRejected('clock_drift', `op.hlc: ${err.message}`);
    throw err;
  }
  if (!Array.isArray(raw.mutations) || raw.mutations.length === 0 || raw.mutations.length > mutationsMax) {
    throw bad(`op.mutations must be an array of 1..${mutationsMax}`);
  }
  const schemaOp = isObj(raw.mutations[0]) && raw.mutations[0].kind === 'schemas';
  // a schema change travels alone: applying it rebuilds the type's indexes, apart from any record batch
  if (schemaOp && raw.mutations.length !== 1) throw bad('op.mutations: a schema op carries exactly one mutation');
  for (let i = 0; i < raw.mutations.length; i++) {
    const f = `op.mutations[${i}]`;
    try {
      if (schemaOp) checkSchemaMutation(raw.mutations[i], f, rules);
      else checkMutation(raw.mutations[i], f, rules);
    } catch (err) {
      if (err instanceof OpRejected) throw err;
      if (err instanceof RemError) throw bad(err.message.startsWith(f) ? err.message : `${f}: ${err.message}`);
      throw err;
    }
  }
  return raw as unknown as Op;
}

function checkSchemaMutation(m: unknown, f: string, rules: OpRules): void {
  if (!isObj(m)) throw bad(`${f} must be an object`);
  if (!isStr(m.id) || m.id.length === 0 || m.id.length > 128 || normalizeKey(m.id) !== m.id) throw bad(`${f}.id must be a normalised entity type`);
  if (m.type === 'delete') {
    if (Object.keys(m).some((k) => k !== 'type' && k !== 'kind' && k !== 'id')) throw bad(`${f}: a delete carries type, kind and id only`);
    return;
  }
  if (m.type !== 'put') throw bad(`${f}.type must be put or delete`);
  if (Object.keys(m).some((k) => k !== 'type' && k !== 'kind' && k !== 'id' && k !== 'definition')) throw bad(`${f}: a schema put carries type, kind, id and definition only`);
  checkSchemaDefinition(m.definition, m.id, `${f}.definition`);
  if (!rules.checkSchema) throw bad(`${f}: schema ops are not accepted here`);
  rules.checkSchema(m.definition as unknown as SchemaDefinition);
}

function checkMutation(m: unknown, f: string, rules: OpRules): void {
  if (!isObj(m)) throw bad(`${f} must be an object`);
  if (!REM_KINDS.includes(m.kind as RemKind)) throw bad(`${f}.kind must be one of ${REM_KINDS.join(', ')}`);
  if (!isStr(m.id) || !ID_PATTERN.test(m.id)) throw bad(`${f}.id must be a 32-character hex id`);
  if (m.type === 'delete') {
    if (Object.keys(m).some((k) => k !== 'type' && k !== 'kind' && k !== 'id')) throw bad(`${f}: a delete carries type, kind and id only`);
    return;
  }
  if (m.type !== 'put') throw bad(`${f}.type must be put or delete`);
  if (m.kind === 'entities') {
    checkEntityDelta(m.delta, m.id, `${f}.delta`, rules);
    return;
  }
  keepDecodedVector(m as unknown as Mutation, checkWireVector(m.vector, rules.dimension, `${f}.vector`));
  if (m.kind === 'resources') checkResourceRecord(m.record, m.id, `${f}.record`, rules);
  else checkMomentRecord(m.record, m.id, `${f}.record`, rules);
}
