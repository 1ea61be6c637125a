/**
 * How the engine feeds a session as the connection can take it, and when it gives up on a device: the
 * window (count and bytes), the size of store reads, and the slow-consumer watch. [LP-7.2, LP-7.3]
 */
import type { Clock } from '@localpush/protocol';
import type { EngineLogger } from './contracts.js';
import type { DeliveryEngineOptions } from './options.js';
import type { DeviceState } from './state.js';
import type { DeviceSession } from './types.js';

/** Messages read for a device whose push size is not known yet (its first read of a session). */
const FIRST_READ_LIMIT = 16;

type WindowOptions = Pick<DeliveryEngineOptions, 'maxInFlightPerDevice' | 'maxInFlightBytesPerDevice'>;

/** What the slow-consumer watch needs of the engine. */
export interface StallContext {
  readonly clock: Clock;
  readonly logger: EngineLogger | undefined;
  readonly options: DeliveryEngineOptions;
}

/**
 * Whether one more push may be written now: the connection takes it without queueing past its
 * high-water mark, and the window has room in count and bytes (one push always fits).
 */
export function hasRoom(options: WindowOptions, state: DeviceState, session: DeviceSession): boolean {
  if (!session.writable) return false;
  if (state.inFlight.size === 0) return true;
  return (
    state.inFlight.size < options.maxInFlightPerDevice &&
    state.inFlightBytes < options.maxInFlightBytesPerDevice
  );
}

/** How many messages to read: the window's room in count, and in bytes at the device's usual size. */
export function readLimit(options: WindowOptions, state: DeviceState): number {
  const countRoom = Math.max(1, options.maxInFlightPerDevice - state.inFlight.size);
  if (state.pushBytes === 0) return Math.min(countRoom, FIRST_READ_LIMIT);
  const byteRoom = Math.max(0, options.maxInFlightBytesPerDevice - state.inFlightBytes);
  return Math.max(1, Math.min(countRoom, Math.ceil(byteRoom / state.pushBytes)));
}

/** Pushes wait for the device: some are not yet written, and the session cannot take one now. */
function waitsOnDevice(options: WindowOptions, state: DeviceState, session: DeviceSession): boolean {
  if (!session.isOpen || !state.ready) return false;
  if (state.caughtUp && state.readAhead.length === 0) return false;
  return !hasRoom(options, state, session);
}

/**
 * [LP-7.2] A device is a slow consumer only when pushes wait that it cannot take — its connection is
 * not writable, or its window is full — and for slowConsumerTimeoutMs it shows no progress at all: no
 * bytes drained, no ack, no heartbeat answered. A device that reads slowly drains; one whose app is
 * slow to ack still answers the heartbeat asked for when its window is full (checkReading). Called after
 * every pump: it arms the watch when the device starts to hold pushes up and stops it when it no longer
 * does; the watch re-arms itself as long as there is progress.
 */
export function watchStall(context: StallContext, state: DeviceState, session: DeviceSession): void {
  const { clock, options } = context;
  if (!waitsOnDevice(options, state, session)) {
    stopStallWatch(clock, state);
    return;
  }
  if (state.stallTimer !== undefined) return;
  const baseline = session.progress + state.acks;
  // With the window full and the queue empty, nothing but an ack or a heartbeat ack can show reading.
  if (session.writable) session.checkReading();
  state.stallTimer = clock.setTimeout(() => {
    state.stallTimer = undefined;
    if (state.session !== session || !waitsOnDevice(options, state, session)) return;
    if (session.progress + state.acks !== baseline) {
      watchStall(context, state, session);
      return;
    }
    context.logger?.warn(
      { device: state.deviceId, idleMs: options.slowConsumerTimeoutMs, inFlight: state.inFlight.size },
      'device took nothing and acknowledged nothing with pushes waiting; dropped as a slow consumer',
    );
    session.dropSlowConsumer();
  }, options.slowConsumerTimeoutMs);
}

export function stopStallWatch(clock: Clock, state: DeviceState): void {
  if (state.stallTimer !== undefined) clock.clearTimeout(state.stallTimer);
  state.stallTimer = undefined;
}
