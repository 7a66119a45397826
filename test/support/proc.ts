// Resident memory and CPU time of a process (Linux /proc), and its peak memory while something runs, for tests and
// benchmarks.
import fs from 'node:fs';

function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for process ${pid}`);
  return Number(m[1]) * 1024;
}

export function rssBytes(pid: number): number {
  return statusBytes(pid, 'VmRSS');
}

/** The highest RSS the process has had since it started (the kernel's high-water mark). */
export function peakRssBytes(pid: number): number {
  return statusBytes(pid, 'VmHWM');
}

/** Samples the RSS of `pid` every `everyMs` while `fn` runs: fn's result, the RSS before, and the peak. */
export async function withPeakRss<T>(pid: number, fn: () => Promise<T>, everyMs = 25): Promise<{ result: T; baseline: number; peak: number }> {
  const baseline = rssBytes(pid);
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), everyMs);
  try {
    const result = await fn();
    peak = Math.max(peak, rssBytes(pid));
    return { result, baseline, peak };
  } finally {
    clearInterval(timer);
  }
}

/** User plus system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  // fields after the command name (which may contain spaces): utime and stime are the 12th and 13th, in clock ticks
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
