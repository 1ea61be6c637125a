/**
 * The systemd units in docs/ are checked by systemd itself: `systemd-analyze verify` must accept them
 * (unknown or misspelt directives, bad values, a missing [Install] target), and the server's unit must
 * rate "OK" (exposure under 2.0 of 10) in `systemd-analyze security --offline`. The options in each
 * ExecStart line must be options of the command. Skipped, saying so, where systemd-analyze is missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { run as localpush } from '../../src/main.js';

const run = promisify(execFile);
const docs = new URL('../../../../docs/', import.meta.url);
const UNITS = { server: 'localpush.service', agent: 'localpush-agent.service' } as const;

async function systemdAnalyze(): Promise<boolean> {
  try {
    await run('systemd-analyze', ['--version']);
    return true;
  } catch {
    return false;
  }
}

describe('systemd units in docs/', () => {
  let dir = '';
  let available = false;
  before(async () => {
    available = await systemdAnalyze();
    dir = await mkdtemp(join(tmpdir(), 'localpush-units-'));
    // verify insists that ExecStart's program exists: a stand-in takes the place of the installed command.
    await writeFile(join(dir, 'localpush'), '#!/bin/sh\nexit 0\n');
    await chmod(join(dir, 'localpush'), 0o755);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** The unit with /usr/bin/localpush replaced by the stand-in, written to the temporary directory. */
  async function staged(name: string): Promise<string> {
    const text = await readFile(new URL(name, docs), 'utf8');
    const path = join(dir, name);
    await writeFile(path, text.replaceAll('/usr/bin/localpush', join(dir, 'localpush')));
    return path;
  }

  for (const [role, name] of Object.entries(UNITS)) {
    it(`${name}: systemd-analyze verify accepts it`, async (t) => {
      if (!available) return t.skip('skipped: systemd-analyze is not installed (apt-get install systemd)');
      const { stderr } = await run('systemd-analyze', ['verify', await staged(name)]);
      assert.equal(stderr.trim(), '', `systemd-analyze verify ${name} complained`);
    });

    it(`${name}: ExecStart uses only options of "localpush ${role === 'server' ? 'serve' : 'agent'}"`, async () => {
      const text = await readFile(new URL(name, docs), 'utf8');
      const exec = /^ExecStart=\S+ (\S+)(.*)$/m.exec(text);
      assert.ok(exec?.[1], `${name} has no ExecStart`);
      let help = '';
      const code = await localpush([exec[1], '--help'], {
        stdout: (text) => (help += text),
        stderr: () => {},
        env: {},
        untilInterrupted: () => Promise.resolve(),
      });
      assert.equal(code, 0, `"localpush ${exec[1]} --help" failed`);
      for (const flag of (exec[2] ?? '').match(/--[a-z-]+/g) ?? []) {
        assert.ok(help.includes(`${flag} `), `${name}: ${flag} is not an option of localpush ${exec[1]}`);
      }
    });
  }

  it('localpush.service: systemd-analyze security rates it OK (exposure below 2.0)', async (t) => {
    if (!available) return t.skip('skipped: systemd-analyze is not installed (apt-get install systemd)');
    const { stdout } = await run('systemd-analyze', [
      'security',
      '--offline=true',
      await staged(UNITS.server),
    ]);
    const level = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(stdout);
    assert.ok(level?.[1], `no exposure level in:\n${stdout.slice(-500)}`);
    assert.ok(Number(level[1]) < 2, `exposure ${level[1]} ${level[2]}; the unit lost some of its hardening`);
  });
});
