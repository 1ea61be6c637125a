#!/usr/bin/env node
/** The `localpush` command: dispatches to one module per subcommand. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LocalpushError } from '@localpush/server';
import { CliError, EXIT, type CliIo } from './common.js';
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

Run "localpush <command> --help" for a command's options.
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
};

/** Runs one command line; returns the exit code. Never throws for a person's mistake. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
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
    io.stderr(`localpush: unknown command "${name}"\n\n${MAIN_HELP}`);
    return EXIT.usage;
  }
  try {
    return await command(args, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr(`localpush ${name}: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof LocalpushError) {
      io.stderr(`localpush ${name}: ${error.code}: ${error.message}\n`);
      return EXIT.failure;
    }
    throw error;
  }
}

/** The real process's input and output. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    untilInterrupted: () =>
      new Promise<void>((resolve) => {
        // Library timers are unref'd (a heartbeat must never keep a process alive by itself), so while a
        // client waits out its back-off nothing else holds the event loop: this timer keeps the command
        // running until it is interrupted.
        const keepAlive = setInterval(() => {}, 1 << 30);
        const stop = (): void => {
          clearInterval(keepAlive);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
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
