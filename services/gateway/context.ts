// What the gateway's route plugins receive: configuration, S3 client, JetStream client, job state, metrics, the
// tenants' upload quotas.
import type { S3Client } from '@aws-sdk/client-s3';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { GatewayConfig } from '../../shared/config/ingest-config.js';
import type { JobStateStore } from '../../shared/jobs/state.js';
import type { GatewayMetrics } from '../../shared/metrics/ingest-metrics.js';
import type { UploadQuotas } from './quotas.js';

export interface GatewayContext {
  cfg: GatewayConfig;
  s3: S3Client;
  js: JetStreamClient;
  jobs: JobStateStore;
  metrics: GatewayMetrics;
  quotas: UploadQuotas;
}

export interface GatewayRouteOptions {
  ctx: GatewayContext;
}

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
  }
}
