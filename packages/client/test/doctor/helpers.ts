import { readFileSync } from 'node:fs';

/** The text of one recorded tool output in test/doctor/fixtures (sources: fixtures/README.md). */
export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}
