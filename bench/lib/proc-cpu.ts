// CPU time per process and for the whole machine, from Linux's /proc: what a benchmark phase cost each process, so
// that a result bound by the machine (every core busy) is told apart from one bound by the design. Elsewhere (no
// /proc) every reading is undefined and the tables show n/a.
import fs from 'node:fs';
import os from 'node:os';

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux architecture Node runs on). */
const TICKS_PER_S = 100;

/** CPU seconds (user + system) a process used so far. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields are counted after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S; // utime and stime are fields 14 and 15
  } catch {
    return undefined;
  }
}

/** Busy and total CPU seconds of the whole machine (all cores) so far. */
export function machineCpuSeconds(): { busy: number; total: number } | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (t[3] ?? 0) + (t[4] ?? 0); // idle + iowait
    const total = t.reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / TICKS_PER_S, total: total / TICKS_PER_S };
  } catch {
    return undefined;
  }
}

/** Pids whose command line contains every given part (for example a server and its port). */
export function findPids(...parts: string[]): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\u0000', ' ');
      if (parts.every((p) => cmd.includes(p))) out.push(Number(e));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** Per-process CPU figures as a table cell: "85 / 34 / 34" (n/a where /proc gave nothing). */
export function cpuPercents(perProcess: ReadonlyMap<string, number>): string {
  return [...perProcess.values()].map((v) => (Number.isNaN(v) ? 'n/a' : v.toFixed(0))).join(' / ');
}

/** Measures CPU use between two moments: per named process (% of one core) and the machine (% of all cores busy). */
export class CpuMeter {
  private before = new Map<string, { pid: number | undefined; cpuS: number | undefined }>();
  private machine: { busy: number; total: number } | undefined;

  constructor(private readonly pids: () => ReadonlyMap<string, number | undefined>) {}

  start(): void {
    this.before = new Map([...this.pids()].map(([name, pid]) => [name, { pid, cpuS: pid === undefined ? undefined : processCpuSeconds(pid) }]));
    this.machine = machineCpuSeconds();
  }

  /**
   * Per process: CPU seconds used since start() over `wallS`, as % of one core (a process that replaced another of the
   * same name counts from its own start); `machine`: % of all cores busy.
   */
  stop(wallS: number): { perProcess: Map<string, number>; machine: number; cores: number } {
    const perProcess = new Map<string, number>();
    for (const [name, pid] of this.pids()) {
      // a process started after start() (a restarted node) used all of its CPU time within the window
      const was = this.before.get(name);
      const a = was && was.pid === pid ? was.cpuS : 0;
      const b = pid === undefined ? undefined : processCpuSeconds(pid);
      perProcess.set(name, a === undefined || b === undefined ? NaN : (100 * (b - a)) / wallS);
    }
    const m = machineCpuSeconds();
    const machine = m && this.machine ? (100 * (m.busy - this.machine.busy)) / Math.max(1e-9, m.total - this.machine.total) : NaN;
    return { perProcess, machine, cores: os.cpus().length };
  }
}
