/**
 * The configuration as text for a person: `localpush config init`'s commented file of every option with
 * its default, and `localpush config check`'s effective configuration with where each value came from.
 * Both come from the option table (options.ts), like the flags, the variables and the help.
 */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'smol-toml';
import { ServerErrorCode } from '../errors.js';
import { ConfigError, envName, type EffectiveConfig } from './load.js';
import { ALL_OPTIONS, OPTION_GROUPS, SERVER_OPTIONS, type ConfigKey, type ConfigOption } from './options.js';

const WIDTH = 100;

/** Text wrapped into `# ` comment lines. */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(' ')) {
    if (line.length > 1 && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** `key = value` in TOML, or a placeholder naming the kind of value when the default is "not set". */
function fileLine(fileKey: string, option: ConfigOption<unknown>): string {
  const value = option.kind.toFile(option.default);
  if (value === undefined) return `${fileKey} = "${option.valueName ?? option.kind.valueName ?? ''}"`;
  return stringify({ [fileKey]: value }).trim();
}

const HEADER = [
  'localpush serve: configuration file (TOML), written by "localpush config init". Use it with',
  '"localpush serve --config <this file>" (or LOCALPUSH_CONFIG=<this file>), and check it with',
  '"localpush config check --config <this file>", which prints every value in force and where it came from.',
  '',
  'Every option is listed with its default, commented out: remove the "# " before a key to set it.',
  'Keys are the flags of "localpush serve --help" without the dashes. Per option, a flag wins over the',
  "environment (LOCALPUSH_*), which wins over this file. Relative paths are relative to this file's",
  'directory. Durations are written 500ms, 20s, 5m, 1h, 7d; sizes 65536, 64KiB, 1MiB; a port that can be',
  'off takes false. A key this version does not know is an error, so a typo never passes silently.',
];

/** The commented config file of every option with its default (`localpush config init`). */
export function renderConfigTemplate(): string {
  const lines: string[] = HEADER.map((l) => (l === '' ? '#' : `# ${l}`));
  for (const group of OPTION_GROUPS) {
    const inGroup = Object.values(ALL_OPTIONS).filter((o) => o.group === group);
    if (inGroup.length === 0) continue;
    lines.push('', `# ── ${group} ${'─'.repeat(Math.max(3, WIDTH - group.length - 6))}`);
    for (const option of inGroup) {
      lines.push('', ...comment(option.help), `# --${option.flag}, ${envName(option.flag)}`);
      for (const alias of option.aliases ?? [])
        lines.push(...comment(`or ${alias.flag} = true (--${alias.flag}): ${alias.help}`));
      lines.push(`# ${fileLine(option.flag, option)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Writes the template to `file`; refuses to replace an existing file unless `force` (LP_CONFIG_EXISTS),
 * so that a site's configuration is never lost to a second `init`.
 */
export async function writeConfigTemplate(file: string, force: boolean): Promise<void> {
  try {
    await writeFile(file, renderConfigTemplate(), { flag: force ? 'w' : 'wx', mode: 0o644 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new ConfigError(
        `${file} already exists; nothing was written. Pass --force to replace it`,
        'file',
        ServerErrorCode.CONFIG_EXISTS,
      );
    throw new ConfigError(`cannot write ${file}: ${code ?? (error as Error).message}`, 'file');
  }
}

/** One row of `config check`: the file key, the value in force, and where it came from. */
export interface EffectiveRow {
  readonly key: ConfigKey;
  readonly fileKey: string;
  readonly value: string;
  /** "default", or the flag, variable or `file: key` that set it. */
  readonly from: string;
}

/** Every option's value in force and where it came from, in the table's order. */
export function effectiveRows(effective: EffectiveConfig): EffectiveRow[] {
  return (Object.entries(SERVER_OPTIONS) as [ConfigKey, ConfigOption<unknown>][]).map(([key, option]) => ({
    key,
    fileKey: option.flag,
    value: option.kind.show(effective.config[key]),
    from: effective.where[key] ?? (effective.sources[key] === 'default' ? 'default' : effective.sources[key]),
  }));
}

/** `config check`'s report: the file read, then one aligned line per option. */
export function renderEffectiveConfig(effective: EffectiveConfig & { file: string | null }): string {
  const rows = effectiveRows(effective);
  const keyWidth = Math.max(...rows.map((r) => r.fileKey.length));
  const valueWidth = Math.min(40, Math.max(...rows.map((r) => r.value.length)));
  const lines = [
    `configuration valid${effective.file === null ? ' (no config file: defaults, environment)' : `: ${effective.file}`}`,
    '',
    `${'option'.padEnd(keyWidth)}  ${'value'.padEnd(valueWidth)}  from`,
    ...rows.map((r) => `${r.fileKey.padEnd(keyWidth)}  ${r.value.padEnd(valueWidth)}  ${r.from}`),
  ];
  return `${lines.join('\n')}\n`;
}
