// The connection and request time limits every HTTP service reads, each service with its own defaults.
import { ConfigError, intFrom } from './env.js';

export interface HttpLimits {
  /** Whole request (headers and body) must arrive within this; slow senders are cut off (0: no limit). */
  requestTimeoutMs: number;
  /** Request headers must arrive within this. */
  headersTimeoutMs: number;
  /** A socket idle this long is closed (0: no limit). */
  connectionTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; more are refused by the server. */
  connectionsMax: number;
  /** Answers at least this large are compressed (br or gzip, as the client accepts); 0 = never. */
  compressBytesMin: number;
}

/** What each service chooses for itself; the rest is the same everywhere. */
export type HttpLimitDefaults = Omit<HttpLimits, 'compressBytesMin'>;

/** The HTTP limits shared by every service, with the service's own defaults (the gateway takes long uploads). */
export function httpLimitsFrom(env: NodeJS.ProcessEnv, defaults: HttpLimitDefaults): HttpLimits {
  const l: HttpLimits = {
    requestTimeoutMs: intFrom(env, 'PERCOLATE_HTTP_REQUEST_TIMEOUT_MS', defaults.requestTimeoutMs, 0, 24 * 3600_000),
    headersTimeoutMs: intFrom(env, 'PERCOLATE_HTTP_HEADERS_TIMEOUT_MS', defaults.headersTimeoutMs, 100, 600_000),
    connectionTimeoutMs: intFrom(env, 'PERCOLATE_HTTP_CONNECTION_TIMEOUT_MS', defaults.connectionTimeoutMs, 0, 24 * 3600_000),
    keepAliveTimeoutMs: intFrom(env, 'PERCOLATE_HTTP_KEEP_ALIVE_TIMEOUT_MS', defaults.keepAliveTimeoutMs, 100, 600_000),
    connectionsMax: intFrom(env, 'PERCOLATE_HTTP_CONNECTIONS_MAX', defaults.connectionsMax, 1, 1_000_000),
    compressBytesMin: intFrom(env, 'PERCOLATE_HTTP_COMPRESS_BYTES_MIN', 1024, 0, 2 ** 30),
  };
  // measured on Node 20: with a request timeout at or below the idle timeout, node:http's connection sweep keeps a
  // socket that never sends a byte open indefinitely (neither timeout fires); below it, the idle timeout closes it
  if (l.requestTimeoutMs > 0 && l.connectionTimeoutMs >= l.requestTimeoutMs) {
    throw new ConfigError(
      `PERCOLATE_HTTP_CONNECTION_TIMEOUT_MS (${l.connectionTimeoutMs}) must be below PERCOLATE_HTTP_REQUEST_TIMEOUT_MS (${l.requestTimeoutMs})`,
    );
  }
  return l;
}
