/**
 * SimplePush compatibility: a gateway that speaks the wire protocol of Apple's "SimplePush" sample, so
 * its unmodified app and provider extension can use localpush instead of the sample's macOS server.
 * See docs/simplepush.md.
 */
export * from './codec.js';
export { SpEndpoint, type SpStream, type SpCloseReason, type SpRequestOutcome } from './endpoint.js';
export type { SpEndpointHandlers, SpEndpointOptions } from './endpoint.js';
export * from './gateway.js';
export * from './listen.js';
