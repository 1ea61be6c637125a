/** The engine's tunables, their defaults and their validation. */
import { LocalpushError, ServerErrorCode } from '../errors.js';

/** Tunables of the engine. */
export interface DeliveryEngineOptions {
  /** Time to live of a message submitted without expiration, in seconds. Default 7 days. */
  defaultTtlSeconds: number;
  /** Undelivered messages kept per device; the oldest overflow. Default 1000. */
  maxQueuePerDevice: number;
  /** Pushes written to a session and not yet acked, per device. Default 256. [LP-7.3] */
  maxInFlightPerDevice: number;
  /**
   * Bytes of pushes written to a session and not yet acked, per device (one push is always allowed,
   * whatever its size). Default 1 MiB. [LP-7.3]
   */
  maxInFlightBytesPerDevice: number;
  /**
   * A device with pushes waiting that it cannot take (its connection's queue full, or its window full)
   * and that drains no bytes and acknowledges nothing for this long is dropped as a slow consumer.
   * Default 5 s, half the heartbeat grace. [LP-7.2]
   */
  slowConsumerTimeoutMs: number;
  /**
   * A push not acked within this on its connection is written again on it (and reported to the
   * ack-timeout hooks). Default 30 s. [LP-6.8]
   */
  ackTimeoutMs: number;
  /** Interval of the expiry sweep. Default 1 s. */
  expirySweepMs: number;
}

/** The defaults of {@link DeliveryEngineOptions}. */
export const DEFAULT_ENGINE_OPTIONS: Readonly<DeliveryEngineOptions> = Object.freeze({
  defaultTtlSeconds: 7 * 86_400,
  maxQueuePerDevice: 1000,
  maxInFlightPerDevice: 256,
  maxInFlightBytesPerDevice: 1024 * 1024,
  slowConsumerTimeoutMs: 5_000,
  ackTimeoutMs: 30_000,
  expirySweepMs: 1000,
});

/** Fills in defaults; throws LP_CONFIG_INVALID for a value that is not a positive integer. */
export function validateOptions(input: Partial<DeliveryEngineOptions> | undefined): DeliveryEngineOptions {
  const options: DeliveryEngineOptions = { ...DEFAULT_ENGINE_OPTIONS };
  for (const [key, value] of Object.entries(input ?? {})) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_ENGINE_OPTIONS)) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new LocalpushError(
        ServerErrorCode.CONFIG_INVALID,
        `engine option ${key} must be a positive integer, got ${String(value)}`,
      );
    }
    options[key as keyof DeliveryEngineOptions] = value;
  }
  return options;
}
