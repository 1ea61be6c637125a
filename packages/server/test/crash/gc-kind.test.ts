import assert from 'node:assert/strict';
import { constants } from 'node:perf_hooks';
import { test } from 'node:test';
import { gcKindName } from './gc-kind.js';

test("a gc entry's kind is named by Node's own constants: a scavenge is minor, a mark-compact major", () => {
  assert.equal(gcKindName(constants.NODE_PERFORMANCE_GC_MINOR), 'minor');
  assert.equal(gcKindName(constants.NODE_PERFORMANCE_GC_MAJOR), 'major');
  assert.equal(gcKindName(constants.NODE_PERFORMANCE_GC_INCREMENTAL), 'incremental');
  assert.equal(gcKindName(constants.NODE_PERFORMANCE_GC_WEAKCB), 'weakcb');
  assert.equal(gcKindName(undefined), 'other');
  assert.equal(gcKindName(0), 'other');
});
