// The node's Prometheus metrics (prom-client), in one registry per process so tests can build several apps.
import client from 'prom-client';
import { createAccessMetrics, type AccessMetrics } from './access-metrics.js';
import { createChatMetrics, type ChatMetrics } from './chat-metrics.js';
import { createLifecycleMetrics, type LifecycleMetrics } from './lifecycle-metrics.js';

export interface NodeMetrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  searchDuration: client.Histogram<'mode'>;
  writes: client.Counter<'kind' | 'op'>;
  openTenants: client.Gauge;
  activeTenants: client.Gauge<'tier'>;
  replicationLag: client.Histogram;
  opsPublished: client.Counter;
  opsApplied: client.Counter<'result'>;
  replicationConflicts: client.Counter<'kind'>;
  applyErrors: client.Counter<'reason'>;
  consumerEvents: client.Counter<'event'>;
  hlcRefused: client.Counter<'source'>;
  outboxDepth: client.Gauge;
  vectorsPending: client.Gauge;
  vectorsBacklog: client.Gauge;
  keywordBacklog: client.Gauge;
  tenantsMemoryEstimate: client.Gauge;
  engineDegraded: client.Counter<'event'>;
  access: AccessMetrics;
  lifecycle: LifecycleMetrics;
  chat: ChatMetrics;
}

export function createNodeMetrics(opts: {
  tier: string;
  openTenants: () => number;
  activeTenants: () => number;
  outboxDepth?: () => number;
  vectorsPending?: () => number;
  vectorsBacklog?: () => number;
  keywordBacklog?: () => number;
  /** Sum of the open tenants' memory estimates (TenantManager.memoryEstimateBytes). */
  tenantsMemoryEstimate?: () => number;
  /** Tenants by presence level (TenantManager.stateCounts). */
  tenantStates?: () => Record<'hot' | 'warm' | 'cold', number>;
  defaultMetrics?: boolean;
}): NodeMetrics {
  const registry = new client.Registry();
  if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry, prefix: 'percolate_' });
  const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  // requests include chat answers from a model and long streams: seconds to a minute must not all land in +Inf
  const httpBuckets = [...buckets, 10, 30, 60];
  return {
    registry,
    httpDuration: new client.Histogram({
      name: 'percolate_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: httpBuckets,
      registers: [registry],
    }),
    searchDuration: new client.Histogram({
      name: 'percolate_search_duration_seconds',
      help: 'Search latency inside the engine by mode',
      labelNames: ['mode'],
      buckets,
      registers: [registry],
    }),
    writes: new client.Counter({
      name: 'percolate_records_written_total',
      help: 'Records written by kind and operation',
      labelNames: ['kind', 'op'],
      registers: [registry],
    }),
    openTenants: new client.Gauge({
      name: 'percolate_open_tenant_stores',
      help: 'Tenant stores currently open on this node',
      registers: [registry],
      collect() {
        this.set(opts.openTenants());
      },
    }),
    activeTenants: new client.Gauge({
      name: 'percolate_active_tenants',
      help: 'Tenants with a request within PERCOLATE_ACTIVE_WINDOW_S (5 minutes by default), by tier (KEDA scales database nodes on it)',
      labelNames: ['tier'],
      registers: [registry],
      collect() {
        this.set({ tier: opts.tier }, opts.activeTenants());
      },
    }),
    replicationLag: new client.Histogram({
      name: 'percolate_replication_lag_seconds',
      help: 'Time from an op\'s HLC (its write on the origin node) to its apply on this node',
      buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    opsPublished: new client.Counter({
      name: 'percolate_replication_ops_published_total',
      help: 'Ops published to JetStream and acknowledged',
      registers: [registry],
    }),
    opsApplied: new client.Counter({
      name: 'percolate_replication_ops_applied_total',
      help: 'Replicated mutations applied (changed state), skipped (already reflected), cold (ops of tenants cold on this node, left to the stream for their next restore) or replayed (ops a restore of the tenant read from the stream already, acknowledged unread; counted per op)',
      labelNames: ['result'],
      registers: [registry],
    }),
    replicationConflicts: new client.Counter({
      name: 'percolate_replication_conflicts_total',
      help: 'Replicated mutations that lost last-writer-wins to a newer write or delete of the same record (concurrent writes on two nodes, or a late delivery), by kind; replays are not counted',
      labelNames: ['kind'],
      registers: [registry],
    }),
    applyErrors: new client.Counter({
      name: 'percolate_replication_apply_errors_total',
      help: 'Replicated ops from the bus that failed to apply: malformed (terminated), clock_drift (terminated), store_error (redelivered)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    consumerEvents: new client.Counter({
      name: 'percolate_replication_consumer_events_total',
      help: "Trouble reported by this node's JetStream consumer of the sync stream: heartbeats_missed, consumer_not_found, consumer_deleted, stream_not_found, exceeded_limits, no_responders; stalled (nothing received for a check interval while the server held messages for it), apply_slow (a batch still applying after a minute) and restarted (the subscription ended without a stop and was opened again)",
      labelNames: ['event'],
      registers: [registry],
    }),
    hlcRefused: new client.Counter({
      name: 'percolate_hlc_refused_total',
      help: 'Timestamps refused for being further ahead of this node\'s clock than PERCOLATE_HLC_MAX_DRIFT_MS, by where they came from (sync, applier, replay: a restore replaying the stream, persisted)',
      labelNames: ['source'],
      registers: [registry],
    }),
    outboxDepth: new client.Gauge({
      name: 'percolate_replication_outbox_depth',
      help: 'Local ops waiting in open tenants\' outboxes',
      registers: [registry],
      collect() {
        this.set(opts.outboxDepth?.() ?? 0);
      },
    }),
    vectorsPending: new client.Gauge({
      name: 'percolate_vectors_pending_insert',
      help: 'Committed vectors of open tenants waiting for HNSW insertion (searched exactly until inserted)',
      registers: [registry],
      collect() {
        this.set(opts.vectorsPending?.() ?? 0);
      },
    }),
    vectorsBacklog: new client.Gauge({
      name: 'percolate_vectors_backlog',
      help: 'Vectors of open tenants logged but not yet moved towards their HNSW graph (graphs on demand: tenants replicated here and not served)',
      registers: [registry],
      collect() {
        this.set(opts.vectorsBacklog?.() ?? 0);
      },
    }),
    keywordBacklog: new client.Gauge({
      name: 'percolate_keyword_backlog',
      help: 'Records of open tenants committed but not yet in their keyword postings (postings on demand: tenants not keyword-searched here)',
      registers: [registry],
      collect() {
        this.set(opts.keywordBacklog?.() ?? 0);
      },
    }),
    tenantsMemoryEstimate: new client.Gauge({
      name: 'percolate_tenants_memory_estimate_bytes',
      help: 'Estimated memory held by open tenant stores (HNSW graphs, label maps, pending vectors, caches, LevelDB memtables and block cache); compare percolate_process_resident_memory_bytes',
      registers: [registry],
      collect() {
        this.set(opts.tenantsMemoryEstimate?.() ?? 0);
      },
    }),
    access: createAccessMetrics(registry),
    chat: createChatMetrics(registry),
    lifecycle: createLifecycleMetrics(registry, opts.tenantStates ?? (() => ({ hot: opts.openTenants(), warm: 0, cold: 0 }))),
    engineDegraded: new client.Counter({
      name: 'percolate_engine_degraded_total',
      help: 'Degraded paths the engine took, by event (vector_index_rebuilt, checkpoint_failed, tenant_close_failed, ...: shared/rem/observer.ts DEGRADED_EVENTS); each is also logged',
      labelNames: ['event'],
      registers: [registry],
    }),
  };
}

/** Counts what a batch of replicated ops did: mutations applied and skipped, and conflicts by kind. */
export function countReplicated(metrics: NodeMetrics, result: { applied: number; skipped: number; conflicts?: Partial<Record<string, number>> }): void {
  metrics.opsApplied.inc({ result: 'applied' }, result.applied);
  metrics.opsApplied.inc({ result: 'skipped' }, result.skipped);
  for (const [kind, n] of Object.entries(result.conflicts ?? {})) if (n) metrics.replicationConflicts.inc({ kind }, n);
}
