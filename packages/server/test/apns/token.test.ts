// Provider tokens: ProviderTokenVerifier (every outcome), the per-connection update rule, and the
// client-side signer's refresh window — all on a manual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { UnsecuredJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { ManualClock } from '@localpush/protocol';
import {
  ConnectionTokenTracker,
  ProviderTokenSigner,
  ProviderTokenVerifier,
  type ProviderAuth,
} from '../../src/apns/index.js';
import { makeKey, signToken } from './helpers.js';

const key = makeKey('TEAM123456', 'KEY1234567');
const other = makeKey('TEAM999999', 'KEY9999999');
const impostor = makeKey('TEAM123456', 'KEY1234567'); // same ids, different key material

function setup(environment?: 'production' | 'development') {
  const clock = new ManualClock();
  const verifier = new ProviderTokenVerifier({
    keys: [
      { teamId: key.teamId, keyId: key.keyId, pem: key.privatePem },
      { teamId: other.teamId, keyId: other.keyId, pem: other.publicPem, environments: ['production'] },
    ],
    clock,
    ...(environment !== undefined ? { environment } : {}),
  });
  const nowSec = () => Math.floor(clock.now() / 1000);
  return { clock, verifier, nowSec };
}

const ok = (k = key): ProviderAuth => ({ ok: true, teamId: k.teamId, keyId: k.keyId });
const no = (reason: Extract<ProviderAuth, { ok: false }>['reason']): ProviderAuth => ({ ok: false, reason });

test('a valid token from a private-key or public-key configuration verifies', async () => {
  const { verifier, nowSec } = setup('production');
  assert.deepEqual(await verifier.verify(`bearer ${await signToken(key, { iatSec: nowSec() })}`), ok());
  assert.deepEqual(
    await verifier.verify(`Bearer ${await signToken(other, { iatSec: nowSec() })}`),
    ok(other),
  );
});

test('malformed or missing authorization', async () => {
  const { verifier, nowSec } = setup();
  assert.deepEqual(await verifier.verify(undefined), no('MissingProviderToken'));
  assert.deepEqual(await verifier.verify(''), no('MissingProviderToken'));
  const token = await signToken(key, { iatSec: nowSec() });
  assert.deepEqual(await verifier.verify(`basic ${token}`), no('InvalidProviderToken'));
  assert.deepEqual(await verifier.verify('bearer not.a.jwt'), no('InvalidProviderToken'));
  assert.deepEqual(await verifier.verify('bearer abc'), no('InvalidProviderToken'));
});

test('unknown kid, wrong signature, alg none, missing claims: InvalidProviderToken', async () => {
  const { verifier, nowSec } = setup();
  const iatSec = nowSec();
  assert.deepEqual(
    await verifier.verify(`bearer ${await signToken(key, { iatSec, kid: 'UNKNOWN123' })}`),
    no('InvalidProviderToken'),
  );
  assert.deepEqual(
    await verifier.verify(`bearer ${await signToken(impostor, { iatSec })}`),
    no('InvalidProviderToken'),
  );
  const unsecured = new UnsecuredJWT({ iss: key.teamId, iat: iatSec }).encode();
  assert.deepEqual(await verifier.verify(`bearer ${unsecured}`), no('InvalidProviderToken'));
  assert.deepEqual(
    await verifier.verify(`bearer ${await signToken(key, { iatSec, omitIat: true })}`),
    no('InvalidProviderToken'),
  );
  assert.deepEqual(
    await verifier.verify(`bearer ${await signToken(key, { iatSec, iss: undefined })}`),
    no('InvalidProviderToken'),
  );
});

test('iss of another team than the key: UnrelatedKeyIdInToken', async () => {
  const { verifier, nowSec } = setup();
  const token = await signToken(key, { iatSec: nowSec(), iss: other.teamId });
  assert.deepEqual(await verifier.verify(`bearer ${token}`), no('UnrelatedKeyIdInToken'));
});

test('key restricted to another environment: BadEnvironmentKeyIdInToken', async () => {
  const { verifier, nowSec } = setup('development');
  const token = await signToken(other, { iatSec: nowSec() });
  assert.deepEqual(await verifier.verify(`bearer ${token}`), no('BadEnvironmentKeyIdInToken'));
});

test('age: valid for exactly one hour, then ExpiredProviderToken (also when cached)', async () => {
  const { verifier, clock, nowSec } = setup();
  const token = `bearer ${await signToken(key, { iatSec: nowSec() })}`;
  assert.deepEqual(await verifier.verify(token), ok());
  clock.advance(60 * 60_000);
  assert.deepEqual(await verifier.verify(token), ok(), 'cached, exactly one hour old');
  clock.advance(1000);
  assert.deepEqual(await verifier.verify(token), no('ExpiredProviderToken'));
  const old = `bearer ${await signToken(key, { iatSec: nowSec() - 3601 })}`;
  assert.deepEqual(await verifier.verify(old), no('ExpiredProviderToken'), 'not cached');
});

test('iat far in the future is rejected; small skew is tolerated', async () => {
  const { verifier, nowSec } = setup();
  assert.deepEqual(await verifier.verify(`bearer ${await signToken(key, { iatSec: nowSec() + 60 })}`), ok());
  assert.deepEqual(
    await verifier.verify(`bearer ${await signToken(key, { iatSec: nowSec() + 3600 })}`),
    no('InvalidProviderToken'),
  );
});

test('a non-P-256 key is refused at configuration time', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  });
  assert.throws(
    () =>
      new ProviderTokenVerifier({
        keys: [{ teamId: 'T', keyId: 'K', pem: rsa.toString() }],
        clock: new ManualClock(),
      }),
    /not a P-256 key/,
  );
});

test('per connection: one token switch per 20 minutes, else TooManyProviderTokenUpdates', async () => {
  const { verifier, clock, nowSec } = setup();
  const connection = new ConnectionTokenTracker();
  const a = `bearer ${await signToken(key, { iatSec: nowSec() })}`;
  assert.deepEqual(await verifier.verify(a, connection), ok());
  clock.advance(60_000);
  const b = `bearer ${await signToken(key, { iatSec: nowSec() })}`;
  assert.deepEqual(await verifier.verify(b, connection), ok(), 'first switch is allowed');
  clock.advance(60_000);
  const c = `bearer ${await signToken(key, { iatSec: nowSec() })}`;
  assert.deepEqual(await verifier.verify(c, connection), no('TooManyProviderTokenUpdates'));
  assert.deepEqual(await verifier.verify(b, connection), ok(), 'the current token still works');
  assert.deepEqual(
    await verifier.verify(c, new ConnectionTokenTracker()),
    ok(),
    'other connections unaffected',
  );
  clock.advance(19 * 60_000);
  assert.deepEqual(await verifier.verify(c, connection), ok(), '20 minutes after the last switch');
});

test('signer: ES256 token with kid, iss, iat; reused until 50 minutes, then re-signed', async () => {
  const clock = new ManualClock();
  const signer = new ProviderTokenSigner(
    { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    { clock },
  );
  const first = await signer.token();
  assert.deepEqual(decodeProtectedHeader(first), { alg: 'ES256', kid: key.keyId });
  assert.deepEqual(decodeJwt(first), { iss: key.teamId, iat: Math.floor(clock.now() / 1000) });
  clock.advance(50 * 60_000 - 1);
  assert.equal(await signer.token(), first);
  clock.advance(1);
  const second = await signer.token();
  assert.notEqual(second, first);
  const { verifier } = {
    verifier: new ProviderTokenVerifier({ keys: [{ ...key, pem: key.publicPem }], clock }),
  };
  assert.deepEqual(await verifier.verify(`bearer ${second}`), ok());
});

test('signer: refresh after rejection only for the current token and not within 20 minutes', async () => {
  const clock = new ManualClock();
  const signer = new ProviderTokenSigner(
    { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    { clock },
  );
  const first = await signer.token();
  clock.advance(10 * 60_000);
  assert.equal(await signer.refreshAfterRejection(first), false, 'too young to replace');
  assert.equal(await signer.token(), first);
  clock.advance(10 * 60_000);
  assert.equal(await signer.refreshAfterRejection(first), true);
  const second = await signer.token();
  assert.notEqual(second, first);
  assert.equal(await signer.refreshAfterRejection(first), true, 'already replaced by someone else');
  assert.equal(await signer.token(), second);
  assert.throws(
    () =>
      new ProviderTokenSigner(
        { teamId: 'T', keyId: 'K', privateKey: key.privatePem },
        { clock, refreshAfterMs: 60_000 },
      ),
    RangeError,
  );
});
