// Connection and request time limits of a service's HTTP server, from configuration. Without them a client that
// sends its request one byte at a time holds a socket forever, and a few thousand such clients exhaust the node's
// file descriptors for every tenant.
import type { FastifyInstance } from 'fastify';
import type { HttpLimits } from '../config/http-config.js';

/** The fastify constructor options that carry the limits. */
export function serverTimeoutOptions(l: HttpLimits): {
  requestTimeout: number;
  connectionTimeout: number;
  keepAliveTimeout: number;
  http: { connectionsCheckingInterval: number };
} {
  // node enforces request and header timeouts only when it sweeps its connections (every 30 s by default): sweep
  // often enough that a timeout is enforced within about a quarter of itself
  const shortest = Math.min(l.headersTimeoutMs, l.requestTimeoutMs > 0 ? l.requestTimeoutMs : Infinity);
  const connectionsCheckingInterval = Math.max(100, Math.min(30_000, Math.floor(shortest / 4)));
  return {
    requestTimeout: l.requestTimeoutMs,
    connectionTimeout: l.connectionTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    http: { connectionsCheckingInterval },
  };
}

/** The limits node:http takes on the server object itself (fastify has no options for them). */
export function applyServerLimits(app: FastifyInstance, l: HttpLimits): void {
  // node requires headersTimeout <= requestTimeout when the latter is set
  app.server.headersTimeout = l.requestTimeoutMs > 0 ? Math.min(l.headersTimeoutMs, l.requestTimeoutMs) : l.headersTimeoutMs;
  app.server.maxConnections = l.connectionsMax;
}
