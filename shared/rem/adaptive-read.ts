// Reads of a few keys, synchronously when that is cheaper: LevelDB's synchronous get of a key in its block cache
// costs a few microseconds, while an async read (getMany) takes a trip through the thread pool and, in classic-level,
// a database snapshot taken on the main thread. Used by the store's record reads and the keyword index's statistics.

/**
 * Reads of at most this many keys use LevelDB's synchronous get: mostly served from its block cache, they cost a few
 * microseconds each, far less than an async round trip through the thread pool (blocking the loop that briefly is fine).
 */
const SYNC_READ_MAX = 64;
/**
 * ... and until they returned this many characters: decoding a value costs the main thread time in proportion to its
 * size, so a handful of megabyte records is read through the thread pool instead (the rest of the call, at least).
 */
const SYNC_READ_CHARS_MAX = 256 * 1024;

/** Values for `keys`: synchronously while few and small (see SYNC_READ_MAX), the rest in one async call. */
export async function readAdaptive(
  keys: readonly string[],
  getSync: (key: string) => string | undefined,
  getMany: (keys: string[]) => Promise<(string | undefined)[]>,
): Promise<(string | undefined)[]> {
  if (keys.length > SYNC_READ_MAX) return getMany([...keys]);
  const out: (string | undefined)[] = new Array(keys.length);
  let chars = 0;
  let i = 0;
  for (; i < keys.length && chars <= SYNC_READ_CHARS_MAX; i++) {
    const v = getSync(keys[i]!);
    out[i] = v;
    if (v !== undefined) chars += v.length;
  }
  if (i < keys.length) {
    const rest = await getMany(keys.slice(i));
    for (let n = 0; n < rest.length; n++) out[i + n] = rest[n];
  }
  return out;
}

