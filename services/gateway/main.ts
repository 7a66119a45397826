// Upload gateway entry point: configuration from the environment, fastify app, graceful shutdown.
import { loadGatewayConfig } from '../../shared/config/ingest-config.js';
import { configOrExit, listen, runService, stopOnSignals } from '../../shared/process/entry.js';
import { buildGateway } from './app.js';

runService('gateway', async () => {
  const cfg = configOrExit('gateway', () => loadGatewayConfig());
  const app = await buildGateway(cfg);
  stopOnSignals(async (signal) => {
    app.log.info({ signal }, 'shutting down: finishing uploads in progress');
    await app.close();
  });
  const port = await listen(app, cfg.host, cfg.port);
  app.log.info(
    { s3_endpoint: cfg.s3.endpoint ?? 'aws', bucket: cfg.s3.bucket, nats: cfg.jobs.natsUrl, tiers: cfg.tiers, upload_bytes_max: cfg.uploadBytesMax, auth: cfg.auth.mode },
    `percolate gateway listening on http://${cfg.host}:${port}`,
  );
});
