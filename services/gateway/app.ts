// Builds the upload gateway's fastify app: S3 client, NATS (job stream, worker consumers, job state bucket),
// multipart, error envelope, metrics; CORS at the root; /upload and /jobs/:id behind the tenant header, a token for
// that tenant (rw to upload, ro to read a job), the tenant's request rate, and its upload quotas; health open,
// /metrics behind an admin token when PERCOLATE_METRICS_AUTH=true.
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import { tolerantSerialization } from '../../shared/http/serialization.js';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { JOBS_STREAM, workerConsumer } from '../../shared/bus/names.js';
import type { NatsConnection } from '@nats-io/transport-node';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { createS3Client } from '../../shared/blob/s3.js';
import { setupAuth } from '../../shared/auth/setup.js';
import { connectNats } from '../../shared/bus/connection.js';
import type { GatewayConfig } from '../../shared/config/ingest-config.js';
import { installAuth } from '../../shared/http/auth.js';
import { installCors } from '../../shared/http/cors.js';
import { installErrorHandling } from '../../shared/http/errors.js';
import { installCompression } from '../../shared/http/compression.js';
import { documentTransform, installOpenApiConventions, openApiDocument, refResolver, securityFor } from '../../shared/http/openapi.js';
import { installJsonBody } from '../../shared/http/json-body.js';
import { applyServerLimits, serverTimeoutOptions } from '../../shared/http/server-limits.js';
import { loggerOptions } from '../../shared/http/logger.js';
import opsRoutes from '../../shared/http/ops-routes.js';
import { installTenantRateLimit } from '../../shared/http/rate-limit.js';
import { installRequestMetrics } from '../../shared/http/request-metrics.js';
import { tenantFromHeader } from '../../shared/http/tenant.js';
import { installValidation } from '../../shared/http/validation.js';
import { JobStateStore } from '../../shared/jobs/state.js';
import { ensureJobStreams, ensureWorkerConsumer } from '../../shared/jobs/streams.js';
import { createGatewayMetrics } from '../../shared/metrics/ingest-metrics.js';
import type { GatewayContext } from './context.js';
import { UploadQuotas } from './quotas.js';
import jobRoutes from './routes/jobs.js';
import uploadRoutes from './routes/upload.js';

export interface GatewayOptions {
  /** pino logger options or false. */
  logger?: boolean | { level: string };
  /** Where log lines go instead of stdout (tests read the audit lines). */
  logStream?: NodeJS.WritableStream;
  defaultMetrics?: boolean;
}

/**
 * Jobs not finished per tier, from each worker consumer's info: num_pending (not delivered) + num_ack_pending
 * (delivered, not acknowledged). KEDA's nats-jetstream scaler computes the same from the server's monitoring
 * endpoint, but has misread it on clustered NATS (kedacore/keda#3860, #6042, #7322); this gauge comes from the
 * consumer's leader through the JetStream API, so a prometheus trigger on it can drive scaling instead. A tier whose
 * consumer cannot be read is left out (its last value stays) rather than reported as zero.
 */
async function jobsPending(jsm: JetStreamManager, tiers: readonly string[], log: { warn(o: object, m: string): void }): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await Promise.all(
    tiers.map(async (tier) => {
      try {
        const info = await jsm.consumers.info(JOBS_STREAM, workerConsumer(tier));
        out[tier] = info.num_pending + info.num_ack_pending;
      } catch (err) {
        log.warn({ tier, err: String(err) }, 'job consumer info unavailable: percolate_jobs_pending not updated');
      }
    }),
  );
  return out;
}

export async function buildGateway(cfg: GatewayConfig, opts: GatewayOptions = {}): Promise<FastifyInstance> {
  const logger = loggerOptions(opts.logger, cfg.logLevel);
  const app = Fastify({
    logger: logger && opts.logStream ? { ...logger, stream: opts.logStream } : logger,
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    // an answer its schema cannot serialise is written as plain JSON and reported, never a 500
    schemaController: tolerantSerialization((m) => app.log.warn({ ...m, degraded: 'response_schema_mismatch' }, 'an answer did not fit its response schema; it was sent as plain JSON')),
    ...serverTimeoutOptions(cfg.http),
  });
  // keys first: a bad key file stops the gateway before it connects to anything
  const auth = await setupAuth(cfg.auth, app.log, 'gateway');
  const nc: NatsConnection = await connectNats(cfg.jobs.natsUrl, 'percolate-gateway');
  let ctx: GatewayContext;
  try {
    const jsm = await jetstreamManager(nc);
    await ensureJobStreams(jsm, cfg.jobs);
    // the consumers exist before any worker does, so queue lag is measurable while workers are scaled to zero
    for (const tier of cfg.tiers) await ensureWorkerConsumer(jsm, tier, cfg.jobs);
    const js = jetstream(nc);
    ctx = {
      cfg,
      s3: createS3Client(cfg.s3),
      js,
      jobs: await JobStateStore.open(js, cfg.jobs),
      metrics: createGatewayMetrics({ defaultMetrics: opts.defaultMetrics, jobsPending: () => jobsPending(jsm, cfg.tiers, app.log) }),
      quotas: new UploadQuotas(cfg.quotas),
    };
  } catch (err) {
    await nc.close();
    throw err;
  }

  applyServerLimits(app, cfg.http);
  await app.register(swagger, {
    refResolver,
    transform: documentTransform as never,
    openapi: openApiDocument({
      title: 'Percolate-TS upload gateway',
      version: '0.1.0',
      description: 'Large files streamed to object storage (POST /upload) and the jobs that ingest them (GET /jobs/{id}).',
    }),
  });
  await installCors(app, cfg.cors);
  await installCompression(app, { bytesMin: cfg.http.compressBytesMin });
  await app.register(multipart);
  installValidation(app);
  installJsonBody(app, { depthMax: cfg.jsonDepthMax });
  installErrorHandling(app);
  installOpenApiConventions(app, securityFor);
  installRequestMetrics(app, ctx.metrics.httpDuration);
  app.decorateRequest('tenant', '');
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  let ready = false;
  await app.register(opsRoutes, {
    registry: ctx.metrics.registry,
    isReady: () => ready && !nc.isClosed(),
    readyInfo: () => ({ tiers: cfg.tiers }),
    ...(cfg.auth.metricsAuth && auth.verifier ? { metricsAuth: { verifier: auth.verifier, failures: ctx.metrics.access.authFailures, log: app.log } } : {}),
  });
  // tenant header, then the token, then the tenant's request rate (the node's order); the quotas come in the route
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', async (req) => {
      req.tenant = tenantFromHeader(req.headers['x-tenant-id']);
    });
    installAuth(scoped, { verifier: auth.verifier, failures: ctx.metrics.access.authFailures, log: app.log });
    await installTenantRateLimit(scoped, cfg.rateLimit, { counter: ctx.metrics.access.rateLimited, log: app.log });
    await scoped.register(uploadRoutes, { ctx });
    await scoped.register(jobRoutes, { ctx });
  });
  app.addHook('onReady', async () => {
    ready = true;
  });
  app.addHook('preClose', async () => {
    ready = false;
  });
  app.addHook('onClose', async () => {
    ctx.s3.destroy();
    await nc.drain().catch(() => undefined);
  });
  return app;
}
