/** Percentiles, a progress line, and the machine description that goes with every figure. */
import { cpus, totalmem } from 'node:os';

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarise(values: number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const list = Array.from(sorted);
  return {
    count: list.length,
    p50: percentile(list, 50),
    p99: percentile(list, 99),
    p999: percentile(list, 99.9),
    max: list[list.length - 1] ?? Number.NaN,
  };
}

/**
 * A progress bar on stderr. On a terminal it redraws one line; in a log (CI, a pipe) it prints a line
 * every 10 %, so the log stays readable.
 */
export class Progress {
  private lastDecile = -1;
  private readonly tty = process.stderr.isTTY;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(done: number): void {
    const fraction = this.total === 0 ? 1 : Math.min(1, done / this.total);
    if (this.tty) {
      const width = 30;
      const filled = Math.round(fraction * width);
      process.stderr.write(
        `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`,
      );
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile === this.lastDecile) return;
    this.lastDecile = decile;
    process.stderr.write(`${this.label} ${decile * 10}% (${done}/${this.total})\n`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

export interface Machine {
  node: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
}

export function machine(): Machine {
  const list = cpus();
  return {
    node: process.version,
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
