// Opens tenant stores in-process (no HTTP) over a temporary data directory.
import { HashEmbedder } from '../../shared/embed/hash-embedder.js';
import type { Embedder } from '../../shared/embed/embedder.js';
import { TenantManager } from '../../shared/store/tenant-manager.js';
import { DEFAULT_LIMITS, TenantStore } from '../../shared/store/tenant-store.js';

export function managerOptions(dataDir: string, over: Partial<ConstructorParameters<typeof TenantManager>[0]> = {}) {
  return {
    dataDir,
    embedder: new HashEmbedder(384) as Embedder,
    openMax: 8,
    hnsw: { m: 16, efConstruction: 100, efSearch: 64 },
    vectorCheckpointOps: 100_000,
    syncWrites: false,
    limits: DEFAULT_LIMITS,
    ...over,
  };
}

type StoreOver = { embedder?: Embedder; vectorCheckpointOps?: number; pendingMax?: number; onDemand?: boolean; idleMs?: number; drainCpuPercent?: number; keywordOnDemand?: boolean };

export function openStore(dataDir: string, tenant = 't1', over: StoreOver = {}) {
  return TenantStore.open(storeOptions(dataDir, tenant, over));
}

/** The options openStore opens with, for a test that adds its own (replication) or opens the same store twice. */
export function storeOptions(dataDir: string, tenant = 't1', over: StoreOver = {}) {
  return {
    dataDir,
    tenant,
    embedder: over.embedder ?? new HashEmbedder(384),
    hnsw: {
      m: 16,
      efConstruction: 100,
      efSearch: 64,
      ...(over.pendingMax !== undefined ? { pendingMax: over.pendingMax } : {}),
      ...(over.onDemand !== undefined ? { onDemand: over.onDemand } : {}),
      ...(over.idleMs !== undefined ? { idleMs: over.idleMs } : {}),
      ...(over.drainCpuPercent !== undefined ? { drainCpuPercent: over.drainCpuPercent } : {}),
    },
    ...(over.keywordOnDemand !== undefined ? { keywordOnDemand: over.keywordOnDemand } : {}),
    vectorCheckpointOps: over.vectorCheckpointOps ?? 100_000,
    syncWrites: false,
    limits: DEFAULT_LIMITS,
    create: true,
  };
}
