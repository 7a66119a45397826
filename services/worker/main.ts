// Ingest worker entry point: configuration from the environment, the job consumer, and a small HTTP server for
// health and Prometheus metrics (/metrics behind an admin token when PERCOLATE_METRICS_AUTH=true); SIGTERM lets
// in-flight jobs finish (within the grace period) before exiting.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Counter } from 'prom-client';
import { loadKeyRing } from '../../shared/auth/keys.js';
import { setupAuth } from '../../shared/auth/setup.js';
import { loadWorkerConfig, type WorkerConfig } from '../../shared/config/ingest-config.js';
import { installErrorHandling } from '../../shared/http/errors.js';
import { loggerOptions } from '../../shared/http/logger.js';
import opsRoutes, { type OpsRoutesOptions } from '../../shared/http/ops-routes.js';
import { createAccessMetrics } from '../../shared/metrics/access-metrics.js';
import { createWorkerMetrics } from '../../shared/metrics/ingest-metrics.js';
import { configOrExit, listen, runService, stopOnSignals } from '../../shared/process/entry.js';
import { IngestWorker } from './worker.js';

/**
 * What verifies the admin tokens of /metrics, when PERCOLATE_METRICS_AUTH=true: the installation's keys (or its
 * identity provider's JWKS). The worker never creates a key: one the rest of the installation does not know would
 * refuse every operator's token.
 */
async function metricsGuard(cfg: WorkerConfig, app: FastifyInstance, failures: Counter<'reason'>): Promise<OpsRoutesOptions['metricsAuth']> {
  if (!cfg.auth.metricsAuth || cfg.auth.mode !== 'required') return undefined;
  if (!cfg.auth.jwksUrl) {
    const { ring, file } = await loadKeyRing({ keysFile: cfg.auth.keysFile, localKeysFile: cfg.auth.localKeysFile, createLocal: false });
    if (ring.size === 0) {
      throw new Error(
        `PERCOLATE_METRICS_AUTH=true: the worker verifies admin tokens with the installation's keys and found none (${file ?? cfg.auth.localKeysFile}); ` +
          'set PERCOLATE_AUTH_KEYS_FILE, PERCOLATE_AUTH_JWKS_URL or the PERCOLATE_DATA_DIR of the node',
      );
    }
  }
  const auth = await setupAuth(cfg.auth, app.log, 'worker');
  return { verifier: auth.verifier!, failures, log: app.log };
}

runService('worker', async () => {
  const cfg = configOrExit('worker', () => loadWorkerConfig());
  const metrics = createWorkerMetrics();
  const access = createAccessMetrics(metrics.registry);
  const app = Fastify({ logger: loggerOptions(undefined, cfg.logLevel), logController: new LogController({ disableRequestLogging: true }) });
  installErrorHandling(app);
  let worker: IngestWorker | undefined;
  const guard = await metricsGuard(cfg, app, access.authFailures);
  await app.register(opsRoutes, {
    registry: metrics.registry,
    isReady: () => worker?.connected ?? false,
    readyInfo: () => ({ tier: cfg.tier, jobs_in_flight: worker?.busy ?? 0 }),
    ...(guard ? { metricsAuth: guard } : {}),
  });
  worker = await IngestWorker.start(cfg, { metrics, log: app.log });
  stopOnSignals(async (signal) => {
    app.log.info({ signal, jobs_in_flight: worker?.busy ?? 0 }, 'shutting down: finishing jobs in progress');
    await worker?.stop();
    await app.close();
  });
  const port = await listen(app, cfg.host, cfg.port);
  app.log.info(
    { tier: cfg.tier, concurrency: cfg.concurrency, api: cfg.apiUrl, nats: cfg.jobs.natsUrl, bucket: cfg.s3.bucket, credentials: worker.credentials.source },
    `percolate worker (tier ${cfg.tier}) listening on http://${cfg.host}:${port}`,
  );
});
