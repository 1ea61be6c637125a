/**
 * Runs the node-crash scenario of issue 13 (packages/server/test/cluster/node-kill.ts: three server
 * processes on one Redis behind a TCP front, traffic through all three APIs, one node killed with
 * SIGKILL) N times in a row, each with a fresh seed, Redis and nodes, and prints one line per run and
 * a summary. A failing run prints its seed; LOCALPUSH_CLUSTER_KILL_SEED=<seed> repeats it in the test.
 * Exits 1 if any run lost or duplicated an accepted message.
 *
 *   node --conditions=source --import tsx bench/cluster-kill-loop.ts [runs=20]
 *
 * reconnect: ms from the kill until the last device of the dead node was welcomed by another node
 * (the bound is heartbeat interval + grace + the client's back-off ceiling); settle: ms from the last
 * API answer until every accepted message was in its app.
 */
import { runNodeKill, type KillFigures } from '../packages/server/test/cluster/node-kill.js';
import { redisSkipReason } from '../packages/server/test/helpers/redis-server.js';

const RUNS = Number(process.argv[2] ?? 20);
const skip = redisSkipReason();
if (skip !== undefined) {
  console.log(skip);
  process.exit(0);
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const sum = values.reduce((a, b) => a + b, 0);
  return `min ${at(0)}  median ${at(0.5)}  max ${sorted[sorted.length - 1] ?? 0}  total ${sum}`;
}

const columns: Array<[string, number, (f: KillFigures) => string]> = [
  ['seed', 10, (f) => String(f.seed)],
  ['onVictim', 8, (f) => String(f.onVictim)],
  ['accepted', 8, (f) => String(f.accepted)],
  ['atKill', 6, (f) => String(f.acceptedAtKill)],
  ['noAnswer', 8, (f) => String(f.unanswered)],
  ['noAnswer→app', 12, (f) => String(f.unansweredDelivered)],
  ['missing', 7, (f) => String(f.missing)],
  ['dup', 3, (f) => String(f.duplicates)],
  ['reconnect', 9, (f) => String(f.reconnectMs)],
  ['settle', 6, (f) => String(f.settleMs)],
];
console.log(['run', 'pass', ...columns.map(([name, width]) => name.padStart(width))].join('  '));
const rows: KillFigures[] = [];
let failed = 0;
for (let run = 1; run <= RUNS; run++) {
  let figures: KillFigures;
  try {
    figures = await runNodeKill();
  } catch (error) {
    failed++;
    console.log(
      `${String(run).padStart(3)}  FAIL  ${error instanceof Error ? error.message : String(error)}`,
    );
    continue;
  }
  const ok = figures.missing === 0 && figures.duplicates === 0;
  if (!ok) failed++;
  rows.push(figures);
  const cells = [
    String(run).padStart(3),
    ok ? ' ok ' : 'FAIL',
    ...columns.map(([, w, show]) => show(figures).padStart(w)),
  ];
  console.log(cells.join('  '));
  if (!ok) console.log(`     missing: ${figures.missingSample.join('; ')}`);
}
console.log(`\n${RUNS - failed}/${RUNS} runs passed`);
if (rows.length > 0) {
  const col = (pick: (f: KillFigures) => number): string => stats(rows.map(pick));
  console.log(`accepted (2xx)                 ${col((f) => f.accepted)}`);
  console.log(`devices on the killed node     ${col((f) => f.onVictim)}`);
  console.log(`requests without an answer     ${col((f) => f.unanswered)}  (sent to the dying node)`);
  console.log(
    `  … delivered anyway           ${col((f) => f.unansweredDelivered)}  (stored before the crash)`,
  );
  console.log(`accepted, never delivered      ${col((f) => f.missing)}`);
  console.log(`delivered twice to an app      ${col((f) => f.duplicates)}`);
  console.log(`kill → devices back, ms        ${col((f) => f.reconnectMs)}  (bound ${rows[0]?.boundMs} ms)`);
  console.log(`last answer → all in app, ms   ${col((f) => f.settleMs)}`);
}
process.exit(failed > 0 ? 1 : 0);
