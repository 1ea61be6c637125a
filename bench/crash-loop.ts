/**
 * Runs the crash-safety test (packages/server/test/crash) N times in a row, each in a fresh node --test
 * process with a fresh random kill point, and prints one line of figures per run and a summary. A
 * failing run's whole output is printed with its seed, which repeats it (LOCALPUSH_CRASH_SEED=<seed>).
 * Exits 1 if any run failed.
 *
 *   node --import tsx bench/crash-loop.ts [runs=20]
 *
 * Times in the table are milliseconds from the kill: server ready again, device reconnected, everything
 * accepted before the kill in the app (backlog), everything accepted at all in the app (total).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.argv[2] ?? 20);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TEST = 'packages/server/test/crash/sigkill-restart.test.ts';

/** The figures line the test writes (see the test for what each means). */
interface Figures {
  seed: number;
  accepted: number;
  acceptedAtKill: number;
  inFlightAtKill: number;
  backlogAtKill: number;
  abandoned: number;
  deliveredWithoutAnswer: number;
  committedWithoutAnswer: number;
  received: number;
  appDuplicates: number;
  appStalled: boolean;
  wireDuplicates: number;
  wireDuplicatesInFlight: number;
  wireDuplicatesProcessed: number;
  resentAfterRestart: number;
  resumeClamped: number;
  restartMs: number;
  reconnectMs: number;
  backlogMs: number;
  totalMs: number;
}

function runOnce(report: string): Promise<{ code: number; output: string; ms: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--test', TEST], {
    cwd: ROOT,
    env: { ...process.env, LOCALPUSH_CRASH_REPORT: report },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve) => {
    child.once('close', (code) => resolve({ code: code ?? 1, output, ms: performance.now() - started }));
  });
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const sum = values.reduce((a, b) => a + b, 0);
  return `min ${at(0)}  median ${at(0.5)}  max ${sorted[sorted.length - 1] ?? 0}  total ${sum}`;
}

const dir = await mkdtemp(join(tmpdir(), 'localpush-crash-loop-'));
try {
  const rows: Figures[] = [];
  let failed = 0;
  /** The per-run table: header, width, and the figure shown. */
  const columns: Array<[string, number, (f: Figures) => string]> = [
    ['seed', 10, (f) => String(f.seed)],
    ['stall', 5, (f) => (f.appStalled ? 'yes' : 'no')],
    ['accepted', 8, (f) => String(f.accepted)],
    ['atKill', 6, (f) => String(f.acceptedAtKill)],
    ['inFlight', 8, (f) => String(f.inFlightAtKill)],
    ['backlog', 7, (f) => String(f.backlogAtKill)],
    ['abandoned', 9, (f) => String(f.abandoned)],
    ['noAnswer→app', 12, (f) => String(f.deliveredWithoutAnswer)],
    ['retryDup', 8, (f) => String(f.committedWithoutAnswer)],
    ['appDup', 6, (f) => String(f.appDuplicates)],
    ['wireDup', 7, (f) => String(f.wireDuplicates)],
    ['clamp', 5, (f) => String(f.resumeClamped)],
    ['restart', 7, (f) => `${f.restartMs}`],
    ['reconnect', 9, (f) => `${f.reconnectMs}`],
    ['backlog', 7, (f) => `${f.backlogMs}`],
    ['total', 6, (f) => `${f.totalMs}`],
  ];
  console.log(['run', 'pass', ...columns.map(([name, width]) => name.padStart(width))].join('  '));
  for (let run = 1; run <= RUNS; run++) {
    const report = join(dir, `run-${run}.jsonl`);
    const { code, output, ms } = await runOnce(report);
    const line = await readFile(report, 'utf8').catch(() => '');
    const figures = line.trim() === '' ? undefined : (JSON.parse(line.trim()) as Figures);
    if (code !== 0 || figures === undefined) {
      failed++;
      const seed = /seed (\d+)/.exec(output)?.[1] ?? '?';
      console.log(`${String(run).padStart(3)}  FAIL  seed ${seed}  (${Math.round(ms)} ms)`);
      console.error(output);
      continue;
    }
    rows.push(figures);
    const cells = [
      String(run).padStart(3),
      ' ok ',
      ...columns.map(([, width, show]) => show(figures).padStart(width)),
    ];
    console.log(cells.join('  '));
  }
  console.log(`\n${RUNS - failed}/${RUNS} runs passed`);
  if (rows.length > 0) {
    const col = (pick: (f: Figures) => number): string => stats(rows.map(pick));
    console.log(`accepted (2xx)               ${col((f) => f.accepted)}`);
    console.log(`messages in flight at kill   ${col((f) => f.inFlightAtKill)}  (in unanswered API requests)`);
    console.log(
      `backlog at kill              ${col((f) => f.backlogAtKill)}  (accepted, not yet in the app)`,
    );
    console.log(
      `delivered without a 2xx      ${col((f) => f.deliveredWithoutAnswer)}  (committed, answer lost, given up)`,
    );
    console.log(
      `retry answered duplicate     ${col((f) => f.committedWithoutAnswer)}  (committed, answer lost, retried)`,
    );
    console.log(`duplicates at the app        ${col((f) => f.appDuplicates)}`);
    console.log(`written by both processes    ${col((f) => f.resentAfterRestart)}`);
    console.log(
      `wire duplicates dropped      ${col((f) => f.wireDuplicates)}  (by the client, never shown to the app)`,
    );
    console.log(
      `  … still being handled      ${col((f) => f.wireDuplicatesInFlight)}  (its ack follows the handler)`,
    );
    console.log(
      `  … already handled          ${col((f) => f.wireDuplicatesProcessed)}  (in the dedupe window: acked again)`,
    );
    console.log(`resume cursor clamped        ${col((f) => f.resumeClamped)}`);
    console.log(`kill → server ready, ms      ${col((f) => f.restartMs)}`);
    console.log(`kill → device reconnected    ${col((f) => f.reconnectMs)}`);
    console.log(`kill → pre-kill backlog in app ${col((f) => f.backlogMs)}`);
    console.log(`kill → everything in app     ${col((f) => f.totalMs)}`);
  }
  process.exitCode = failed === 0 ? 0 : 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
