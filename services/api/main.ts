// Database node entry point: configuration from the environment, embedder, fastify app, graceful shutdown.
import { ConfigError, loadConfig } from '../../shared/config/config.js';
import { createEmbedder } from '../../shared/embed/index.js';
import { buildApi } from './app.js';

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`percolate api: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const embedder = await createEmbedder({ spec: cfg.embedder, modelDir: cfg.modelDir });
  const app = await buildApi(cfg, { embedder });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: closing tenant stores');
    await app.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  await app.listen({ host: cfg.host, port: cfg.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
  app.log.info(
    { node_id: cfg.nodeId, data_dir: cfg.dataDir, embedder: embedder.id, dimension: embedder.dimension, tier: cfg.tier },
    `percolate database node listening on http://${cfg.host}:${port}`,
  );
}

main().catch((err) => {
  console.error('percolate api failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
