/**
 * Small statistics shared by the device's doctor (the client) and the server's health view, so that a
 * p99 means the same thing on both sides of a connection.
 */

/** Nearest-rank percentile of a sample (p in 0–100); undefined for an empty sample. */
export function percentile(values: ArrayLike<number>, p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = Array.from(values).sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}
