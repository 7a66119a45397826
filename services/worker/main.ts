// Ingest worker entry point: configuration from the environment, the job consumer, and a small HTTP server for
// health and Prometheus metrics; SIGTERM lets in-flight jobs finish (within the grace period) before exiting.
import Fastify, { LogController } from 'fastify';
import { loadWorkerConfig } from '../../shared/config/ingest-config.js';
import { installErrorHandling } from '../../shared/http/errors.js';
import opsRoutes from '../../shared/http/ops-routes.js';
import { createWorkerMetrics } from '../../shared/metrics/ingest-metrics.js';
import { configOrExit, listen, runService, stopOnSignals } from '../../shared/process/entry.js';
import { IngestWorker } from './worker.js';

runService('worker', async () => {
  const cfg = configOrExit('worker', () => loadWorkerConfig());
  const metrics = createWorkerMetrics();
  const app = Fastify({ logger: { level: cfg.logLevel }, logController: new LogController({ disableRequestLogging: true }) });
  installErrorHandling(app);
  let worker: IngestWorker | undefined;
  await app.register(opsRoutes, {
    registry: metrics.registry,
    isReady: () => worker?.connected ?? false,
    readyInfo: () => ({ tier: cfg.tier, jobs_in_flight: worker?.busy ?? 0 }),
  });
  worker = await IngestWorker.start(cfg, { metrics, log: app.log });
  stopOnSignals(async (signal) => {
    app.log.info({ signal, jobs_in_flight: worker?.busy ?? 0 }, 'shutting down: finishing jobs in progress');
    await worker?.stop();
    await app.close();
  });
  const port = await listen(app, cfg.host, cfg.port);
  app.log.info(
    { tier: cfg.tier, concurrency: cfg.concurrency, api: cfg.apiUrl, nats: cfg.jobs.natsUrl, bucket: cfg.s3.bucket },
    `percolate worker (tier ${cfg.tier}) listening on http://${cfg.host}:${port}`,
  );
});
