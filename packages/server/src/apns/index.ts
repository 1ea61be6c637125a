/**
 * APNs building blocks: request validation and the error table, provider-token signing and verification,
 * the fallback client and the local test peer. See docs/apns.md.
 */
export * from './reasons.js';
export * from './validate.js';
export * from './token-verifier.js';
export * from './provider-token.js';
export * from './client.js';
export { connectThroughProxy, type ProxyConnectOptions } from './proxy.js';
export * from './test-peer.js';
