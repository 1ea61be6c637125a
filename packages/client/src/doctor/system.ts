/**
 * How the doctor asks the system: one injectable tool runner (tests pass recorded outputs; the real one
 * runs the program without a shell, in the C locale), and a finder for programs on PATH.
 */
import { execFile } from 'node:child_process';
import { findOnPath, readSysNet } from '../sdk/network.js';
import type { SysNetInterface } from '../sdk/network-parsers.js';

/** What one run of a tool printed, and how it ended. */
export interface ToolOutput {
  stdout: string;
  stderr: string;
  /** Exit status; null when it could not be started or was killed (then `error` says why). */
  code: number | null;
  error?: string;
}

/** The system as the doctor sees it: run a program, find one, list the network interfaces. */
export interface DoctorSystem {
  run(program: string, args: readonly string[]): Promise<ToolOutput>;
  /** Absolute path of a program, or undefined when it is not installed. */
  which(program: string): Promise<string | undefined>;
  interfaces(): Promise<SysNetInterface[]>;
  /** Whether the process may read what `iw` needs (root or CAP_NET_ADMIN on most drivers). */
  isRoot(): boolean;
}

/** The real system: programs run with a timeout, in the C locale so their output is parseable. */
export function realSystem(timeoutMs = 10_000): DoctorSystem {
  return {
    run: (program, args) =>
      new Promise((resolve) => {
        execFile(
          program,
          [...args],
          { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, windowsHide: true },
          (error, stdout, stderr) => {
            const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
            const out: ToolOutput = { stdout, stderr, code };
            if (error !== null && code === null) out.error = error.message;
            resolve(out);
          },
        );
      }),
    which: (program) => findOnPath(program),
    interfaces: () => readSysNet(),
    isRoot: () => typeof process.getuid === 'function' && process.getuid() === 0,
  };
}
