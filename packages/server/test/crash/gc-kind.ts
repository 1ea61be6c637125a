/**
 * The name of a garbage-collection pause's kind, from the `detail.kind` of a PerformanceObserver 'gc'
 * entry. The numbers are Node's (perf_hooks.constants.NODE_PERFORMANCE_GC_*), read from Node rather than
 * written down: a table of literals once called every scavenge a mark-compact.
 */
import { constants } from 'node:perf_hooks';

const GC_KINDS = new Map<number, string>([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/** 'minor' (scavenge), 'major' (mark-compact), 'incremental', 'weakcb', or 'other'. */
export function gcKindName(kind: number | undefined): string {
  return (kind === undefined ? undefined : GC_KINDS.get(kind)) ?? 'other';
}
