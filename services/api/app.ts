// Builds the database node's fastify app: validation, error envelope, metrics, tenant hook, one plugin per route group.
import fs from 'node:fs/promises';
import path from 'node:path';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { NodeConfig } from '../../shared/config/config.js';
import type { Embedder } from '../../shared/embed/embedder.js';
import { installErrorHandling } from '../../shared/http/errors.js';
import { installCompression } from '../../shared/http/compression.js';
import { documentTransform, installOpenApiConventions, openApiDocument, refResolver, securityFor } from '../../shared/http/openapi.js';
import { installJsonBody } from '../../shared/http/json-body.js';
import { setupAuth } from '../../shared/auth/setup.js';
import { installAuth } from '../../shared/http/auth.js';
import { audit } from '../../shared/http/audit.js';
import { RemError } from '../../shared/rem/errors.js';
import { installCors } from '../../shared/http/cors.js';
import { installTenantRateLimit } from '../../shared/http/rate-limit.js';
import { tolerantSerialization } from '../../shared/http/serialization.js';
import { applyServerLimits, serverTimeoutOptions } from '../../shared/http/server-limits.js';
import { installSlicedSerialization } from '../../shared/http/sliced-json.js';
import { loggerOptions, type LoggerOption } from '../../shared/http/logger.js';
import { installValidation } from '../../shared/http/validation.js';
import { createNodeMetrics } from '../../shared/metrics/metrics.js';
import { HybridLogicalClock } from '../../shared/rem/hlc.js';
import { consoleObserver, loggingObserver, type EngineObserver } from '../../shared/rem/observer.js';
import { Replicator } from '../../shared/replication/replicator.js';
import { TenantManager } from '../../shared/store/tenant-manager.js';
import { DEFAULT_LIMITS } from '../../shared/store/tenant-store.js';
import { NodeLifecycle } from './lifecycle.js';
import { writeDrainToken } from './drain-token.js';
import { tenantHook, type ApiContext, type DrainSummary } from './context.js';
import { schemas } from './schemas.js';
import entityRoutes from './routes/entities.js';
import healthRoutes from './routes/health.js';
import momentRoutes from './routes/moments.js';
import resourceRoutes from './routes/resources.js';
import searchRoutes from './routes/search.js';
import syncRoutes from './routes/sync.js';
import tenantRoutes from './routes/tenant.js';
import adminRoutes from './routes/admin.js';
import chatRoutes, { openAiChatRoutes } from './routes/chat.js';
import queryRoutes from './routes/query.js';
import schemaRoutes from './routes/schemas.js';

export interface ApiOptions {
  embedder: Embedder;
  /** pino logger options or false; tokens and authorization headers are always redacted. */
  logger?: LoggerOption;
}

export async function buildApi(cfg: NodeConfig, opts: ApiOptions): Promise<FastifyInstance> {
  await fs.mkdir(cfg.dataDir, { recursive: true });
  const clock = new HybridLogicalClock(cfg.nodeId, { maxDriftMs: cfg.hlcMaxDriftMs });
  // set once the logger exists (the tenant manager is built first)
  let onClockRefused: (tenant: string, hlc: string, aheadMs: number) => void = () => undefined;
  const replicated = cfg.natsUrl !== '';
  let replicator: Replicator | undefined;
  // the engine's observer logs through fastify's logger and counts percolate_engine_degraded_total, once both exist
  let observer: EngineObserver = consoleObserver;
  // set once they exist (the lifecycle's cold storage is handed to the tenant manager first)
  let metricsRef: ReturnType<typeof createNodeMetrics> | undefined;
  let logRef: FastifyInstance['log'] | undefined;
  const lifecycle = new NodeLifecycle(cfg, {
    clock,
    replicator: () => replicator,
    metrics: () => metricsRef?.lifecycle,
    log: () => logRef ?? { info: () => undefined, warn: consoleObserver.warn, error: consoleObserver.error },
    replayRefused: (reason) => {
      metricsRef?.applyErrors.inc({ reason });
      if (reason === 'clock_drift') metricsRef?.hlcRefused.inc({ source: 'replay' });
    },
  });
  const tenants = new TenantManager({
    observer: {
      warn: (fields, msg) => observer.warn(fields, msg),
      error: (fields, msg) => observer.error(fields, msg),
      degraded: (event, fields, msg) => observer.degraded(event, fields, msg),
    },
    replication: {
      clock,
      outbox: replicated,
      opBytesMax: cfg.opBytesMax,
      outboxMemoryBytesMax: cfg.outboxMemoryBytesMax,
      markerDir: path.join(cfg.dataDir, 'outbox-pending'),
      onOutbox: (tenant) => replicator?.kick(tenant),
      onClockRefused: (tenant, hlc, aheadMs) => onClockRefused(tenant, hlc, aheadMs),
    },
    dataDir: cfg.dataDir,
    embedder: opts.embedder,
    openMax: cfg.tenantsOpenMax,
    hnsw: { m: cfg.hnswM, efConstruction: cfg.hnswEfConstruction, efSearch: cfg.hnswEfSearch, pendingMax: cfg.vectorPendingMax, onDemand: cfg.vectorGraph === 'on_demand', drainCpuPercent: cfg.vectorDrainCpuPercent },
    keywordOnDemand: cfg.keywordIndex === 'on_demand',
    vectorCheckpointOps: cfg.vectorCheckpointOps,
    syncWrites: cfg.syncWrites,
    recordCacheBytes: cfg.recordCacheBytes,
    vectorIndexPoolMax: cfg.vectorIndexPoolMax,
    limits: {
      ...DEFAULT_LIMITS,
      traversalNodesMax: cfg.traversalNodesMax,
      traversalEdgesMax: cfg.traversalEdgesMax,
      contentCharsMax: cfg.contentCharsMax,
      schemaUniqueItemsMax: cfg.schemaUniqueItemsMax,
      jsonDepthMax: cfg.jsonDepthMax,
      responseBytesMax: cfg.responseBytesMax,
    },
    activeWindowMs: cfg.lifecycle.activeWindowMs,
    lifecycle: {
      hotMemoryBytesMax: cfg.lifecycle.hotMemoryBytesMax,
      diskBytesMax: cfg.lifecycle.diskBytesMax,
      idleWarmMs: cfg.lifecycle.idleWarmMs,
      idleColdMs: cfg.lifecycle.idleColdMs,
      snapshotIntervalMs: cfg.lifecycle.snapshotIntervalMs,
      sweepIntervalMs: cfg.lifecycle.sweepIntervalMs,
      scoreWeights: cfg.lifecycle.scoreWeights,
    },
    coldStorage: lifecycle.coldStorage,
    events: {
      transition: (_tenant, from, to, reason) => metricsRef?.lifecycle.transitions.inc({ from, to, reason }),
      duration: (kind, ms) => metricsRef?.lifecycle.durations.observe({ kind }, ms / 1000),
      eviction: (reason) => metricsRef?.lifecycle.evictions.inc({ reason }),
    },
  });
  lifecycle.attach(tenants);
  const metrics = createNodeMetrics({
    tier: cfg.tier,
    openTenants: () => tenants.openCount,
    activeTenants: () => tenants.activeCount(),
    outboxDepth: () => tenants.outboxDepth(),
    vectorsPending: () => tenants.vectorsPending(),
    vectorsBacklog: () => tenants.vectorsBacklog(),
    keywordBacklog: () => tenants.keywordBacklog(),
    tenantsMemoryEstimate: () => tenants.memoryEstimateBytes(),
    tenantStates: () => tenants.stateCounts(),
  });
  metricsRef = metrics;
  let ready = false;
  let draining: Promise<DrainSummary> | undefined;
  const ctx: ApiContext = {
    cfg,
    tenants,
    lifecycle,
    metrics,
    clock,
    schemas: schemas(cfg),
    replicationState: () => replicator?.state ?? 'standalone',
    // once: the preStop hook and the SIGTERM after it share one drain
    drain: () =>
      (draining ??= (async () => {
        ready = false;
        const summary = await lifecycle.drain(cfg.drainTimeoutMs);
        app.log.info(summary, 'drained: outboxes published and hot tenants snapshotted');
        return summary;
      })()),
  };

  const app = Fastify({
    logger: loggerOptions(opts.logger, cfg.logLevel),
    bodyLimit: cfg.bodySizeBytesMax,
    // requests are logged at debug from onResponse (with route and tenant), not twice at info per request
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    // an answer its schema cannot serialise is written as plain JSON and reported, never a 500
    schemaController: tolerantSerialization((m) => observer.degraded('response_schema_mismatch', { ...m }, 'an answer did not fit its response schema; it was sent as plain JSON')),
    ...serverTimeoutOptions(cfg.http),
  });
  applyServerLimits(app, cfg.http);
  app.decorate('ctx', ctx);
  logRef = app.log;
  observer = loggingObserver(app.log, (event) => metrics.engineDegraded.inc({ event }));
  onClockRefused = (tenant, hlc, aheadMs) => {
    metrics.hlcRefused.inc({ source: 'persisted' });
    app.log.error(
      { tenant, hlc_max: hlc, ahead_ms: aheadMs, max_drift_ms: cfg.hlcMaxDriftMs },
      "tenant's persisted HLC high-water mark is beyond the clock drift bound and was not adopted (a poisoned timestamp, or this node's clock stepped back)",
    );
  };
  if (replicated) {
    replicator = new Replicator({
      natsUrl: cfg.natsUrl,
      nodeId: cfg.nodeId,
      tenants,
      markerDir: path.join(cfg.dataDir, 'outbox-pending'),
      streamMaxAgeMs: cfg.syncMaxAgeMs,
      streamReplicas: cfg.syncReplicas,
      inflightMax: cfg.syncInflightMax,
      maxDeliver: cfg.syncMaxDeliver,
      outboxBatchMax: cfg.outboxBatchMax,
      ackWaitMs: cfg.syncAckWaitMs,
      jsonDepthMax: cfg.jsonDepthMax,
      metrics,
      log: app.log,
      onConnected: (access) => lifecycle.onConnected(access),
    });
  } else {
    app.log.info({ node_id: cfg.nodeId }, 'PERCOLATE_NATS_URL is not set: running standalone, writes are not replicated');
  }
  const auth = await setupAuth(cfg.auth, app.log, 'api');
  ctx.auth = auth;
  await app.register(swagger, {
    refResolver,
    transform: documentTransform as never,
    openapi: openApiDocument({
      title: 'Percolate-TS database node',
      version: '0.1.0',
      description: 'Resources, entities and moments of one tenant per request (X-Tenant-ID): writes, search, the REM query dialect, chat (native and OpenAI-compatible), tenant lifecycle.',
    }),
  });
  await installCors(app, cfg.cors);
  await installCompression(app, { bytesMin: cfg.http.compressBytesMin });
  installValidation(app);
  installJsonBody(app, { depthMax: cfg.jsonDepthMax });
  installSlicedSerialization(app);
  installErrorHandling(app);
  installOpenApiConventions(app, securityFor);
  app.decorateRequest('tenant', '');
  app.addHook('onSend', async (req, reply) => {
    void reply.header('x-request-id', req.id);
    // which node (and zone) answered: tenant affinity and locality are observable from the client side
    void reply.header('x-served-by', cfg.nodeId);
    if (cfg.zone) void reply.header('x-served-zone', cfg.zone);
  });
  app.addHook('onError', async (req, _reply, err) => {
    if (err instanceof RemError && err.code === 'quota_exceeded') {
      const d = err.details as { quota?: string; limit?: number; usage?: number } | undefined;
      metrics.access.rateLimited.inc({ kind: `quota_${d?.quota ?? 'unknown'}` });
      audit(app.log, 'quota_exceeded', { tenant: req.tenant, sub: req.auth?.sub, route: req.routeOptions.url, quota: d?.quota, limit: d?.limit, usage: d?.usage });
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, seconds);
    req.log.debug({ route, tenant: req.tenant || undefined, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const drainToken = await writeDrainToken(cfg.dataDir);
  await app.register(healthRoutes, { ctx, isReady: () => ready, drainToken });
  // tenant header, then the token, then the tenant's request rate: the order of the hooks in each scope
  const guard = async (scope: FastifyInstance) => {
    scope.addHook('onRequest', tenantHook);
    installAuth(scope, { verifier: auth.verifier, failures: metrics.access.authFailures, log: app.log });
    await installTenantRateLimit(scope, cfg.rateLimit, { counter: metrics.access.rateLimited, log: app.log });
  };
  await app.register(
    async (api) => {
      await guard(api);
      await api.register(resourceRoutes, { ctx });
      await api.register(entityRoutes, { ctx });
      await api.register(momentRoutes, { ctx });
      await api.register(searchRoutes, { ctx });
      await api.register(tenantRoutes, { ctx });
      await api.register(syncRoutes, { ctx });
      await api.register(queryRoutes, { ctx });
      await api.register(schemaRoutes, { ctx });
      await api.register(chatRoutes, { ctx });
    },
    { prefix: '/api/v1' },
  );
  // node administration across tenants: no X-Tenant-ID, an admin token for every tenant (*)
  await app.register(
    async (admin) => {
      installAuth(admin, { verifier: auth.verifier, failures: metrics.access.authFailures, log: app.log, tenantOf: () => undefined });
      await admin.register(adminRoutes, { ctx });
    },
    { prefix: '/api/v1/admin' },
  );
  // OpenAI-compatible chat beside the native API, with the same tenant check
  await app.register(
    async (v1) => {
      await guard(v1);
      await v1.register(openAiChatRoutes, { ctx });
    },
    { prefix: '/v1' },
  );
  app.addHook('onReady', async () => {
    await lifecycle.start();
    tenants.startSweeper();
    replicator?.start();
    ready = true;
  });
  app.addHook('preClose', async () => {
    ready = false;
  });
  app.addHook('onClose', async () => {
    await lifecycle.stop();
    await replicator?.stop();
    await tenants.close();
  });
  return app;
}
