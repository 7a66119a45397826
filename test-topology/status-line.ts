// The topology's live one-line status: replicas per kind (database nodes per zone), job lag, active tenants and the
// share of requests each zone served over the last interval. Refreshed in place on a terminal; on anything else
// (a log file, a pipe) a plain line is printed whenever it changes.
import type { Topology } from './local-topology.js';
import type { Trigger } from './scaled-objects.js';

export interface StatusSnapshot {
  databases: number;
  databasesByZone: Record<string, number>;
  workers: number;
  jobLag: number | undefined;
  activeTenants: number | undefined;
  /** Percent of the interval's requests per zone; undefined when there were none. */
  zoneShare: Record<string, number> | undefined;
}

export function formatStatus(s: StatusSnapshot): string {
  const zones = Object.entries(s.databasesByZone).map(([z, n]) => `${z}:${n}`).join(' ');
  const share = s.zoneShare ? Object.entries(s.zoneShare).map(([z, p]) => `${z} ${p.toFixed(0)}%`).join(' ') : 'no requests';
  const v = (n: number | undefined) => (n === undefined ? '?' : String(n));
  return `db ${s.databases} (${zones}) | workers ${s.workers} | job lag ${v(s.jobLag)} | active tenants ${v(s.activeTenants)} | requests by zone: ${share}`;
}

export class StatusLine {
  private timer: NodeJS.Timeout | undefined;
  private lastCounts: Record<string, number> | undefined;
  private lastLine = '';

  constructor(
    private readonly t: Topology,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly everyMs = 1_000,
  ) {}

  async snapshot(): Promise<StatusSnapshot> {
    const t = this.t;
    const up = t.databases.up();
    const byZone = Object.fromEntries(t.zones.map((z) => [z, up.filter((m) => m.zone === z).length]));
    const counts = await t.zoneRequests().catch(() => undefined);
    let zoneShare: Record<string, number> | undefined;
    if (counts && this.lastCounts) {
      const delta = Object.fromEntries(Object.entries(counts).map(([z, n]) => [z, Math.max(0, n - (this.lastCounts![z] ?? 0))]));
      const total = Object.values(delta).reduce((a, b) => a + b, 0);
      if (total > 0) zoneShare = Object.fromEntries(Object.entries(delta).map(([z, n]) => [z, (100 * n) / total]));
    }
    if (counts) this.lastCounts = counts;
    const triggerValue = (c: 'database' | 'worker', pick: (x: Trigger) => boolean) => {
      const a = t.autoscalers[c];
      const i = a.so.triggers.findIndex(pick);
      return i >= 0 ? a.last?.values[i] : undefined;
    };
    const jobLag = triggerValue('worker', (x) => x.type === 'nats-jetstream');
    const activeTenants = triggerValue('database', (x) => x.type === 'prometheus' && x.parsed.metric === 'percolate_active_tenants');
    return { databases: up.length, databasesByZone: byZone, workers: t.workers.running, jobLag, activeTenants, zoneShare };
  }

  start(): void {
    const tty = this.out.isTTY === true;
    const tick = async () => {
      const line = formatStatus(await this.snapshot());
      if (tty) this.out.write(`\r\x1b[2K${line.slice(0, Math.max(20, (this.out.columns ?? 200) - 1))}`);
      else if (line !== this.lastLine) this.out.write(`${new Date().toISOString()} ${line}\n`);
      this.lastLine = line;
      this.timer = setTimeout(() => void tick(), this.everyMs);
    };
    void tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    if (this.out.isTTY) this.out.write('\n');
  }
}
