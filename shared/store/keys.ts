// Key layout of the tenant store's secondary indexes. One place, so every reader and writer agrees.
// Separator \0 sorts before every printable character, so `a\0...` ranges never include `ab\0...`.

export const SEP = '\u0000';
export const HIGH = '\uffff';

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
