// The serve flags of the APNs endpoint, and how the token registry records topics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serveConfigFromFlags } from '../src/serve.js';
import type { CliIo } from '../src/common.js';
import { kindOfPushType, registrationBundleId } from '@localpush/server';

const io: CliIo = {
  stdout: () => undefined,
  stderr: () => undefined,
  env: {},
  untilInterrupted: () => new Promise(() => undefined),
};

describe('serve: APNs flags', () => {
  it('turns --apns-* flags into configuration', () => {
    const config = serveConfigFromFlags(
      [
        '--apns-port',
        '8443',
        '--apns-h2c-port',
        '8080',
        '--apns-ack-timeout',
        '1500ms',
        '--apns-key',
        'TEAM123456:KEY1234567:/keys/AuthKey_KEY1234567.p8',
        '--apns-key',
        'TEAM654321:KEY7654321:/keys/other.p8',
        '--apns-environment',
        'production',
        '--apns-fallback',
        'TEAM123456:KEY1234567:/keys/AuthKey_KEY1234567.p8',
        '--apns-proxy',
        'http://proxy:3128',
      ],
      io,
    );
    assert.notEqual(config, 'help');
    if (config === 'help') return;
    assert.equal(config.apnsPort, 8443);
    assert.equal(config.apnsH2cPort, 8080);
    assert.equal(config.apnsAckTimeoutMs, 1500);
    assert.equal(config.apnsEnvironment, 'production');
    assert.deepEqual(config.apnsKeys, [
      { teamId: 'TEAM123456', keyId: 'KEY1234567', path: '/keys/AuthKey_KEY1234567.p8' },
      { teamId: 'TEAM654321', keyId: 'KEY7654321', path: '/keys/other.p8' },
    ]);
    assert.deepEqual(config.apnsFallback, {
      teamId: 'TEAM123456',
      keyId: 'KEY1234567',
      privateKeyPath: '/keys/AuthKey_KEY1234567.p8',
      environment: 'production',
      proxy: 'http://proxy:3128',
    });
  });

  it('refuses malformed key specs and a proxy without a fallback', () => {
    assert.throws(() => serveConfigFromFlags(['--apns-key', 'TEAM:only'], io), /--apns-key takes/);
    assert.throws(() => serveConfigFromFlags(['--apns-proxy', 'http://p:1'], io), /needs --apns-fallback/);
    assert.throws(
      () => serveConfigFromFlags(['--apns-environment', 'staging'], io),
      /production or development/,
    );
  });
});

// The registry's backends behaving alike is the store conformance suite's now (test/store/conformance-tokens.ts).
describe('APNs token registry', () => {
  it('records the bundle id without push-type suffixes and maps push types to kinds', () => {
    assert.equal(registrationBundleId('com.example.app'), 'com.example.app');
    assert.equal(registrationBundleId('com.example.app.voip'), 'com.example.app');
    assert.equal(registrationBundleId('com.example.app.voip-ptt'), 'com.example.app');
    assert.equal(kindOfPushType('alert'), 'alert');
    assert.equal(kindOfPushType('voip'), 'call');
    assert.equal(kindOfPushType('pushtotalk'), 'push-to-talk');
    assert.equal(kindOfPushType('background'), 'message');
    assert.equal(kindOfPushType('liveactivity'), 'message');
  });
});
