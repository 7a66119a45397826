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

export function openStore(
  dataDir: string,
  tenant = 't1',
  over: { embedder?: Embedder; vectorCheckpointOps?: number; pendingMax?: number; onDemand?: boolean; idleMs?: number; drainCpuPercent?: number; keywordOnDemand?: boolean } = {},
) {
  return TenantStore.open({
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
  });
}
