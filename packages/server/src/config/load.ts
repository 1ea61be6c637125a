/**
 * Reading the configuration from its layers — a config file (TOML), the environment, the command line —
 * and merging them by precedence: **flag > environment > file > default**, per option. The result keeps
 * where each value came from, for `config check` and for error messages that name the flag, the variable
 * or the file's key to fix. Everything here is derived from the option table (options.ts).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { LocalpushError, ServerErrorCode } from '../errors.js';
import type { ReadContext } from './kinds.js';
import {
  ALL_OPTIONS,
  DEFAULT_CONFIG,
  OPTION_GROUPS,
  SERVER_OPTIONS,
  serverConfigSchema,
  type ConfigKey,
  type ConfigOption,
  type ConfigSettings,
  type ServerConfig,
  type SettingKey,
} from './options.js';

/** Where a value of the effective configuration came from. */
export type ConfigSource = 'default' | 'file' | 'env' | 'flag';

/**
 * A configuration mistake, naming the flag, variable or file key it is about (LP_CONFIG_INVALID). One
 * error carries every mistake found (`problems`), so that a person fixes them all in one go.
 */
export class ConfigError extends LocalpushError {
  /** Each mistake, one sentence each; the message joins them. */
  readonly problems: readonly string[];
  constructor(
    problems: string | readonly string[],
    /** Which layer the mistake is in; `code` for values given to startServer directly. */
    readonly origin: ConfigSource | 'code',
    code: ServerErrorCode = ServerErrorCode.CONFIG_INVALID,
  ) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(code, list.length === 1 ? (list[0] ?? '') : `${list.length} problems: ${list.join('; ')}`);
    this.problems = list;
  }

  /** Several errors as one (their problems in order), or the only one. */
  static combine(errors: readonly ConfigError[]): ConfigError {
    if (errors.length === 1 && errors[0] !== undefined) return errors[0];
    return new ConfigError(
      errors.flatMap((e) => e.problems),
      errors[0]?.origin ?? 'code',
    );
  }
}

/** Runs each step, collecting the ConfigErrors they throw; throws them together at the end. */
function collecting(steps: readonly (() => void)[]): void {
  const errors: ConfigError[] = [];
  for (const step of steps) {
    try {
      step();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
    }
  }
  if (errors.length > 0) throw ConfigError.combine(errors);
}

/** One layer of settings, with where each of its values was written. */
export interface ConfigLayer {
  readonly source: Exclude<ConfigSource, 'default'>;
  readonly values: ConfigSettings;
  /** Per key: the flag, variable or `file: key` that set it. */
  readonly where: Partial<Record<SettingKey, string>>;
}

/** The environment variable of an option's flag: `tls-port` → `LOCALPUSH_TLS_PORT`. */
export function envName(flag: string): string {
  return `LOCALPUSH_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Every spelling of one option: what help, docs and `config init` list. */
export interface OptionSpelling {
  readonly key: SettingKey;
  readonly flag: string;
  readonly env: string;
  /** The key in the config file. */
  readonly fileKey: string;
  readonly option: ConfigOption<unknown>;
}

/** Every option with its spellings, in the table's order (aliases not included). */
export function optionSpellings(): OptionSpelling[] {
  return Object.entries(ALL_OPTIONS).map(([key, option]) => ({
    key: key as SettingKey,
    flag: option.flag,
    env: envName(option.flag),
    fileKey: option.flag,
    option,
  }));
}

/** Composes "<where> must be …" or "<where>: <statement>". */
function problem(where: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /^(must|takes|needs) /.test(message) ? `${where} ${message}` : `${where}: ${message}`;
}

function readInto(
  layer: { values: Record<string, unknown>; where: Record<string, string> },
  key: SettingKey,
  where: string,
  read: () => unknown,
  origin: ConfigSource,
): void {
  try {
    layer.values[key] = read();
  } catch (error) {
    throw new ConfigError(problem(where, error), origin);
  }
  layer.where[key] = where;
}

// ── flags ───────────────────────────────────────────────────────────────────────────────────────────

/** The flag declarations for node:util parseArgs, from the table (options and their aliases). */
export function flagDeclarations(): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const declarations: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const option of Object.values(ALL_OPTIONS)) {
    declarations[option.flag] =
      option.kind.valueName === null
        ? { type: 'boolean' }
        : option.kind.multiple === true
          ? { type: 'string', multiple: true }
          : { type: 'string' };
    for (const alias of option.aliases ?? []) declarations[alias.flag] = { type: 'boolean' };
  }
  return declarations;
}

/** The layer of the command line: `values` as parseArgs returns them for {@link flagDeclarations}. */
export function layerFromFlags(
  values: Readonly<Record<string, string | boolean | string[] | undefined>>,
  cwd: string = process.cwd(),
): ConfigLayer {
  const layer = { source: 'flag' as const, values: {} as Record<string, unknown>, where: {} };
  const context: ReadContext = { baseDir: cwd };
  const entries = Object.entries(ALL_OPTIONS) as [SettingKey, ConfigOption<unknown>][];
  collecting(
    entries.map(
      ([key, option]) =>
        () =>
          readFlag(layer, key, option, values, context),
    ),
  );
  return layer;
}

function readFlag(
  layer: { values: Record<string, unknown>; where: Record<string, string> },
  key: SettingKey,
  option: ConfigOption<unknown>,
  values: Readonly<Record<string, string | boolean | string[] | undefined>>,
  context: ReadContext,
): void {
  const given = values[option.flag];
  if (given !== undefined) {
    readInto(
      layer,
      key,
      `--${option.flag}`,
      () =>
        Array.isArray(given)
          ? given.flatMap((text) => option.kind.parse(text, context) as unknown[])
          : option.kind.parse(typeof given === 'boolean' ? String(given) : given, context),
      'flag',
    );
    return;
  }
  const alias = option.aliases?.find((a) => values[a.flag] === true);
  if (alias !== undefined) readInto(layer, key, `--${alias.flag}`, () => alias.value, 'flag');
}

// ── environment ─────────────────────────────────────────────────────────────────────────────────────

/** The layer of the environment: `LOCALPUSH_<FLAG>` for every option and alias. Empty variables count as unset. */
export function layerFromEnv(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): ConfigLayer {
  const layer = { source: 'env' as const, values: {} as Record<string, unknown>, where: {} };
  const context: ReadContext = { baseDir: cwd };
  const entries = Object.entries(ALL_OPTIONS) as [SettingKey, ConfigOption<unknown>][];
  collecting(
    entries.map(
      ([key, option]) =>
        () =>
          readEnv(layer, key, option, env, context),
    ),
  );
  return layer;
}

function readEnv(
  layer: { values: Record<string, unknown>; where: Record<string, string> },
  key: SettingKey,
  option: ConfigOption<unknown>,
  env: NodeJS.ProcessEnv,
  context: ReadContext,
): void {
  const name = envName(option.flag);
  const text = env[name];
  if (text !== undefined && text !== '') {
    readInto(layer, key, name, () => option.kind.parse(text, context), 'env');
    return;
  }
  for (const alias of option.aliases ?? []) {
    const aliasName = envName(alias.flag);
    const aliasText = env[aliasName];
    if (aliasText === undefined || aliasText === '') continue;
    readInto(
      layer,
      key,
      aliasName,
      () => (/^(1|true|yes|on)$/i.test(aliasText.trim()) ? alias.value : undefined),
      'env',
    );
    if (layer.values[key] === undefined) {
      delete layer.values[key];
      delete layer.where[key];
    }
    break;
  }
}

// ── config file ─────────────────────────────────────────────────────────────────────────────────────

/** Parses a TOML config file's text (keys are the flags' names); relative paths are against `baseDir`. */
export function layerFromToml(text: string, file: string, baseDir: string = dirname(file)): ConfigLayer {
  let document: Record<string, unknown>;
  try {
    document = parseToml(text);
  } catch (error) {
    const at = error instanceof TomlError ? `:${error.line}:${error.column}` : '';
    throw new ConfigError(
      `${file}${at}: not valid TOML: ${(error as Error).message.split('\n')[0] ?? ''}`,
      'file',
    );
  }
  const byFileKey = new Map<string, { key: SettingKey; option: ConfigOption<unknown>; alias?: unknown }>();
  for (const [key, option] of Object.entries(ALL_OPTIONS) as [SettingKey, ConfigOption<unknown>][]) {
    byFileKey.set(option.flag, { key, option });
    for (const alias of option.aliases ?? []) byFileKey.set(alias.flag, { key, option, alias: alias.value });
  }
  const layer = { source: 'file' as const, values: {} as Record<string, unknown>, where: {} };
  const context: ReadContext = { baseDir };
  const aliased: [string, SettingKey, unknown][] = [];
  collecting(
    Object.entries(document).map(([fileKey, value]) => () => {
      const entry = byFileKey.get(fileKey);
      if (entry === undefined) {
        throw new ConfigError(
          `${file}: unknown key "${fileKey}" (the keys are the flags of "localpush serve --help", e.g. tls-port)`,
          'file',
        );
      }
      if ('alias' in entry) {
        aliased.push([fileKey, entry.key, value]);
        return;
      }
      readInto(
        layer,
        entry.key,
        `${file}: ${fileKey}`,
        () => entry.option.kind.fromFile(value, context),
        'file',
      );
    }),
  );
  // An alias (`simplepush = true`) applies when the option itself is not in the file.
  for (const [fileKey, key, value] of aliased) {
    if (key in layer.values) continue;
    const alias = ALL_OPTIONS[key].aliases?.find((a) => a.flag === fileKey);
    if (typeof value !== 'boolean')
      throw new ConfigError(
        `${file}: ${fileKey} must be true or false, got ${JSON.stringify(value)}`,
        'file',
      );
    if (value && alias !== undefined) readInto(layer, key, `${file}: ${fileKey}`, () => alias.value, 'file');
  }
  return layer;
}

/** A config file's text, or a ConfigError naming the file and why it cannot be read. */
async function readConfigText(absolute: string): Promise<string> {
  try {
    return await readFile(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read the config file ${absolute}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      'file',
    );
  }
}

/** Reads a TOML config file. */
export async function readConfigFile(file: string): Promise<ConfigLayer> {
  const absolute = resolve(file);
  return layerFromToml(await readConfigText(absolute), absolute);
}

// ── merging ─────────────────────────────────────────────────────────────────────────────────────────

/** The configuration in force, and where each of its values came from. */
export interface EffectiveConfig {
  readonly config: ServerConfig;
  readonly sources: Readonly<Record<ConfigKey, ConfigSource>>;
  /** Per key set by a layer: the flag, variable or `file: key` that set it. */
  readonly where: Readonly<Partial<Record<ConfigKey, string>>>;
}

/**
 * Folds the assembled options into the ones they belong to: the proxy into the fallback, and the
 * endpoint's environment into a fallback that names none. Throws when the proxy has no fallback.
 */
export function assemble(
  settings: ConfigSettings,
  where: Partial<Record<SettingKey, string>> = {},
): Partial<ServerConfig> {
  const { apnsProxy, ...config } = settings;
  // Naming a Redis is choosing the Redis store, unless a store is named too.
  if (config.redis !== undefined && config.redis !== null && config.store === undefined)
    config.store = 'redis';
  if (apnsProxy !== undefined) {
    if (config.apnsFallback === undefined || config.apnsFallback === null) {
      throw new ConfigError(
        `${where.apnsProxy ?? '--apns-proxy'} needs --apns-fallback (or LOCALPUSH_APNS_FALLBACK, or apns-fallback in the config file)`,
        'flag',
      );
    }
    config.apnsFallback = { ...config.apnsFallback, proxy: apnsProxy };
  }
  if (
    config.apnsFallback !== undefined &&
    config.apnsFallback !== null &&
    config.apnsFallback.environment === undefined &&
    config.apnsEnvironment !== undefined
  ) {
    config.apnsFallback = { ...config.apnsFallback, environment: config.apnsEnvironment };
  }
  return config;
}

/** Validates a complete configuration, naming every bad field (by the flag, variable or key that set it). */
function validate(
  merged: object,
  where: Partial<Record<string, string>>,
  originOf: (key: string) => ConfigSource | 'code',
): ServerConfig {
  const result = serverConfigSchema.safeParse(merged);
  if (result.success) return result.data;
  const first = String(result.error.issues[0]?.path[0] ?? '');
  const problems = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    const named = where[key] ?? (key === '' ? '(config)' : issue.path.join('.'));
    return `${named}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration — ${problems.join('; ')}`, originOf(first));
}

/**
 * Merges layers over the defaults, per option, later layers winning: pass them lowest first (file,
 * environment, flags). Relative paths left at their defaults are made absolute against `cwd`.
 */
export function resolveLayers(layers: readonly ConfigLayer[], cwd: string = process.cwd()): EffectiveConfig {
  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  const where: Record<string, string> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.values)) {
      if (value === undefined) continue;
      values[key] = value;
      sources[key] = layer.source;
      const at = layer.where[key as SettingKey];
      if (at !== undefined) where[key] = at;
    }
  }
  const assembled = assemble(values, where);
  const config = validate({ ...DEFAULT_CONFIG, ...assembled }, where, (key) => sources[key] ?? 'code');
  const allSources = Object.fromEntries(
    Object.keys(SERVER_OPTIONS).map((key) => [key, sources[key] ?? 'default']),
  ) as Record<ConfigKey, ConfigSource>;
  return { config: { ...config, dataDir: resolve(cwd, config.dataDir) }, sources: allSources, where };
}

/** Merges overrides given in code into the defaults and validates the result, naming every bad field. */
export function resolveConfig(overrides: Partial<ServerConfig>): ServerConfig {
  const merged = { ...DEFAULT_CONFIG, ...stripUndefined(overrides) };
  return validate(assemble(merged), {}, () => 'code');
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The configuration of `localpush serve`: the file named by `--config` or `LOCALPUSH_CONFIG` (if any),
 * the environment, then the flags.
 */
export async function loadServerConfig(input: {
  /** The command line's layer, or how to read it (so that its mistakes are reported with the others'). */
  flags: ConfigLayer | (() => ConfigLayer);
  env: NodeJS.ProcessEnv;
  configFile?: string | undefined;
  cwd?: string;
}): Promise<EffectiveConfig & { file: string | null }> {
  const cwd = input.cwd ?? process.cwd();
  const file = input.configFile ?? (input.env.LOCALPUSH_CONFIG || undefined);
  const errors: ConfigError[] = [];
  const record = (error: unknown): undefined => {
    if (!(error instanceof ConfigError)) throw error;
    errors.push(error);
    return undefined;
  };
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      return record(error);
    }
  };
  // Every layer is read even when one is wrong, so that all the mistakes are reported at once.
  const fileLayer = file === undefined ? undefined : await readConfigFile(resolve(cwd, file)).catch(record);
  const envLayer = attempt(() => layerFromEnv(input.env, cwd));
  const flagLayer = attempt(() => (typeof input.flags === 'function' ? input.flags() : input.flags));
  if (errors.length > 0) throw ConfigError.combine(errors);
  const layers = [fileLayer, envLayer, flagLayer].filter((l): l is ConfigLayer => l !== undefined);
  return { ...resolveLayers(layers, cwd), file: file === undefined ? null : resolve(cwd, file) };
}

// ── help ────────────────────────────────────────────────────────────────────────────────────────────

const HELP_COLUMN = 30;
const HELP_WIDTH = 106;

function wrap(first: string, text: string): string[] {
  const lines: string[] = [];
  let line = first.length + 2 > HELP_COLUMN ? `${first}  ` : first.padEnd(HELP_COLUMN);
  let fresh = true;
  for (const word of text.split(' ')) {
    if (!fresh && line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line.trimEnd());
      line = ' '.repeat(HELP_COLUMN) + word;
    } else {
      line += fresh ? word : ` ${word}`;
    }
    fresh = false;
  }
  lines.push(line.trimEnd());
  return lines;
}

/** The "Options" part of `serve --help` (and docs/cli.md), grouped as in the table. */
export function renderOptionsHelp(): string {
  const lines: string[] = [];
  for (const group of OPTION_GROUPS) {
    const inGroup = Object.values(ALL_OPTIONS).filter((o) => o.group === group);
    if (inGroup.length === 0) continue;
    lines.push('', `${group}:`);
    for (const option of inGroup) {
      const value = option.valueName ?? option.kind.valueName;
      const name = `  --${option.flag}${value === null ? '' : ` ${value}`}`;
      const shown = option.showDefault === false ? '' : ` (default ${option.kind.show(option.default)})`;
      lines.push(...wrap(name, `${option.help}${shown}`));
      for (const alias of option.aliases ?? []) lines.push(...wrap(`  --${alias.flag}`, alias.help));
    }
  }
  return `${lines.join('\n')}\n`;
}
