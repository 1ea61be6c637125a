/**
 * The server's logger: pino, writing to stderr. JSON lines when stderr is not a terminal (journald, a
 * file, a log shipper read them as they are); readable lines when it is a terminal — time, level,
 * message, then the fields — through pino-pretty's formatter, synchronously in this thread, so that
 * nothing logged before an exit is lost. `--log-format json|pretty` chooses either way regardless of the terminal.
 */
import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { LogFormat } from './config/options.js';

/** Where the lines go: a file descriptor, and whether it is a terminal. */
export interface LogDestination {
  readonly fd: number;
  readonly isTTY: boolean;
}

/** stderr, as the server's logs use it. */
export function stderrDestination(): LogDestination {
  return { fd: 2, isTTY: process.stderr.isTTY === true };
}

/** Whether `format` writes readable lines to `destination`. */
export function isPretty(format: LogFormat, destination: LogDestination): boolean {
  return format === 'pretty' || (format === 'auto' && destination.isTTY);
}

/** The logger of `localpush serve` (and of `startServer` when no logger is given). */
export function createLogger(
  options: { level: string; format: LogFormat },
  destination: LogDestination = stderrDestination(),
): Logger {
  const out = pino.destination({ fd: destination.fd, sync: true });
  if (!isPretty(options.format, destination)) return pino({ level: options.level }, out);
  // pino-pretty's formatter, called in line: its stream form pipes through a Transform, whose writes
  // happen later — after an exit, for the last lines a failing start writes.
  const prettify = prettyFactory({
    colorize: destination.isTTY,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return pino({ level: options.level }, { write: (line: string) => out.write(prettify(line)) });
}
