import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonProblem, frozenJsonCopy } from '../../src/sdk/json.js';
import {
  appIdOf,
  matchNetwork,
  matchesAnyNetwork,
  overlaps,
  validateConfiguration,
  validateLTENetworks,
  validateSSIDs,
} from '../../src/sdk/configuration.js';
import { AppPushError, AppPushErrorCode, isAppPushError } from '../../src/sdk/errors.js';
import { StopReason, stopReasonName } from '../../src/sdk/provider.js';
import { config } from './helpers.js';

test('jsonProblem accepts JSON values and names the first non-JSON one', () => {
  assert.equal(jsonProblem({ a: [1, 'x', null, true, { b: 2.5 }] }), undefined);
  const shared = { x: 1 };
  assert.equal(jsonProblem({ a: shared, b: shared }), undefined, 'a DAG is not a cycle');
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  assert.match(jsonProblem(cyc) ?? '', /cycle/);
  assert.match(jsonProblem({ f: () => 1 }) ?? '', /function/);
  assert.match(jsonProblem({ u: undefined }) ?? '', /undefined/);
  assert.match(jsonProblem({ n: NaN }) ?? '', /finite/);
  assert.match(jsonProblem({ n: Infinity }) ?? '', /finite/);
  assert.match(jsonProblem({ d: new Date() }) ?? '', /plain object/);
  assert.match(jsonProblem({ m: new Map() }) ?? '', /plain object/);
  assert.match(jsonProblem({ b: 1n }) ?? '', /bigint/);
  assert.match(jsonProblem({ s: Symbol('x') }) ?? '', /symbol/);
  // eslint-disable-next-line no-sparse-arrays
  assert.match(jsonProblem([1, , 3]) ?? '', /sparse/);
  assert.equal(jsonProblem(Object.create(null) as object), undefined);
});

test('frozenJsonCopy is deep and frozen', () => {
  const src = { a: { b: [1] } };
  const copy = frozenJsonCopy(src);
  src.a.b.push(2);
  assert.deepEqual(copy, { a: { b: [1] } });
  assert.ok(Object.isFrozen(copy.a.b));
});

test('SSID and LTE validation follow Apple limits', () => {
  validateSSIDs(Array.from({ length: 10 }, (_, i) => `net${i}`));
  assert.throws(() => validateSSIDs(Array.from({ length: 11 }, (_, i) => `n${i}`)), /at most 10/);
  assert.throws(() => validateSSIDs(['ok', '']), /non-empty/);
  assert.throws(() => validateSSIDs(['x'.repeat(33)]), /32 bytes/);
  validateLTENetworks([{ mobileCountryCode: '001', mobileNetworkCode: '01' }]);
  validateLTENetworks([{ mobileCountryCode: '310', mobileNetworkCode: '410', trackingAreaCode: '12345' }]);
  for (const bad of [
    { mobileCountryCode: '01', mobileNetworkCode: '01' },
    { mobileCountryCode: '001', mobileNetworkCode: '1' },
    { mobileCountryCode: '001', mobileNetworkCode: '1234' },
    { mobileCountryCode: '001', mobileNetworkCode: '01', trackingAreaCode: '123456' },
    { mobileCountryCode: '001', mobileNetworkCode: '01', trackingAreaCode: '' },
    { mobileCountryCode: 'abc', mobileNetworkCode: '01' },
  ]) {
    assert.throws(
      () => validateLTENetworks([bad]),
      (e: unknown) => isAppPushError(e, AppPushErrorCode.configurationInvalid),
      JSON.stringify(bad),
    );
  }
  const eleven = Array.from({ length: 11 }, () => ({ mobileCountryCode: '001', mobileNetworkCode: '01' }));
  assert.throws(() => validateLTENetworks(eleven), /at most 10/);
});

test('validateConfiguration requires a bundle id and JSON providerConfiguration', () => {
  validateConfiguration(config());
  assert.throws(
    () => validateConfiguration(config({ providerBundleIdentifier: '' })),
    /providerBundleIdentifier/,
  );
  assert.throws(() => validateConfiguration({ ...config(), providerConfiguration: { x: NaN } }), /not JSON/);
});

test('matchNetwork: SSID, private LTE (TAC optional) and Ethernet unless unmatched', () => {
  const c = config({
    matchSSIDs: ['lab'],
    matchPrivateLTENetworks: [
      { mobileCountryCode: '001', mobileNetworkCode: '01' },
      { mobileCountryCode: '999', mobileNetworkCode: '99', trackingAreaCode: '7' },
    ],
    matchEthernet: true,
  });
  assert.equal(matchNetwork(c, { ssid: 'lab', ethernet: false }), 'ssid');
  assert.equal(matchNetwork(c, { ssid: 'other', ethernet: false }), undefined);
  assert.equal(matchNetwork(c, { lte: { mcc: '001', mnc: '01', tac: '5' }, ethernet: false }), 'lte');
  assert.equal(matchNetwork(c, { lte: { mcc: '999', mnc: '99', tac: '8' }, ethernet: false }), undefined);
  assert.equal(matchNetwork(c, { lte: { mcc: '999', mnc: '99', tac: '7' }, ethernet: false }), 'lte');
  assert.equal(matchNetwork(c, { ethernet: true }), 'ethernet');
  assert.equal(matchNetwork(c, { ethernet: true }, true), undefined);
  assert.equal(matchNetwork(config({ matchEthernet: false }), { ethernet: true }), undefined);
});

test('app id, overlap and "matches no network"', () => {
  assert.equal(appIdOf('com.acme.kiosk.push'), 'com.acme.kiosk');
  assert.equal(appIdOf('single'), 'single');
  const a = config({ id: 'a', matchSSIDs: ['x', 'y'] });
  assert.ok(overlaps(a, config({ id: 'b', matchSSIDs: ['y'] })));
  assert.ok(!overlaps(a, config({ id: 'b', matchSSIDs: ['z'] })));
  assert.ok(!overlaps(a, config({ id: 'b', matchSSIDs: ['y'], providerBundleIdentifier: 'org.other.push' })));
  assert.ok(!matchesAnyNetwork(config({ matchSSIDs: [] })));
  assert.ok(matchesAnyNetwork(config({ matchSSIDs: [], matchEthernet: true })));
});

test('AppPushError carries Apple numbers and stable string codes', () => {
  const e = new AppPushError(AppPushErrorCode.inactiveSession, 'x');
  assert.equal(e.errno, 4);
  assert.equal(e.code, 'LP_APPPUSH_INACTIVE_SESSION');
  assert.equal(e.domain, 'NEAppPushErrorDomain');
  assert.deepEqual(Object.values(AppPushErrorCode), [1, 2, 3, 4]);
});

test('StopReason has the 17 NEProviderStopReason values', () => {
  assert.equal(Object.keys(StopReason).length, 17);
  assert.equal(StopReason.none, 0);
  assert.equal(StopReason.noNetworkAvailable, 3);
  assert.equal(StopReason.configurationRemoved, 10);
  assert.equal(StopReason.appUpdate, 16);
  assert.equal(stopReasonName(StopReason.superceded), 'superceded');
});
