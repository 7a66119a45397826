// Tenant tombstones shared by every node: the JetStream KV bucket `percolate_tenant_purges`, one key per purged tenant
// holding the purge's HLC. Each node watches it (the current values first, then every change) and carries the purge
// out locally: the tenant's files go, and ops at or before the tombstone are dropped from then on, so a late delivery
// or a peer's old outbox cannot bring the tenant's data back. Tombstones never expire: there is one per purged tenant.
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { PURGES_BUCKET } from '../bus/names.js';
import { isHlc } from '../rem/hlc.js';
import { isTenantId } from '../rem/tenant-id.js';

export interface Tombstone {
  tenant: string;
  hlc: string;
  node: string;
  purged_at: string;
}

export interface PurgeRegistryOptions {
  /** Carries a purge out on this node (TenantManager.applyPurge). */
  apply: (tenant: string, hlc: string) => Promise<void>;
  replicas?: number;
  log: { warn(obj: object, msg: string): void };
}

const TOMBSTONE_BYTES_MAX = 1024;

export function parseTombstone(key: string, bytes: Uint8Array): Tombstone | undefined {
  if (bytes.length === 0 || bytes.length > TOMBSTONE_BYTES_MAX || !isTenantId(key)) return undefined;
  try {
    const t = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Tombstone>;
    if (t.tenant !== key || !isHlc(t.hlc) || typeof t.node !== 'string' || typeof t.purged_at !== 'string') return undefined;
    return { tenant: t.tenant, hlc: t.hlc, node: t.node.slice(0, 64), purged_at: t.purged_at.slice(0, 40) };
  } catch {
    return undefined;
  }
}

export class PurgeRegistry {
  private stopped = false;
  private watching: Promise<void> | undefined;
  private stopWatch: (() => void) | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly o: PurgeRegistryOptions,
  ) {}

  static async open(js: JetStreamClient, o: PurgeRegistryOptions): Promise<PurgeRegistry> {
    const kv = await new Kvm(js).create(PURGES_BUCKET, { history: 1, replicas: o.replicas ?? 1, maxValueSize: TOMBSTONE_BYTES_MAX });
    const r = new PurgeRegistry(kv, o);
    await r.watch();
    return r;
  }

  /** Records the tombstone (a purge operation's first step; writing it again is harmless). */
  async publish(t: Tombstone): Promise<void> {
    await this.kv.put(t.tenant, JSON.stringify(t));
  }

  private async watch(): Promise<void> {
    // the current tombstones first (a node that was down catches up), then each new one
    const iter = await this.kv.watch();
    this.stopWatch = () => iter.stop();
    this.watching = (async () => {
      for await (const e of iter) {
        if (this.stopped) break;
        if (e.operation !== 'PUT') continue;
        const t = parseTombstone(e.key, e.value);
        if (!t) {
          this.o.log.warn({ key: e.key.slice(0, 80) }, 'tenant tombstone that is not one ignored');
          continue;
        }
        await this.o.apply(t.tenant, t.hlc).catch((err: unknown) => this.o.log.warn({ tenant: t.tenant, err: String(err) }, 'a purge could not be carried out on this node; it is tried again at the next start'));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWatch?.();
    await this.watching?.catch(() => undefined);
  }
}
