// nats-server command lines (JetStream, optionally a cluster with routes to its peers) and the health checks the
// stacks and the tests wait on: the monitoring endpoint answering, and a JetStream meta leader once a cluster formed.
import { RetryExhaustedError, retry } from '../../shared/rem/retry.js';

export interface NatsServerSpec {
  /** Server name (-n): also how JetStream names a stream's or consumer's leader. */
  name: string;
  host: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  cluster?: { name: string; port: number; routes: number[] };
}

export function natsServerArgs(spec: NatsServerSpec): string[] {
  const a = ['-a', spec.host, '-p', String(spec.port), '-m', String(spec.monitorPort), '-js', '-sd', spec.storeDir, '-n', spec.name];
  if (spec.cluster) {
    a.push('--cluster_name', spec.cluster.name, '--cluster', `nats://${spec.host}:${spec.cluster.port}`);
    a.push('--routes', spec.cluster.routes.map((p) => `nats://${spec.host}:${p}`).join(','));
  }
  return a;
}

/**
 * Polls /jsz of the server's monitoring port until it answers, and, with `needLeader`, until the JetStream meta
 * group has a leader (a cluster's streams cannot be created before).
 */
export async function waitNatsHealthy(host: string, monitorPort: number, o: { timeoutMs: number; needLeader: boolean; signal?: AbortSignal }): Promise<void> {
  try {
    await retry(
      async () => {
        const res = await fetch(`http://${host}:${monitorPort}/jsz`, { signal: AbortSignal.timeout(2_000) });
        if (!res.ok) throw new Error(`/jsz answered ${res.status}`);
        const jsz = (await res.json()) as { meta_cluster?: { leader?: string } };
        if (o.needLeader && !jsz.meta_cluster?.leader) throw new Error('no JetStream meta leader yet');
      },
      { initialMs: 100, factor: 1, deadlineMs: o.timeoutMs, ...(o.signal ? { signal: o.signal } : {}) },
    );
  } catch (err) {
    if (err instanceof RetryExhaustedError) {
      throw new Error(`nats-server on monitor port ${monitorPort} was not healthy${o.needLeader ? ' with a JetStream meta leader' : ''} within ${o.timeoutMs} ms: ${(err.cause as Error)?.message ?? err.message}`);
    }
    throw err;
  }
}
