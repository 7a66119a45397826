// Database node entry point: configuration from the environment, embedder, fastify app, graceful shutdown.
import { loadConfig } from '../../shared/config/config.js';
import { createEmbedder } from '../../shared/embed/index.js';
import { configOrExit, listen, runService, stopOnSignals } from '../../shared/process/entry.js';
import { buildApi } from './app.js';

runService('api', async () => {
  const cfg = configOrExit('api', () => loadConfig());
  const embedder = await createEmbedder({ spec: cfg.embedder, modelDir: cfg.modelDir });
  const app = await buildApi(cfg, { embedder });
  stopOnSignals(async (signal) => {
    // SIGTERM after the preStop drain shares it; a bare SIGTERM (no hook) drains here
    app.log.info({ signal }, 'shutting down: draining, then closing tenant stores');
    await app.ctx.drain().catch((err: unknown) => app.log.error({ err: String(err) }, 'drain failed; closing anyway'));
    await app.close();
  });
  const port = await listen(app, cfg.host, cfg.port);
  app.log.info(
    { node_id: cfg.nodeId, data_dir: cfg.dataDir, embedder: embedder.id, dimension: embedder.dimension, tier: cfg.tier },
    `percolate database node listening on http://${cfg.host}:${port}`,
  );
});
