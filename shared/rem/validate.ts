// Semantic validation shared by every entry point (HTTP, replication, in-process use). The HTTP schemas check shapes;
// these checks hold for any caller: times are RFC 3339, ranges are ordered, embeddings have the tenant's dimension.
import { invalid, RemError } from './errors.js';
import { ID_PATTERN } from './ids.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses an RFC 3339 timestamp to epoch ms, or throws `invalid_request` naming the field. */
export function parseTime(value: unknown, field: string): number {
  if (typeof value !== 'string' || !RFC3339.test(value)) throw invalid(`${field} must be an RFC 3339 timestamp`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw invalid(`${field} is not a valid date`);
  return ms;
}

/**
 * A client's embedding as the float32 vector the indexes hold, scaled to unit length. Finiteness is checked after the
 * conversion to float32 (1e308 is a finite double but Infinity as a float), and the vector is normalised here in
 * float64 because hnswlib's cosine space sums squares in float32, which overflows from about 1e19 per component.
 * Cosine similarity does not change with length, so scores are those of the vector as sent.
 */
export function checkEmbedding(embedding: unknown, dimension: number, field: string): Float32Array {
  if (!Array.isArray(embedding) || embedding.length !== dimension) {
    throw new RemError('invalid_embedding', `${field} must be an array of ${dimension} numbers`);
  }
  const v = new Float32Array(dimension);
  let norm = 0;
  for (let i = 0; i < dimension; i++) {
    const x = embedding[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new RemError('invalid_embedding', `${field}[${i}] must be a finite number`);
    v[i] = x;
    const f = v[i]!;
    if (!Number.isFinite(f)) throw new RemError('invalid_embedding', `${field}[${i}] is out of the float32 range (|x| < 3.4e38)`);
    norm += f * f;
  }
  if (norm === 0) throw new RemError('invalid_embedding', `${field} must not be the zero vector (as float32)`);
  const inv = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimension; i++) v[i] = v[i]! * inv;
  return v;
}

/** Squared length above which hnswlib's float32 arithmetic overflows. */
const FLOAT32_SQUARED_NORM_MAX = 1e38;

/**
 * Checks a vector that arrives already in float32 (a replicated op's base64 vector): every component finite, not
 * the zero vector, and short enough that float32 arithmetic on it cannot overflow. Returns the problem, or undefined.
 */
export function vectorProblem(v: Float32Array): string | undefined {
  let norm = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) return `component ${i} is not finite`;
    norm += x * x;
  }
  if (norm === 0) return 'it is the zero vector';
  if (norm > FLOAT32_SQUARED_NORM_MAX) return 'its length overflows float32 arithmetic';
  return undefined;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkText(value: unknown, field: string, maxChars: number, { allowControl = false } = {}): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  if (value.length > maxChars) throw new RemError('limit_exceeded', `${field} exceeds ${maxChars} characters`);
  if (!allowControl && CONTROL.test(value)) throw invalid(`${field} must not contain control characters`);
  return value;
}

export function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) throw invalid(`${field} must be a 32-character hex id`);
  return value;
}

export function checkStringList(value: unknown, field: string, maxItems: number, maxChars: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${field} must be an array of strings`);
  if (value.length > maxItems) throw new RemError('limit_exceeded', `${field} has more than ${maxItems} items`);
  return value.map((v, i) => checkText(v, `${field}[${i}]`, maxChars));
}

export function checkObject(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${field} must be an object`);
  return value as Record<string, unknown>;
}
