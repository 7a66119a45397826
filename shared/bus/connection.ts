// NATS connection with the settings every service wants: named, reconnecting forever, servers from config.
import { connect, type NatsConnection } from '@nats-io/transport-node';

export function parseServers(url: string): string[] {
  return url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function connectNats(servers: string | string[], name: string): Promise<NatsConnection> {
  return connect({
    servers: Array.isArray(servers) ? servers : parseServers(servers),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // keep publishing through short outages; the outbox holds what does not make it
    pingInterval: 10_000,
    // By default the client builds an Error (a stack trace) for every request and publish it starts, to show where a
    // timeout came from; at 1,000 writes/s that was 7 % of the writing node's CPU (profile of bench:replication). Our
    // errors carry their context (tenant, op, subject) in the log line instead.
    noAsyncTraces: true,
  });
}
