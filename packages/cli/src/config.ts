/** `localpush config init|check`: write a commented config file, or check one and show its sources. */
import { resolve } from 'node:path';
import {
  ConfigError,
  effectiveRows,
  loadServerConfig,
  renderConfigTemplate,
  renderEffectiveConfig,
  writeConfigTemplate,
} from '@localpush/server';
import { CliError, EXIT, parseFlags, usageError, type CliIo } from './common.js';
import { parseServeFlags } from './serve.js';

export const CONFIG_HELP = `Usage: localpush config <init|check> [options]

  config init [<file>] [--force]      write a TOML file of every option of "localpush serve", each
                                      commented out with its help and its default (default file:
                                      localpush.toml; "-" prints it). An existing file is kept unless
                                      --force is given.
  config check [--config <file>] [serve's options] [--json]
                                      check the configuration "localpush serve" would run with — the
                                      file (--config or LOCALPUSH_CONFIG), the LOCALPUSH_* variables and
                                      the flags given — and print every value in force with where it
                                      came from (the flag, the variable, "<file>: <key>" or default)

Exit status: 0 written, or valid; 1 not written (LP_CONFIG_EXISTS, or the file cannot be written), or
invalid (LP_CONFIG_INVALID: every mistake is listed, one per line); 2 bad usage of config itself.
`;

export async function config(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(CONFIG_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub === 'init') return init(rest, io);
  if (sub === 'check') return check(rest, io);
  throw usageError(`unknown subcommand "config ${sub}"; run "localpush config --help"`);
}

async function init(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags('config', args, { force: { type: 'boolean' } }, true);
  if (values.help) {
    io.stdout(CONFIG_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw usageError('config init takes at most one file');
  const target = positionals[0] ?? 'localpush.toml';
  if (target === '-') {
    io.stdout(renderConfigTemplate());
    return EXIT.ok;
  }
  const file = resolve(target);
  try {
    await writeConfigTemplate(file, values.force === true);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.problems, EXIT.failure, error.code);
    throw error;
  }
  io.stdout(
    `wrote ${file}: every option of "localpush serve", commented out with its default.\n` +
      `Edit it, then: localpush config check --config ${target}   and   localpush serve --config ${target}\n`,
  );
  return EXIT.ok;
}

async function check(args: string[], io: CliIo): Promise<number> {
  const json = args.includes('--json');
  const parsed = parseServeFlags(
    'config',
    args.filter((a) => a !== '--json'),
  );
  if (parsed === 'help') {
    io.stdout(CONFIG_HELP);
    return EXIT.ok;
  }
  let effective;
  try {
    effective = await loadServerConfig({ flags: parsed.flags, env: io.env, configFile: parsed.configFile });
  } catch (error) {
    // The answer of a check, not a mistake in using it: exit 1.
    if (error instanceof ConfigError) throw new CliError(error.problems, EXIT.failure, error.code);
    throw error;
  }
  io.stdout(
    json
      ? `${JSON.stringify({ valid: true, file: effective.file, options: effectiveRows(effective) }, null, 2)}\n`
      : renderEffectiveConfig(effective),
  );
  return EXIT.ok;
}
