/** The SDK's logging seam: one function, so it plugs into pino, console or a test array alike. */

/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives the SDK's log lines. `fields` carries structured context (config id, reason, error). */
export type SdkLog = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Discards everything; the default where a library must not write to stdout on its own. */
export const silentLog: SdkLog = () => undefined;

/** Writes `level message {fields}` lines to stderr (stdout stays free for the CLI's own output). */
export const consoleLog: SdkLog = (level, message, fields) => {
  const extra = fields === undefined ? '' : ` ${JSON.stringify(fields, errorReplacer)}`;
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}${extra}\n`);
};

/** JSON.stringify turns an Error into `{}`; keep name, code and message instead. */
export function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  }
  return value;
}
