/**
 * CPU time per process over a stretch of a run: where the two cores went. Every process of a bench run
 * shares them (server, simulator workers, the bench process itself), so a throughput figure only means
 * something next to who used the CPU. Read from /proc/<pid>/stat (utime + stime, in clock ticks of
 * 10 ms) for other processes and from process.cpuUsage() for this one.
 */
import { readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat: USER_HZ, 100 on every Linux that Node supports. */
const TICKS_PER_SECOND = 100;

/** CPU milliseconds (user + system) a process has used since it started; undefined when unreadable. */
export async function processCpuMs(pid: number): Promise<number | undefined> {
  if (pid === process.pid) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // not Linux, or the process is gone
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** One process's share of a measured stretch. */
export interface CpuShare {
  role: string;
  pid: number;
  /** CPU milliseconds used during the stretch. */
  cpuMs: number;
}

/** What a measured stretch came to: each process's CPU time, and the wall time it covered. */
export interface CpuWindow {
  cpu: CpuShare[];
  windowMs: number;
}

/** Starts measuring the named processes; `stop()` gives each one's CPU time since the start. */
export async function measureCpu(processes: readonly { role: string; pid: number }[]): Promise<{
  stop(): Promise<CpuWindow>;
}> {
  const before = await Promise.all(processes.map((p) => processCpuMs(p.pid)));
  const startedAt = performance.now();
  return {
    async stop() {
      const windowMs = performance.now() - startedAt;
      const after = await Promise.all(processes.map((p) => processCpuMs(p.pid)));
      const shares: CpuShare[] = [];
      processes.forEach((p, i) => {
        const start = before[i];
        const end = after[i];
        if (start !== undefined && end !== undefined) shares.push({ ...p, cpuMs: end - start });
      });
      return { cpu: shares, windowMs };
    },
  };
}

/** Server (or broker) CPU µs per acked message of a run; NaN when not measured. */
export function serverUs(r: { cpu: readonly CpuShare[]; acked: number }): number {
  const server = r.cpu.find((c) => c.role === 'server');
  return server === undefined || r.acked === 0 ? Number.NaN : (server.cpuMs * 1000) / r.acked;
}
