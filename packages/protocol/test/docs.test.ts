/**
 * Keeps docs/protocol.md and the code in step: every rule the sources cite is defined, every error code
 * is in the error table, and the defaults the document states are the ones the protocol package uses.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  DEFAULT_MAX_FRAME_BYTES,
  GOAWAY_REASONS,
  LIMITS,
  MESSAGE_SENDERS,
  NOTICE_CODES,
  PUSH_KINDS,
  ProtocolErrorCode,
} from '../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const protocolMd = readFileSync(join(root, 'docs/protocol.md'), 'utf8');

function sources(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Rules are defined where their number starts a bold paragraph: **LP-2.3 Title.** */
const defined = new Set([...protocolMd.matchAll(/^\*\*(LP-\d+\.\d+) /gm)].map((m) => m[1]));

describe('docs/protocol.md', () => {
  it('defines every rule cited in the sources of every package', () => {
    const cited = new Map<string, string>();
    for (const pkg of ['protocol', 'client', 'server']) {
      for (const file of sources(join(root, 'packages', pkg, 'src'))) {
        for (const m of readFileSync(file, 'utf8').matchAll(/LP-(\d+\.\d+)/g)) {
          cited.set(`LP-${m[1]}`, file.slice(root.length));
        }
      }
    }
    assert.ok(cited.size > 20, 'found the citations');
    const missing = [...cited].filter(([rule]) => !defined.has(rule));
    assert.deepEqual(missing, [], 'cited but not defined');
  });

  it('numbers the rules of each section without gaps', () => {
    const bySection = new Map<number, number[]>();
    for (const rule of defined) {
      const [section, n] = (rule ?? '').slice(3).split('.').map(Number);
      if (section === undefined || n === undefined) continue;
      bySection.set(section, [...(bySection.get(section) ?? []), n]);
    }
    assert.deepEqual(
      [...bySection.keys()].sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    for (const [section, ns] of bySection) {
      assert.deepEqual(
        ns.sort((a, b) => a - b),
        ns.map((_, i) => i + 1),
        `section ${section}`,
      );
    }
  });

  it('lists every error code in the error table', () => {
    const table = protocolMd.slice(protocolMd.indexOf('**LP-9.4'));
    for (const code of Object.values(ProtocolErrorCode)) {
      assert.match(table, new RegExp(`^\\| \`${code}\` +\\|`, 'm'), code);
    }
  });

  it('names every message type, push kind, goaway reason and notice code', () => {
    for (const word of [...Object.keys(MESSAGE_SENDERS), ...PUSH_KINDS, ...GOAWAY_REASONS, ...NOTICE_CODES]) {
      assert.ok(protocolMd.includes(`\`${word}\``), word);
    }
  });

  it('states the limits and defaults the code uses', () => {
    assert.equal(DEFAULT_MAX_FRAME_BYTES, 65_536);
    assert.match(protocolMd, /65 536\s+bytes \(64 KiB\)/);
    for (const [phrase, value] of [
      ['`collapseId` (≤ 64 characters)', LIMITS.collapseIdMaxLength],
      ['at most 1024 per `ack`', LIMITS.ackIdsMaxCount],
      ['string, 1–512 characters', LIMITS.credentialMaxLength],
    ] as const) {
      assert.ok(protocolMd.includes(phrase), phrase);
      assert.ok(phrase.includes(String(value)), `${phrase} vs ${value}`);
    }
  });
});

describe('docs/connection-states.md', () => {
  const md = readFileSync(join(root, 'docs/connection-states.md'), 'utf8');
  it('draws both machines as Mermaid state diagrams with every state', () => {
    assert.equal(md.match(/```mermaid\nstateDiagram-v2/g)?.length, 2);
    for (const state of ['awaiting_hello', 'authenticating', 'open', 'closing', 'closed']) {
      assert.ok(md.includes(state), state);
    }
    for (const state of ['idle', 'connecting', 'handshaking', 'connected', 'backoff', 'stopped']) {
      assert.ok(md.includes(state), state);
    }
  });
});
