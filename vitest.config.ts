import { defaultServerConditions } from 'vite';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The unit project: tests that start no server, no child process and no external binary (pure functions, and
 * in-process stores over a temporary directory when they are fast); `npm run test:unit` runs them in seconds.
 * test/support/unit-guard.ts fails any of them that listens on a socket or spawns a process. Every other test file
 * is in the integration project (real servers, child processes, nats-server, s3rver, enscript and ghostscript).
 */
export const UNIT_TESTS = [
  'test/auth-tokens.test.ts',
  'test/batch-writer.test.ts',
  'test/bounds.test.ts',
  'test/cli-args.test.ts',
  'test/cli-stack-auth.test.ts',
  'test/config-docs.test.ts',
  'test/crdt.test.ts',
  'test/embedder-contract.test.ts',
  'test/fusion.test.ts',
  'test/hash-embedder.test.ts',
  'test/hnsw-pool.test.ts',
  'test/ids.test.ts',
  'test/ingest-chunker.test.ts',
  'test/ingest-detect.test.ts',
  'test/ingest-extract.test.ts',
  'test/json-guard.test.ts',
  'test/keyword-index.test.ts',
  'test/keyword-on-demand.test.ts',
  'test/like.test.ts',
  'test/outbox.test.ts',
  'test/query-parser.test.ts',
  'test/record-cache.test.ts',
  'test/retry.test.ts',
  'test/scale-sim.test.ts',
  'test/serialization.test.ts',
  'test/sliced-json.test.ts',
  'test/store.test.ts',
  'test/system-deps.test.ts',
  'test/tenant-presence.test.ts',
  'test/text.test.ts',
  'test/transformers-embedder.test.ts',
  'test/vector-on-demand.test.ts',
  'test/vector-pending.test.ts',
  'test/vitest-projects.test.ts',
  'test/wait.test.ts',
  'test/wire-vector.test.ts',
  'test/write-path.test.ts',
];

export default defineConfig({
  // `percolate-ts/client` (the package's own exports) resolves to its TypeScript source in tests, as in tsconfig
  ssr: { resolve: { conditions: ['percolate-source', ...defaultServerConditions.filter((c) => c !== 'module')] } },
  test: {
    // two cores: at most two test files at once (integration files start servers and child processes of their own)
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: UNIT_TESTS,
          setupFiles: ['test/support/unit-guard.ts'],
          testTimeout: 20_000,
          hookTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT_TESTS],
          // checks that nats-server, enscript and ps2pdf are installed (scripts/install-system-deps.sh installs them)
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
