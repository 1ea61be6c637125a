/**
 * APNs building blocks: request validation and the error table, provider-token signing and verification,
 * and the fallback client (the local test peer: @localpush/server/testing). See docs/apns.md.
 */
export * from './reasons.js';
export * from './validate.js';
export * from './token-verifier.js';
export * from './provider-token.js';
export * from './client.js';
export { connectThroughProxy, type ProxyConnectOptions } from './proxy.js';
