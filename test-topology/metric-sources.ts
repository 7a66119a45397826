// Where the autoscaler's trigger values come from, in place of Prometheus and KEDA's NATS scaler:
//  - sum(metric{labels}): the matching series of every scrape target's /metrics (the database nodes and the gateway),
//    summed, as Prometheus would over its targets;
//  - sum(rate(counter{labels}[w])): a counter the topology supplies (HAProxy's request total of the database backend
//    stands in for istio_requests_total), sampled at each poll; the rate is the increase over the samples within the
//    window divided by the time they span (Prometheus extrapolates to the window's edges; this does not);
//  - nats-jetstream: KEDA's lag, num_pending + num_ack_pending of the consumer, from /jsz?acc=<account>&consumers=true
//    of the server that leads the consumer (the stream's last sequence when the consumer does not exist).
import type { PromQuery, Trigger } from './scaled-objects.js';

const SCRAPE_TIMEOUT_MS = 3_000;

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments and malformed lines skipped). */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const value = Number(m[3]);
    if (Number.isFinite(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

const matches = (s: Sample, q: { metric: string; labels: Record<string, string> }) =>
  s.name === q.metric && Object.entries(q.labels).every(([k, v]) => s.labels[k] === v);

export interface MetricSourcesOptions {
  /** /metrics URLs scraped for sum() queries (asked at each evaluation: the set changes as nodes come and go). */
  scrapeTargets(): string[];
  /** Counters the topology supplies for rate() queries: undefined when it has none for this metric. */
  counter(metric: string, labels: Record<string, string>): Promise<number | undefined>;
  /** NATS monitoring base URLs (http://host:port). */
  natsMonitors(): string[];
  now?: () => number;
}

export class MetricSources {
  /** Counter samples per rate() query, oldest first, trimmed to the query's window. */
  private readonly history = new Map<string, { t: number; v: number }[]>();
  private readonly serverNames = new Map<string, string>();

  constructor(private readonly o: MetricSourcesOptions) {}

  /** The value KEDA would compare with the trigger's thresholds. */
  async value(t: Trigger, timeScale = 1): Promise<number> {
    if (t.type === 'nats-jetstream') return this.jetstreamLag(t.account, t.stream, t.consumer);
    return this.prometheus(t.parsed, timeScale);
  }

  private async prometheus(q: PromQuery, timeScale: number): Promise<number> {
    if (q.kind !== 'sum-rate') {
      const targets = this.o.scrapeTargets();
      // max: a gauge every replica reports alike (the gateways' percolate_jobs_pending of one consumer)
      const values: number[] = [];
      await Promise.all(
        targets.map(async (url) => {
          let text: string;
          try {
            const res = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
            text = await res.text();
            if (!res.ok) return;
          } catch {
            return; // a target that is down has no series (Prometheus: up == 0)
          }
          for (const s of parsePrometheusText(text)) if (matches(s, q)) values.push(s.value);
        }),
      );
      if (q.kind === 'max') return values.length ? Math.max(...values) : 0;
      return values.reduce((a, v) => a + v, 0);
    }
    const v = await this.o.counter(q.metric, q.labels);
    if (v === undefined) throw new Error(`no source for counter ${q.metric}${JSON.stringify(q.labels)} in the local topology`);
    const now = (this.o.now ?? Date.now)();
    const key = JSON.stringify(q);
    const windowMs = q.windowS * 1000 * timeScale;
    const h = this.history.get(key) ?? [];
    h.push({ t: now, v });
    while (h.length > 2 && now - h[0]!.t > windowMs) h.shift();
    this.history.set(key, h);
    if (h.length < 2) return 0;
    let increase = 0;
    for (let i = 1; i < h.length; i++) {
      const d = h[i]!.v - h[i - 1]!.v;
      increase += d >= 0 ? d : h[i]!.v; // a reset (HAProxy restarted): counted from zero, as Prometheus does
    }
    const spanS = (h[h.length - 1]!.t - h[0]!.t) / 1000;
    // per second of the scaled clock, so a time-scaled topology sees the rate the real clock would
    return spanS > 0 ? (increase / spanS) * timeScale : 0;
  }

  private async serverName(monitor: string): Promise<string | undefined> {
    const cached = this.serverNames.get(monitor);
    if (cached) return cached;
    const res = await fetch(`${monitor}/varz`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    const name = ((await res.json()) as { server_name?: string }).server_name;
    if (name) this.serverNames.set(monitor, name);
    return name;
  }

  /** num_pending + num_ack_pending of the consumer as its leader reports it. */
  async jetstreamLag(account: string, stream: string, consumer: string): Promise<number> {
    const answers = await Promise.all(
      this.o.natsMonitors().map(async (m) => {
        try {
          const res = await fetch(`${m}/jsz?acc=${encodeURIComponent(account)}&consumers=true&config=true`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
          if (!res.ok) return undefined;
          return { name: await this.serverName(m), jsz: (await res.json()) as any };
        } catch {
          return undefined; // a server that is down
        }
      }),
    );
    let fallback: number | undefined;
    let streamSeen = false;
    for (const a of answers) {
      if (!a) continue;
      const acc = (a.jsz.account_details ?? []).find((x: any) => x.name === account);
      const st = (acc?.stream_detail ?? []).find((x: any) => x.name === stream);
      if (!st) continue;
      streamSeen = true;
      const c = (st.consumer_detail ?? []).find((x: any) => x.name === consumer);
      if (!c) {
        fallback ??= Number(st.state?.last_seq ?? 0);
        continue;
      }
      const lag = Number(c.num_pending ?? 0) + Number(c.num_ack_pending ?? 0);
      // a single server, or the consumer's leader: the followers' counts lag behind
      if (!c.cluster?.leader || c.cluster.leader === a.name) return lag;
      fallback = lag;
    }
    if (!streamSeen) throw new Error(`stream ${stream} not found on any NATS server`);
    return fallback ?? 0;
  }
}
