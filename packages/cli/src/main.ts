#!/usr/bin/env node
/** The `localpush` command: dispatches to one module per subcommand. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, LocalpushError } from '@localpush/server';
import { CliError, CliErrorCode, EXIT, type CliIo } from './common.js';
import { device } from './device.js';
import { listen } from './listen.js';
import { send } from './send.js';
import { serve } from './serve.js';

export const MAIN_HELP = `Usage: localpush <command> [options]

Local Push Connectivity for TypeScript: a self-hosted push server for devices on networks without
a route to Apple, and the tools around it.

Commands:
  serve          start the server (zero configuration: keeps its state in ./.localpush)
  device         add, list or remove devices
  send           push a message to devices and wait for their acknowledgement
  listen         connect as a device and print what arrives
  agent          run the client SDK's provider host from a preferences file (a device daemon)
  demo           chat and call from the browser (and Apple's SimplePush sample): one command
  doctor         check the network between a device and the server (route, session, Wi-Fi)
  backup         copy the server's database to a file, safe while it runs
  restore        put a backup back (with the server stopped)
  config         write a commented config file (init), or check one and show where each value comes from

Options:
  -h, --help     show this help ("localpush help <command>" shows a command's)
  -v, --version  print the version

Run "localpush <command> --help" (or "localpush help <command>") for a command's options.
Exit status: 0 success, 1 failure, 2 bad usage (each command's help says more).
`;

type Command = (args: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  serve,
  device,
  send,
  listen,
  agent: async (args, io) => (await import('./agent.js')).agent(args, io),
  demo: async (args, io) => (await import('./demo.js')).demo(args, io),
  doctor: async (args, io) => (await import('./doctor.js')).doctor(args, io),
  backup: async (args, io) => (await import('./backup.js')).backup(args, io),
  restore: async (args, io) => (await import('./backup.js')).restore(args, io),
  config: async (args, io) => (await import('./config.js')).config(args, io),
};

/** Runs one command line; returns the exit code. Never throws: every failure is one coded line. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  // "localpush help send" is "localpush send --help".
  const [name, args] = first === 'help' && rest[0] !== undefined ? [rest[0], ['--help']] : [first, rest];
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(MAIN_HELP);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    io.stdout('localpush 0.1.0\n');
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr(
      `localpush: ${CliErrorCode.USAGE}: unknown command "${name}"; run "localpush --help" for the commands\n`,
    );
    return EXIT.usage;
  }
  try {
    return await command(args, io);
  } catch (error) {
    return report(`localpush ${name}`, error, io, wantsDebug(args, io.env));
  }
}

/** `--log-level debug|trace` (or LOCALPUSH_LOG_LEVEL): failures then print their stack too. */
function wantsDebug(args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const at = args.findLastIndex((a) => a === '--log-level' || a.startsWith('--log-level='));
  const level = at === -1 ? env.LOCALPUSH_LOG_LEVEL : (args[at]?.split('=')[1] ?? args[at + 1] ?? undefined);
  return level === 'debug' || level === 'trace';
}

/** Prints a failure as one line per problem, `<command>: <code>: <problem>`, and answers its exit code. */
function report(prefix: string, error: unknown, io: CliIo, debug: boolean): number {
  const line = (code: string, problems: readonly string[]): void => {
    for (const problem of problems) io.stderr(`${prefix}: ${code}: ${problem}\n`);
  };
  let exitCode: number = EXIT.failure;
  if (error instanceof CliError) {
    line(error.code, error.problems);
    exitCode = error.exitCode;
  } else if (error instanceof ConfigError) {
    // A configuration mistake is bad usage of the command that was given it.
    line(error.code, error.problems);
    exitCode = EXIT.usage;
  } else if (error instanceof LocalpushError) {
    line(error.code, [error.message]);
  } else {
    const hint = debug ? '' : ' (run with --log-level debug for the stack trace)';
    line(CliErrorCode.INTERNAL, [`${(error as Error).message ?? String(error)}${hint}`]);
  }
  if (debug) {
    for (let e: unknown = error; e instanceof Error; e = e.cause)
      io.stderr(`${e === error ? '' : 'caused by: '}${e.stack ?? e.message}\n`);
  }
  return exitCode;
}

/** The real process's input and output. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    untilInterrupted: (done) =>
      new Promise<void>((resolve) => {
        // Library timers are unref'd (a heartbeat must never keep a process alive by itself), so while a
        // client waits out its back-off nothing else holds the event loop: this timer keeps the command
        // running until it is interrupted — or until the command ends by itself (`done`), when nothing
        // must be left to keep the process from exiting.
        const keepAlive = setInterval(() => {}, 1 << 30);
        const stop = (): void => {
          clearInterval(keepAlive);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done?.removeEventListener('abort', stop);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        if (done?.aborted === true) stop();
        else done?.addEventListener('abort', stop);
      }),
    onHangup: (listener) => {
      process.on('SIGHUP', listener);
      return () => process.off('SIGHUP', listener);
    },
  };
}

const invokedDirectly = (() => {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  run(process.argv.slice(2), processIo()).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`localpush: internal error: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
