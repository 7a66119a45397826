// Prometheus metrics of the upload gateway and the ingest workers (prom-client), one registry per process.
import client from 'prom-client';
import { createAccessMetrics, type AccessMetrics } from './access-metrics.js';

const DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

function registryWithDefaults(defaultMetrics: boolean | undefined): client.Registry {
  const registry = new client.Registry();
  if (defaultMetrics !== false) client.collectDefaultMetrics({ register: registry, prefix: 'percolate_' });
  return registry;
}

function httpDuration(registry: client.Registry): client.Histogram<'method' | 'route' | 'status'> {
  return new client.Histogram({
    name: 'percolate_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
}

export interface GatewayMetrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  uploadBytes: client.Counter<'kind'>;
  uploadDuration: client.Histogram<'outcome'>;
  uploads: client.Counter<'outcome'>;
  uploadsInFlight: client.Gauge;
  jobsQueued: client.Counter<'tier'>;
  jobsPending: client.Gauge<'tier'>;
  access: AccessMetrics;
}

export function createGatewayMetrics(
  opts: {
    defaultMetrics?: boolean;
    /** Jobs waiting or in progress per tier, from the worker consumers' own info (read at scrape time). */
    jobsPending?: () => Promise<Record<string, number>>;
  } = {},
): GatewayMetrics {
  const registry = registryWithDefaults(opts.defaultMetrics);
  return {
    registry,
    access: createAccessMetrics(registry),
    httpDuration: httpDuration(registry),
    uploadBytes: new client.Counter({
      name: 'percolate_upload_bytes_total',
      help: 'Bytes of accepted uploads stored in S3, by detected file kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    uploadDuration: new client.Histogram({
      name: 'percolate_upload_duration_seconds',
      help: 'Upload duration from first byte to job queued (or rejection), by outcome',
      labelNames: ['outcome'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    uploads: new client.Counter({
      name: 'percolate_uploads_total',
      help: 'Uploads by outcome (accepted, empty, too_large, unsupported, invalid, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    uploadsInFlight: new client.Gauge({
      name: 'percolate_uploads_in_flight',
      help: 'Uploads streaming to S3 right now',
      registers: [registry],
    }),
    jobsQueued: new client.Counter({
      name: 'percolate_jobs_queued_total',
      help: 'Jobs published to the job stream, by tier',
      labelNames: ['tier'],
      registers: [registry],
    }),
    jobsPending: new client.Gauge({
      name: 'percolate_jobs_pending',
      help: "Jobs of a tier not yet finished (the worker consumer's num_pending + num_ack_pending, asked of its own info): what worker autoscaling follows",
      labelNames: ['tier'],
      registers: [registry],
      async collect() {
        if (!opts.jobsPending) return;
        for (const [tier, n] of Object.entries(await opts.jobsPending())) this.set({ tier }, n);
      },
    }),
  };
}

export interface WorkerMetrics {
  registry: client.Registry;
  jobs: client.Counter<'stage' | 'outcome'>;
  stageDuration: client.Histogram<'stage'>;
  jobsInFlight: client.Gauge;
  deadLettered: client.Counter<'tier'>;
  chunksWritten: client.Counter;
  entitiesWritten: client.Counter;
}

export function createWorkerMetrics(opts: { defaultMetrics?: boolean } = {}): WorkerMetrics {
  const registry = registryWithDefaults(opts.defaultMetrics);
  return {
    registry,
    jobs: new client.Counter({
      name: 'percolate_ingest_jobs_total',
      help: 'Job attempts that ended, by the stage they ended in and outcome (completed, retried, failed)',
      labelNames: ['stage', 'outcome'],
      registers: [registry],
    }),
    stageDuration: new client.Histogram({
      name: 'percolate_ingest_stage_duration_seconds',
      help: 'Duration of each pipeline stage',
      labelNames: ['stage'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    jobsInFlight: new client.Gauge({
      name: 'percolate_ingest_jobs_in_flight',
      help: 'Jobs this worker is processing right now',
      registers: [registry],
    }),
    deadLettered: new client.Counter({
      name: 'percolate_ingest_dlq_total',
      help: 'Jobs failed for good and published to the dead-letter subject, by tier',
      labelNames: ['tier'],
      registers: [registry],
    }),
    chunksWritten: new client.Counter({
      name: 'percolate_ingest_chunks_written_total',
      help: 'Resources (chunks) written to the database',
      registers: [registry],
    }),
    entitiesWritten: new client.Counter({
      name: 'percolate_ingest_entities_written_total',
      help: 'Entities written to the database',
      registers: [registry],
    }),
  };
}
