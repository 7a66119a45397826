// KEDA's scaling loop for one ScaledObject, applied to the topology's processes instead of a Deployment or
// StatefulSet. Every pollingInterval it reads each trigger's value; the object is active while some trigger's value
// is above its activation threshold. While active, the replicas KEDA's HPA asks for are the largest
// ceil(value / threshold) over the triggers (AverageValue targets), clamped to [max(1, min), max], and kept at the
// highest such count of the last scale-down stabilization window (the HPA's default 300 s) so a draining queue does
// not shrink the pool at every poll. Once no trigger has been active for cooldownPeriod it scales to
// minReplicaCount. Simplified: the HPA's 10 % tolerance and its scale-up rate limits are not modelled (the
// replicas go straight to the count asked), and a trigger that cannot be read keeps the current count (KEDA without
// a fallback section does the same). A time scale below 1 shortens every period (tests), never the thresholds.
import type { MetricSources } from './metric-sources.js';
import type { ScaledObject } from './scaled-objects.js';

/** The HPA's default scale-down stabilization window. */
export const HPA_SCALE_DOWN_STABILIZATION_S = 300;

export interface ScaleTarget {
  /** Replicas wanted now (the pool may still be starting or stopping some). */
  readonly replicas: number;
  scaleTo(n: number): void;
}

export interface Evaluation {
  at: number;
  values: number[];
  active: boolean;
  desired: number;
  error?: string;
}

export interface AutoscalerOptions {
  /** Multiplies pollingInterval, cooldownPeriod, the stabilization window and rate() windows (1: as written). */
  timeScale: number;
  /** Replaces the file's pollingInterval / cooldownPeriod (seconds, before the time scale). */
  pollingIntervalS?: number;
  cooldownPeriodS?: number;
  /** false: evaluate (for the status line) but leave the replicas alone. */
  apply: boolean;
  log(line: string): void;
  now?: () => number;
}

export class Autoscaler {
  last: Evaluation | undefined;
  /** The highest replica count this autoscaler asked for (tests report it). */
  peak = 0;
  private lastActiveAt: number;
  private recommendations: { at: number; n: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(
    readonly so: ScaledObject,
    private readonly sources: MetricSources,
    private readonly target: ScaleTarget,
    private readonly o: AutoscalerOptions,
  ) {
    this.now = o.now ?? Date.now;
    // counted from the start, so replicas running at start are kept for one cooldown (KEDA's initial state), and
    // the HPA's stabilization window starts with the current count (it does not drop them at its first poll)
    this.lastActiveAt = this.now();
    if (target.replicas > 0) this.recommendations.push({ at: this.lastActiveAt, n: target.replicas });
  }

  get pollingIntervalMs(): number {
    return (this.o.pollingIntervalS ?? this.so.pollingIntervalS) * 1000 * this.o.timeScale;
  }

  get cooldownMs(): number {
    return (this.o.cooldownPeriodS ?? this.so.cooldownPeriodS) * 1000 * this.o.timeScale;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      await this.poll().catch((err: unknown) => this.o.log(`autoscaler ${this.so.name}: ${(err as Error).message}`));
      if (!this.stopped) this.timer = setTimeout(tick, this.pollingIntervalMs);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One evaluation, applied unless the options say not to. */
  async poll(): Promise<Evaluation> {
    if (this.running) return this.last!;
    this.running = true;
    try {
      const e = await this.evaluate();
      this.last = e;
      if (this.o.apply && e.error === undefined && e.desired !== this.target.replicas) {
        this.o.log(`autoscaler ${this.so.name}: ${this.target.replicas} -> ${e.desired} replicas (values ${e.values.join(', ')}; ${e.active ? 'active' : 'inactive'})`);
        this.target.scaleTo(e.desired);
      }
      if (this.o.apply && e.error === undefined) this.peak = Math.max(this.peak, e.desired);
      return e;
    } finally {
      this.running = false;
    }
  }

  private async evaluate(): Promise<Evaluation> {
    const so = this.so;
    const now = this.now();
    let values: number[];
    try {
      values = await Promise.all(so.triggers.map((t) => this.sources.value(t, this.o.timeScale)));
    } catch (err) {
      return { at: now, values: [], active: false, desired: this.target.replicas, error: (err as Error).message };
    }
    const active = so.triggers.some((t, i) => values[i]! > (t.type === 'prometheus' ? t.activationThreshold : t.activationLagThreshold));
    const floor = Math.max(1, so.minReplicaCount);
    const clamp = (n: number) => Math.min(so.maxReplicaCount, Math.max(floor, n));
    let desired: number;
    if (active) {
      this.lastActiveAt = now;
      const asked = Math.max(...so.triggers.map((t, i) => Math.ceil(values[i]! / (t.type === 'prometheus' ? t.threshold : t.lagThreshold))));
      desired = this.stabilized(now, clamp(asked));
    } else if (now - this.lastActiveAt >= this.cooldownMs) {
      // KEDA's own step: to minReplicaCount once the cooldown has passed with no trigger active
      desired = so.minReplicaCount;
      this.recommendations = [];
    } else {
      // inside the cooldown the HPA still runs, on values below every target: its floor, stabilized
      desired = this.target.replicas === 0 ? 0 : this.stabilized(now, floor);
    }
    return { at: now, values, active, desired };
  }

  /** The highest recommendation within the scale-down stabilization window, this one included. */
  private stabilized(now: number, n: number): number {
    const windowMs = HPA_SCALE_DOWN_STABILIZATION_S * 1000 * this.o.timeScale;
    this.recommendations.push({ at: now, n });
    this.recommendations = this.recommendations.filter((r) => now - r.at <= windowMs);
    return Math.max(...this.recommendations.map((r) => r.n));
  }
}
