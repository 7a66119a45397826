// Key layout of the tenant store's secondary indexes. One place, so every reader and writer agrees.
// Separator \0 sorts before every printable character, so `a\0...` ranges never include `ab\0...`.

export const SEP = '\u0000';

/** Short names of the kinds in key prefixes (records' sublevels, version keys, record cache keys). */
export const KIND_SHORT = { resources: 'res', entities: 'ent', moments: 'mom' } as const;
// the highest code point: in LevelDB's byte order (UTF-8) it sorts above every other character, astral ones included
export const HIGH = '\u{10ffff}';

const pad = (n: number, width: number) => n.toString().padStart(width, '0');

/** Entity natural key: `ekey \0 type \0 key` (both normalised) -> id. */
export const entityKeyKey = (type: string, key: string) => `ekey${SEP}${type}${SEP}${key}`;
export const entityKeyPrefix = (key: string) => `ekeyx${SEP}${key}${SEP}`;
/** Any-type lookup by normalised key: `ekeyx \0 key \0 id`. */
export const entityKeyAnyType = (key: string, id: string) => `ekeyx${SEP}${key}${SEP}${id}`;
/** Names, keys and aliases for prefix and fuzzy lookup: `ename \0 normalised \0 id`. */
export const entityNameKey = (name: string, id: string) => `ename${SEP}${name}${SEP}${id}`;
export const ENTITY_NAME_PREFIX = `ename${SEP}`;

/** Resources in uri order: `ruri \0 uri \0 ordinal` -> id. */
export const resourceUriKey = (uri: string, ordinal: number) => `ruri${SEP}${uri}${SEP}${pad(ordinal, 10)}`;
export const RESOURCE_URI_PREFIX = `ruri${SEP}`;

/** Moments by start time: `mtime \0 epoch-ms \0 id` (epoch ms shifted to stay non-negative for old dates). */
const EPOCH_SHIFT = 62_135_596_800_000; // 0001-01-01
export const momentTimeKey = (startMs: number, id: string) => `mtime${SEP}${pad(startMs + EPOCH_SHIFT, 15)}${SEP}${id}`;
export const momentTimeBound = (ms: number) => `mtime${SEP}${pad(ms + EPOCH_SHIFT, 15)}`;
export const MOMENT_TIME_PREFIX = `mtime${SEP}`;

/** Reverse edges: `to \0 rel \0 from` -> weight. */
export const reverseEdgeKey = (to: string, rel: string, from: string) => `${to}${SEP}${rel}${SEP}${from}`;

export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, prefix: string): string | undefined {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  return key.startsWith(prefix) ? key : undefined;
}

/**
 * Schema-registry secondary indexes: `sidx \0 type \0 field \0 encoded value \0 id` -> id (type normalised).
 * Values are encoded so that key order is value order within one JSON type: booleans < numbers < strings.
 */
export const SCHEMA_INDEX_PREFIX = `sidx${SEP}`;
export const schemaIndexTypePrefix = (type: string) => `sidx${SEP}${type}${SEP}`;
export const schemaIndexFieldPrefix = (type: string, field: string) => `sidx${SEP}${type}${SEP}${field}${SEP}`;
export const schemaIndexKey = (type: string, field: string, encoded: string, id: string) =>
  `sidx${SEP}${type}${SEP}${field}${SEP}${encoded}${SEP}${id}`;
/** A schema's version (`ver`) and tombstone (`tomb`) key: `sch \0 type` (normalised), beside the records' own. */
export const schemaVersionKey = (type: string) => `sch${SEP}${type}`;
/** Longest string value kept in an index key; longer values share their prefix (readers re-check the record). */
export const INDEX_STRING_CHARS_MAX = 256;

/**
 * Order-preserving text encoding of an indexable value (`undefined` for values that are not indexed: null, objects).
 * Numbers: the IEEE-754 bits as 16 hex digits, sign bit flipped for positives and all bits flipped for negatives, so
 * that lexicographic order is numeric order (ranges work). Strings are kept as they are, truncated.
 */
export function encodeIndexValue(v: unknown): string | undefined {
  if (typeof v === 'boolean') return v ? 'b1' : 'b0';
  if (typeof v === 'string') return 's' + v.slice(0, INDEX_STRING_CHARS_MAX);
  if (typeof v === 'number' && Number.isFinite(v)) {
    const buf = Buffer.alloc(8);
    buf.writeDoubleBE(v === 0 ? 0 : v);
    if (buf[0]! & 0x80) for (let i = 0; i < 8; i++) buf[i] = ~buf[i]! & 0xff;
    else buf[0] = buf[0]! | 0x80;
    return 'n' + buf.toString('hex');
  }
  return undefined;
}
/** Exclusive upper bound for every key starting with `prefix` (above any UTF-8 encoded continuation, unlike HIGH). */
export const prefixEnd = (prefix: string) => `${prefix}\u{10ffff}`;
