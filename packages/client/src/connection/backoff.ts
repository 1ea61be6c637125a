/**
 * Reconnect back-off: the protocol package's one back-off (capped exponential, full jitter), which the
 * APNs client and the provider host use too. Re-exported here, where the client's options name it.
 */
export {
  Backoff,
  backoffCeiling,
  backoffDelay,
  DEFAULT_BACKOFF,
  type BackoffOptions,
} from '@localpush/protocol';
