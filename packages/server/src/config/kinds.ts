/**
 * The kinds of value a server option can hold, each knowing how to read itself from a flag or an
 * environment variable (text), from a config file (a TOML value), how to show itself (help, `config
 * check`), and how zod validates it in code. An option in options.ts is one of these plus its name,
 * default and help; everything else about the option is derived.
 */
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, kb: 1000, mib: 1024 ** 2, mb: 1000 ** 2 };

/** Parses "250ms", "20s", "5m", "1h", "7d" or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) throw new Error(`"${text}" is not a duration (examples: 500ms, 20s, 5m, 1h)`);
  return Math.round(Number(match[1]) * (DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()] ?? 1));
}

/** Parses "65536", "64KiB", "1MiB", "1MB". */
export function parseSize(text: string): number {
  const match = /^\s*(\d+)\s*(b|kib|kb|mib|mb)?\s*$/i.exec(text);
  if (!match) throw new Error(`"${text}" is not a size (examples: 65536, 64KiB, 1MiB)`);
  return Number(match[1]) * (SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1);
}

/** 20000 → "20s", 1500 → "1500ms", 604800000 → "7d": the largest unit that divides evenly. */
export function showDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** 65536 → "64KiB", 1048576 → "1MiB", 1000 → "1000". */
export function showSize(bytes: number): string {
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return String(bytes);
}

/** Where a value is read from: a path in a config file is relative to the file's directory. */
export interface ReadContext {
  /** Directory that relative paths are resolved against. */
  readonly baseDir: string;
}

/**
 * A kind of option value. `parse` and `fromFile` throw an Error whose message completes a sentence
 * after the option's name: either "must be …, got …" or a statement such as `"x" is not a duration`.
 */
export interface Kind<T> {
  /** The zod schema that validates the value when it is given in code (`startServer`'s overrides). */
  readonly schema: z.ZodType<T>;
  /** How the value is written after the flag in help (`<n>`), or null for a switch (a flag with no value). */
  readonly valueName: string | null;
  /** A flag that may be given several times (each adds to a list). */
  readonly multiple?: boolean;
  /** From a flag's value or an environment variable (a switch receives "true"/"false"/"1"/"0"). */
  parse(text: string, context: ReadContext): T;
  /** From a config file's value. */
  fromFile(value: unknown, context: ReadContext): T;
  /** The value as a person would write it (help's defaults, `config check`). */
  show(value: T): string;
  /**
   * The value as it is written in a config file (`config init`), read back by `fromFile`; undefined when
   * the value is "not set" and has no spelling of its own.
   */
  toFile(value: T): unknown;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'a table' : `${typeof value} ${JSON.stringify(value)}`;
}

/** A file value that must be text or a number written as text-parsable (e.g. `20` or `"20s"`). */
function textOrNumber(value: unknown, expected: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  throw new Error(`must be ${expected}, got ${describeType(value)}`);
}

/** A whole number from min to max. */
export function integer(min: number, max: number): Kind<number> {
  const check = (n: number, shown: string): number => {
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`must be a whole number from ${min} to ${max}, got "${shown}"`);
    return n;
  };
  return {
    schema: z.number().int().min(min).max(max),
    valueName: '<n>',
    parse: (text) => check(text.trim() === '' ? NaN : Number(text), text),
    fromFile: (value) => {
      const text = textOrNumber(value, `a whole number from ${min} to ${max}`);
      return check(Number(text), text);
    },
    show: String,
    toFile: (value) => value,
  };
}

/** A TCP port (0 = any free port). */
export const port = (): Kind<number> => integer(0, 65535);

/** A port, or null (off): "off" in text, `false` in a file. */
export function optionalPort(): Kind<number | null> {
  const inner = port();
  const off = (text: string): boolean => /^(off|none|false)$/i.test(text.trim());
  return {
    schema: inner.schema.nullable(),
    valueName: '<n>',
    parse: (text, context) => (off(text) ? null : inner.parse(text, context)),
    fromFile: (value, context) =>
      value === false || (typeof value === 'string' && off(value)) ? null : inner.fromFile(value, context),
    show: (value) => (value === null ? 'off' : String(value)),
    toFile: (value) => (value === null ? false : value),
  };
}

/** A duration in milliseconds from min to max, written "20s", "500ms", "5m". */
export function duration(min: number, max: number): Kind<number> {
  const check = (ms: number, shown: string): number => {
    if (ms < min || ms > max)
      throw new Error(`must be from ${showDuration(min)} to ${showDuration(max)}, got "${shown}"`);
    return ms;
  };
  return {
    schema: z.number().int().min(min).max(max),
    valueName: '<t>',
    parse: (text) => check(parseDuration(text), text),
    fromFile: (value) => {
      const text = textOrNumber(value, 'a duration such as "20s"');
      return check(parseDuration(text), text);
    },
    show: showDuration,
    toFile: showDuration,
  };
}

/** A duration given in whole seconds in code, written like any duration elsewhere ("7d"). */
export function durationSeconds(min: number, max: number): Kind<number> {
  const ms = duration(min * 1000, max * 1000);
  const toSeconds = (value: number, shown: string): number => {
    if (value % 1000 !== 0) throw new Error(`must be a whole number of seconds, got "${shown}"`);
    return value / 1000;
  };
  return {
    schema: z.number().int().min(min).max(max),
    valueName: '<t>',
    parse: (text, context) => toSeconds(ms.parse(text, context), text),
    fromFile: (value, context) => toSeconds(ms.fromFile(value, context), String(value)),
    show: (seconds) => showDuration(seconds * 1000),
    toFile: (seconds) => showDuration(seconds * 1000),
  };
}

/** A size in bytes from min to max, written "64KiB", "1MiB" or a number. */
export function size(min: number, max: number): Kind<number> {
  const check = (bytes: number, shown: string): number => {
    if (bytes < min || bytes > max)
      throw new Error(`must be from ${showSize(min)} to ${showSize(max)}, got "${shown}"`);
    return bytes;
  };
  return {
    schema: z.number().int().min(min).max(max),
    valueName: '<size>',
    parse: (text) => check(parseSize(text), text),
    fromFile: (value) => {
      const text = textOrNumber(value, 'a size such as "64KiB"');
      return check(parseSize(text), text);
    },
    show: showSize,
    toFile: showSize,
  };
}

/** "a or b", "one of a, b, c". */
function choiceList(values: readonly string[]): string {
  return values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(', ')}`;
}

/** One of a fixed set of words. */
export function choice<const T extends string>(values: readonly [T, ...T[]]): Kind<T> {
  const check = (text: string): T => {
    if (!(values as readonly string[]).includes(text))
      throw new Error(`must be ${choiceList(values)}, got "${text}"`);
    return text as T;
  };
  return {
    schema: z.enum(values),
    valueName: `<${values.join('|')}>`,
    parse: check,
    fromFile: (value) => check(textOrNumber(value, choiceList(values))),
    show: (value) => value,
    toFile: (value) => value,
  };
}

/** Non-empty text (a host name, a URL). */
export function text(valueName: string): Kind<string> {
  const check = (value: string): string => {
    if (value.length === 0) throw new Error('must not be empty');
    return value;
  };
  return {
    schema: z.string().min(1),
    valueName,
    parse: check,
    fromFile: (value) => {
      if (typeof value !== 'string') throw new Error(`must be text, got ${describeType(value)}`);
      return check(value);
    },
    show: (value) => value,
    toFile: (value) => (value === '' ? undefined : value),
  };
}

/** A file system path, made absolute: flags and environment against the working directory, a file's
 * values against the file's directory. */
export function path(): Kind<string> {
  const inner = text('<dir>');
  const absolute = (value: string, context: ReadContext): string =>
    isAbsolute(value) ? value : resolve(context.baseDir, value);
  return {
    ...inner,
    parse: (value, context) => absolute(inner.parse(value, context), context),
    fromFile: (value, context) => absolute(inner.fromFile(value, context), context),
  };
}

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

/** Reads a switch's text ("true"/"1"/"yes" or "false"/"0"/"no"). */
export function switchText(value: string): boolean {
  if (TRUE.test(value.trim())) return true;
  if (FALSE.test(value.trim())) return false;
  throw new Error(`must be true or false, got "${value}"`);
}

/** A switch: a flag without a value. `whenOn` is the value it sets when given (or true in env/file). */
export function flagSwitch<T>(schema: z.ZodType<T>, whenOn: T, whenOff: T): Kind<T> {
  return {
    schema,
    valueName: null,
    parse: (value) => (switchText(value) ? whenOn : whenOff),
    fromFile: (value) => {
      if (typeof value !== 'boolean') throw new Error(`must be true or false, got ${describeType(value)}`);
      return value ? whenOn : whenOff;
    },
    show: (value) => (value === whenOn ? 'on' : 'off'),
    toFile: (value) => value === whenOn,
  };
}
