// The tenant lifecycle's metrics: tenants by presence level, transitions between levels, how long opens, restores and
// snapshots take, demotions by cause, snapshot bytes moved to and from object storage, and durable operations.
import client from 'prom-client';

export interface LifecycleMetrics {
  tenantsByState: client.Gauge<'state'>;
  transitions: client.Counter<'from' | 'to' | 'reason'>;
  durations: client.Histogram<'kind'>;
  evictions: client.Counter<'reason'>;
  snapshotBytes: client.Counter<'direction'>;
  operations: client.Counter<'kind' | 'status'>;
}

export function createLifecycleMetrics(registry: client.Registry, states: () => Record<'hot' | 'warm' | 'cold', number>): LifecycleMetrics {
  return {
    tenantsByState: new client.Gauge({
      name: 'percolate_tenants',
      help: 'Tenants this node knows, by presence: hot (open), warm (local files), cold (in object storage only)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        for (const [state, n] of Object.entries(states())) this.set({ state }, n);
      },
    }),
    transitions: new client.Counter({
      name: 'percolate_tenant_transitions_total',
      help: 'Tenant presence changes, by from and to level (absent: no files and no entry) and reason',
      labelNames: ['from', 'to', 'reason'],
      registers: [registry],
    }),
    durations: new client.Histogram({
      name: 'percolate_tenant_lifecycle_duration_seconds',
      help: 'Duration of a warm → hot open, a cold → hot restore (snapshot download and stream replay) and a snapshot',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    evictions: new client.Counter({
      name: 'percolate_tenant_evictions_total',
      help: 'Tenants demoted for a budget (hot_max, hot_memory, disk) or their idle age (idle_warm, idle_cold)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    snapshotBytes: new client.Counter({
      name: 'percolate_snapshot_bytes_total',
      help: 'Snapshot archive bytes uploaded to and downloaded from object storage',
      labelNames: ['direction'],
      registers: [registry],
    }),
    operations: new client.Counter({
      name: 'percolate_operations_total',
      help: 'Durable tenant operations that reached a status, by kind and status',
      labelNames: ['kind', 'status'],
      registers: [registry],
    }),
  };
}
