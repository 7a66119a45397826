// The rules a record must satisfy, whoever sends it: a client through the write routes, or a peer through a
// replicated op (`/sync` or the bus). Local writes check inputs (what a client sends); replicated ops carry the
// stored form (a resource or moment record, an entity delta), which is checked here against the same limits, plus
// what the stored form adds: ids derived from the natural key, timestamps, and vectors.
import { invalid, RemError } from './errors.js';
import { ID_PATTERN, entityId, resourceId } from './ids.js';
import { normalizeKey } from './text.js';
import type { EdgeInput, EntityInput, EntityRef, MomentInput, ResourceInput } from './types.js';
import { checkEmbedding, checkId, checkObject, checkStringList, checkText, parseTime, vectorProblem } from './validate.js';

export const URI_CHARS_MAX = 2048;
export const NAME_CHARS_MAX = 1024;
export const CHUNK_ORDINAL_MAX = 1_000_000_000;
export const TYPE_CHARS_MAX = 128;
export const KEY_CHARS_MAX = 512;
export const ALIASES_MAX = 100;
export const EDGES_PER_WRITE_MAX = 1000;
/**
 * Entities one write may create as edge targets (edges to `{type, key}` that does not exist yet): each is a whole
 * entity to index and embed, so a batch of 1,000 entities with 1,000 new targets each must not become a million-entity
 * write that holds the tenant's write path (and the event loop) for seconds.
 */
export const EDGE_TARGETS_PER_WRITE_MAX = 1000;
export const REL_CHARS_MAX = 128;
export const LIST_ITEMS_MAX = 1000;
export const SHORT_TEXT_MAX = 1024;
export const MOMENT_TYPE_CHARS_MAX = 128;

export interface RecordLimits {
  contentCharsMax: number;
  /** The tenant's embedding dimension. */
  dimension: number;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---- inputs (local writes) ----

export interface CheckedResource {
  id: string;
  uri: string;
  ordinal: number;
  vector?: Float32Array;
}

export function checkResourceInput(input: ResourceInput, f: string, limits: RecordLimits): CheckedResource {
  if (!isObj(input)) throw invalid(`${f} must be an object`);
  const uri = checkText(input.uri, `${f}.uri`, URI_CHARS_MAX);
  if (uri.length === 0) throw invalid(`${f}.uri must not be empty`);
  checkText(input.content, `${f}.content`, limits.contentCharsMax, { allowControl: true });
  if (input.name !== undefined) checkText(input.name, `${f}.name`, NAME_CHARS_MAX);
  const ordinal = input.chunk_ordinal ?? 0;
  if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal > CHUNK_ORDINAL_MAX) {
    throw invalid(`${f}.chunk_ordinal must be an integer in [0, ${CHUNK_ORDINAL_MAX}]`);
  }
  checkObject(input.metadata, `${f}.metadata`);
  checkObject(input.source, `${f}.source`);
  const out: CheckedResource = { id: resourceId(uri, ordinal), uri, ordinal };
  if (input.embedding !== undefined) out.vector = checkEmbedding(input.embedding, limits.dimension, `${f}.embedding`);
  return out;
}

export interface CheckedMoment {
  startMs: number;
  vector?: Float32Array;
}

export function checkMomentInput(input: MomentInput, f: string, limits: RecordLimits): CheckedMoment {
  if (!isObj(input)) throw invalid(`${f} must be an object`);
  checkText(input.summary, `${f}.summary`, limits.contentCharsMax, { allowControl: true });
  const startMs = parseTime(input.start_time, `${f}.start_time`);
  if (input.end_time !== undefined && input.end_time !== null) {
    const endMs = parseTime(input.end_time, `${f}.end_time`);
    if (endMs < startMs) throw invalid(`${f}.end_time must not be before start_time`);
  }
  if (input.id !== undefined) checkText(input.id, `${f}.id`, SHORT_TEXT_MAX);
  if (input.name !== undefined) checkText(input.name, `${f}.name`, SHORT_TEXT_MAX);
  if (input.moment_type !== undefined) checkText(input.moment_type, `${f}.moment_type`, MOMENT_TYPE_CHARS_MAX);
  for (const list of ['tags', 'people', 'resource_ids', 'entity_ids'] as const) {
    checkStringList(input[list], `${f}.${list}`, LIST_ITEMS_MAX, SHORT_TEXT_MAX);
  }
  checkObject(input.metadata, `${f}.metadata`);
  const out: CheckedMoment = { startMs };
  if (input.embedding !== undefined) out.vector = checkEmbedding(input.embedding, limits.dimension, `${f}.embedding`);
  return out;
}

/** An entity type or key: text without control characters (they separate index keys), not blank once normalised. */
export function checkNaturalKey(value: unknown, field: string, maxChars: number): string {
  const s = checkText(value, field, maxChars);
  if (!normalizeKey(s)) throw invalid(`${field} must not be blank`);
  return s;
}

/** An edge relation: text without control characters (`\0` separates the reverse-edge index keys), not empty. */
export function checkRel(v: unknown, field: string): string {
  const rel = checkText(v, field, REL_CHARS_MAX);
  if (rel.length === 0) throw invalid(`${field} must not be empty`);
  return rel;
}

export function checkWeight(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${field} must be a finite number`);
  return v;
}

export function resolveEntityRef(ref: EntityRef, field: string): string {
  if (typeof ref === 'string') {
    if (!ID_PATTERN.test(ref)) throw invalid(`${field} must be an entity id (32 hex chars) or {"type","key"}`);
    return ref;
  }
  if (ref === null || typeof ref !== 'object') throw invalid(`${field} must be an entity id or {"type","key"}`);
  const type = checkText(ref.type, `${field}.type`, TYPE_CHARS_MAX);
  const key = checkText(ref.key, `${field}.key`, KEY_CHARS_MAX);
  if (!normalizeKey(type) || !normalizeKey(key)) throw invalid(`${field} type and key must not be blank`);
  return entityId(type, key);
}

/** The shape checks of an entity input; edge targets resolved to ids. */
export function checkEntityInput(input: EntityInput, f: string): {
  type: string;
  key: string;
  aliases: string[];
  properties: Record<string, unknown>;
  edges: { rel: string; to: string; properties: Record<string, unknown>; weight: number }[];
  removes: { rel: string; to: string }[];
} {
  if (!isObj(input)) throw invalid(`${f} must be an object`);
  const type = checkNaturalKey(input.type, `${f}.type`, TYPE_CHARS_MAX);
  const key = checkNaturalKey(input.key, `${f}.key`, KEY_CHARS_MAX);
  if (input.name !== undefined) checkText(input.name, `${f}.name`, KEY_CHARS_MAX);
  const aliases = checkStringList(input.aliases, `${f}.aliases`, ALIASES_MAX, KEY_CHARS_MAX);
  const properties = checkObject(input.properties, `${f}.properties`);
  const edgesIn = input.edges ?? [];
  const removesIn = input.edges_remove ?? [];
  if (!Array.isArray(edgesIn) || edgesIn.length > EDGES_PER_WRITE_MAX) throw invalid(`${f}.edges must be an array of at most ${EDGES_PER_WRITE_MAX}`);
  if (!Array.isArray(removesIn) || removesIn.length > EDGES_PER_WRITE_MAX) {
    throw invalid(`${f}.edges_remove must be an array of at most ${EDGES_PER_WRITE_MAX}`);
  }
  const edges = edgesIn.map((e: EdgeInput, j) => {
    const ef = `${f}.edges[${j}]`;
    if (!isObj(e)) throw invalid(`${ef} must be an object`);
    return {
      rel: checkRel(e.rel, `${ef}.rel`),
      to: resolveEntityRef(e.to, `${ef}.to`),
      properties: checkObject(e.properties, `${ef}.properties`),
      weight: checkWeight(e.weight ?? 1, `${ef}.weight`),
    };
  });
  const removes = removesIn.map((e, j) => {
    const ef = `${f}.edges_remove[${j}]`;
    if (!isObj(e)) throw invalid(`${ef} must be an object`);
    return { rel: checkRel(e.rel, `${ef}.rel`), to: resolveEntityRef(e.to, `${ef}.to`) };
  });
  return { type, key, aliases, properties, edges, removes };
}

// ---- stored forms (replicated ops) ----

/** Fields of each stored record, so a replicated record cannot smuggle in others. */
const RESOURCE_FIELDS = new Set(['id', 'uri', 'name', 'content', 'chunk_ordinal', 'metadata', 'source', 'created_at', 'updated_at']);
const MOMENT_FIELDS = new Set([
  'id', 'name', 'summary', 'moment_type', 'start_time', 'end_time', 'tags', 'people', 'resource_ids', 'entity_ids', 'metadata', 'created_at', 'updated_at',
]);
const DELTA_FIELDS = new Set(['type', 'key', 'name', 'aliases', 'properties', 'edges', 'edges_remove', 'embedding']);

function onlyFields(r: Record<string, unknown>, allowed: ReadonlySet<string>, f: string): void {
  for (const k of Object.keys(r)) if (!allowed.has(k)) throw invalid(`${f} has an unknown field '${k}'`);
}

function checkStoredTime(v: unknown, field: string): void {
  parseTime(v, field);
}

/** A replicated resource record: the input rules, an id derived from (uri, chunk_ordinal), and its two times. */
export function checkResourceRecord(r: unknown, id: string, f: string, limits: RecordLimits): void {
  if (!isObj(r)) throw invalid(`${f} must be an object`);
  onlyFields(r, RESOURCE_FIELDS, f);
  if (r.id !== id) throw invalid(`${f}.id must be the mutation's id`);
  if (typeof r.name !== 'string') throw invalid(`${f}.name must be a string`);
  if (typeof r.chunk_ordinal !== 'number') throw invalid(`${f}.chunk_ordinal must be a number`);
  if (!isObj(r.metadata)) throw invalid(`${f}.metadata must be an object`);
  const checked = checkResourceInput(r as unknown as ResourceInput, f, limits);
  if (checked.id !== id) throw invalid(`${f}.id is not derived from its uri and chunk_ordinal`);
  checkStoredTime(r.created_at, `${f}.created_at`);
  checkStoredTime(r.updated_at, `${f}.updated_at`);
}

/** A replicated moment record: the input rules and its two times (its id may come from an explicit id: not derivable). */
export function checkMomentRecord(r: unknown, id: string, f: string, limits: RecordLimits): void {
  if (!isObj(r)) throw invalid(`${f} must be an object`);
  onlyFields(r, MOMENT_FIELDS, f);
  if (r.id !== id) throw invalid(`${f}.id must be the mutation's id`);
  for (const field of ['name', 'moment_type'] as const) if (typeof r[field] !== 'string') throw invalid(`${f}.${field} must be a string`);
  for (const list of ['tags', 'people', 'resource_ids', 'entity_ids'] as const) {
    if (!Array.isArray(r[list])) throw invalid(`${f}.${list} must be an array of strings`);
  }
  if (!isObj(r.metadata)) throw invalid(`${f}.metadata must be an object`);
  const input = { ...r, id: undefined, end_time: r.end_time ?? undefined } as unknown as MomentInput;
  checkMomentInput(input, f, limits);
  checkStoredTime(r.created_at, `${f}.created_at`);
  checkStoredTime(r.updated_at, `${f}.updated_at`);
}

/** A replicated entity delta: the input rules, edge targets as ids, an id derived from (type, key), a valid vector. */
export function checkEntityDelta(d: unknown, id: string, f: string, limits: RecordLimits): void {
  if (!isObj(d)) throw invalid(`${f} must be an object`);
  onlyFields(d, DELTA_FIELDS, f);
  for (const list of ['edges', 'edges_remove'] as const) {
    if (d[list] === undefined) continue;
    if (!Array.isArray(d[list])) throw invalid(`${f}.${list} must be an array`);
    (d[list] as unknown[]).forEach((e, j) => {
      if (!isObj(e)) throw invalid(`${f}.${list}[${j}] must be an object`);
      checkId(e.to, `${f}.${list}[${j}].to`);
      if (list === 'edges') {
        if (!isObj(e.properties)) throw invalid(`${f}.edges[${j}].properties must be an object`);
        checkWeight(e.weight, `${f}.edges[${j}].weight`);
      }
    });
  }
  if (d.properties !== undefined && !isObj(d.properties)) throw invalid(`${f}.properties must be an object`);
  const checked = checkEntityInput({ ...d, embedding: undefined } as unknown as EntityInput, f);
  if (entityId(checked.type, checked.key) !== id) throw invalid(`${f} id is not derived from its type and key`);
  if (d.embedding !== undefined && d.embedding !== null) checkWireVector(d.embedding, limits.dimension, `${f}.embedding`);
}

const SCHEMA_DEFINITION_FIELDS = new Set(['type', 'schema', 'key_field', 'indexed_fields', 'embedding_fields', 'created_at', 'updated_at']);

/**
 * A replicated schema definition's shape: known fields of the right types, its type normalising to the mutation's
 * id, RFC 3339 times. What the schema itself may contain (patterns, uniqueItems, field paths) the store checks.
 */
export function checkSchemaDefinition(d: unknown, id: string, f: string): void {
  if (!isObj(d)) throw invalid(`${f} must be an object`);
  onlyFields(d, SCHEMA_DEFINITION_FIELDS, f);
  const type = checkNaturalKey(d.type, `${f}.type`, TYPE_CHARS_MAX);
  if (normalizeKey(type) !== id) throw invalid(`${f}.type does not normalise to the mutation's id`);
  if (!isObj(d.schema)) throw invalid(`${f}.schema must be an object`);
  if (d.key_field !== null && typeof d.key_field !== 'string') throw invalid(`${f}.key_field must be a string or null`);
  for (const list of ['indexed_fields', 'embedding_fields'] as const) {
    const v = d[list];
    if (!Array.isArray(v) || v.length > LIST_ITEMS_MAX || v.some((x) => typeof x !== 'string')) throw invalid(`${f}.${list} must be an array of strings`);
  }
  checkStoredTime(d.created_at, `${f}.created_at`);
  checkStoredTime(d.updated_at, `${f}.updated_at`);
}

/** The base64 float32 vector of a replicated op: the right length, and a vector the indexes can hold. */
export function checkWireVector(v: unknown, dimension: number, field: string): Float32Array {
  const bytes = dimension * 4;
  const chars = Math.ceil(bytes / 3) * 4;
  const refuse = () => new RemError('invalid_embedding', `${field} must be base64 of ${dimension} float32`);
  if (typeof v !== 'string' || v.length !== chars) throw refuse();
  // decoded straight into the vector's own memory: no intermediate buffer, no copy and no re-encoded string (a replica
  // decodes one vector per replicated record; the three allocations showed in op validation's profile)
  const vector = new Float32Array(dimension);
  const view = Buffer.from(vector.buffer, vector.byteOffset, bytes);
  // the decoder skips characters outside the alphabet, so a string of the exact length that decodes to every byte has
  // none; only the canonical encoding of what it decoded is accepted. Without padding (a dimension divisible by 3,
  // 384 among them) every character carries six bits of the result, so the one other spelling the decoder takes is
  // its URL-safe alphabet; with padding, the trailing bits must also be zero, checked by a native re-encoding
  if (view.write(v, 'base64') !== bytes) throw refuse();
  if (bytes % 3 === 0 ? v.includes('-') || v.includes('_') : view.toString('base64') !== v) throw refuse();
  const problem = vectorProblem(vector);
  if (problem) throw new RemError('invalid_embedding', `${field} is not a usable vector: ${problem}`);
  return vector;
}
