/**
 * Examples in the docs must work as written: the library example of docs/http-api.md runs (on a free
 * port instead of 7700), and every URL of the HTTP API the docs show uses the port the server listens on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_CONFIG } from '../../src/config.js';

const root = new URL('../../../../', import.meta.url);
const read = (path: string) => readFile(new URL(path, root), 'utf8');

/** The first fenced block of `lang` after the heading `heading`. */
function blockAfter(markdown: string, heading: string, lang: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `no heading "${heading}"`);
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(markdown.slice(at));
  assert.ok(match?.[1], `no ${lang} block after "${heading}"`);
  return match[1];
}

it('docs/http-api.md: the library example runs as written', async () => {
  const example = blockAfter(await read('docs/http-api.md'), '## Library use', 'ts');
  assert.match(example, /port: 7700/);
  const script = `${example.replace('port: 7700', 'port: 0')}\nawait api.close();\nconsole.log('example ran');\n`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', '--input-type=module', '--eval', script],
    { cwd: new URL('.', root), timeout: 60_000 },
  );
  assert.match(stdout, /example ran/);
});

it("the docs' URLs of the HTTP API use the server's API port", async () => {
  const files = [
    'README.md',
    ...(await readdir(new URL('docs/', root))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ];
  for (const file of files) {
    const text = await read(file);
    for (const [url, port] of text.matchAll(/(?:127\.0\.0\.1|localhost):(\d+)\/v1\//g)) {
      assert.equal(Number(port), DEFAULT_CONFIG.apiPort, `${file}: ${url} is not on the API port`);
    }
  }
});
