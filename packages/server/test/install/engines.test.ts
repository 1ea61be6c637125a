/**
 * The Node version the README names is the truth: the repository's `engines` says the same, and no
 * package that `npm ci` installs (dependencies and dev dependencies, from the lock file) asks for a newer
 * Node, so `npm ci` on that version prints no EBADENGINE warning. Each published package's own `engines`
 * is satisfied by every runtime dependency, so installing a tarball warns on no Node it accepts.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import semver from 'semver';

const root = new URL('../../../../', import.meta.url);
const json = async (path: string) => JSON.parse(await readFile(new URL(path, root), 'utf8')) as Manifest;

interface Manifest {
  engines?: { node?: string };
  workspaces?: string[];
  packages?: Record<string, { engines?: { node?: string } | string[]; dev?: boolean; optional?: boolean }>;
}

function nodeRange(engines: { node?: string } | string[] | undefined): string | undefined {
  return engines !== undefined && !Array.isArray(engines) ? engines.node : undefined;
}

it("the README's Node version is engines' minimum, and no installed package needs a newer one", async () => {
  const readme = await readFile(new URL('README.md', root), 'utf8');
  const named = /You need Node\.js (\d+(?:\.\d+)*) or newer/.exec(readme)?.[1];
  assert.ok(named, 'the README names no Node version ("You need Node.js N or newer")');
  const minimum = semver.coerce(named)?.version;
  assert.ok(minimum);
  const manifest = await json('package.json');
  assert.equal(manifest.engines?.node, `>=${named}`, 'package.json engines.node');

  const lock = await json('package-lock.json');
  const tooNew = Object.entries(lock.packages ?? {})
    .filter(([path]) => path.includes('node_modules/'))
    .map(([path, entry]) => [path, nodeRange(entry.engines)] as const)
    .filter(([, range]) => range !== undefined && !semver.satisfies(minimum, range))
    .map(([path, range]) => `${path.replace(/^.*node_modules\//, '')} (${range})`);
  assert.deepEqual(tooNew, [], `these packages warn EBADENGINE on Node ${minimum}`);
});

it("each package's engines admits only Nodes its runtime dependencies accept", async () => {
  const lock = await json('package-lock.json');
  const runtime = Object.entries(lock.packages ?? {}).filter(
    ([path, entry]) => path.includes('node_modules/') && entry.dev !== true,
  );
  for (const workspace of (await json('package.json')).workspaces ?? []) {
    const range = (await json(`${workspace}/package.json`)).engines?.node;
    assert.ok(range, `${workspace}/package.json has no engines.node`);
    const lowest = semver.minVersion(range)?.version;
    assert.ok(lowest);
    for (const [path, entry] of runtime) {
      const needs = nodeRange(entry.engines);
      if (needs === undefined) continue;
      assert.ok(
        semver.satisfies(lowest, needs),
        `${workspace} accepts Node ${lowest}, but ${path.replace(/^.*node_modules\//, '')} needs ${needs}`,
      );
    }
  }
});
