// What every service entry point does the same way: configuration or exit 2, one graceful stop on SIGTERM / SIGINT,
// the bound port after listening, and a failure to start as one line on stderr with exit 1.
import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../config/env.js';

/** Loads configuration; a ConfigError ends the process with status 2 and a one-line message. */
export function configOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`percolate ${service}: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}

/** Runs `stop` once, on the first SIGTERM or SIGINT, then exits 0. */
export function stopOnSignals(stop: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  const onSignal = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    await stop(signal);
    process.exit(0);
  };
  process.on('SIGTERM', () => void onSignal('SIGTERM'));
  process.on('SIGINT', () => void onSignal('SIGINT'));
}

/** Listens on host:port and returns the port actually bound (the configured one may be 0). */
export async function listen(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}

/** Runs an entry point; a failure to start is one line on stderr and exit status 1. */
export function runService(service: string, main: () => Promise<void>): void {
  main().catch((err) => {
    console.error(`percolate ${service} failed to start:`, err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
