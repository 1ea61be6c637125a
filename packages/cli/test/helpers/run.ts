/** CLI commands run in this process, with their output captured and a Ctrl-C of their own. */
import { run } from '../../src/main.js';
import type { CliIo } from '../../src/common.js';

/** A CLI command running in this process. */
export interface CapturedRun {
  code: Promise<number>;
  stdout: string[];
  stderr: string[];
  /** Ends a long-running command as Ctrl-C would. */
  interrupt: () => void;
  /** Resolves when stdout has a line matching `pattern`. */
  waitFor: (pattern: RegExp) => Promise<string>;
}

export function cli(argv: string[], env: NodeJS.ProcessEnv = {}): CapturedRun {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let interrupt = (): void => {};
  const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
  const watchers = new Set<() => void>();
  const io: CliIo = {
    stdout: (text) => {
      stdout.push(text);
      for (const w of [...watchers]) w();
    },
    stderr: (text) => stderr.push(text),
    env,
    untilInterrupted: () => interrupted,
  };
  return {
    code: run(argv, io),
    stdout,
    stderr,
    interrupt,
    waitFor: (pattern) =>
      new Promise((resolve) => {
        const check = (): void => {
          const line = stdout
            .join('')
            .split('\n')
            .find((l) => pattern.test(l));
          if (line !== undefined) {
            watchers.delete(check);
            resolve(line);
          }
        };
        watchers.add(check);
        check();
      }),
  };
}
