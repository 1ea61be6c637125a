/** One connection attempt of a DeviceClient: what it holds from opening the transport to its close. */
import { LIMITS, type Ack, type TimerHandle } from '@localpush/protocol';
import type { FrameLink } from '@localpush/protocol/link';
import type { LivenessWatchdog } from './liveness.js';
import type { PendingTransport, ServerUrl } from './transports.js';

/** One connection attempt, from opening the transport to its close. */
export interface Attempt {
  readonly url: ServerUrl;
  transport?: PendingTransport;
  link?: FrameLink;
  /** Connect timeout, then welcome timeout. */
  timer?: TimerHandle;
  /** Resets the back-off once the connection has stayed up one heartbeat interval. */
  healthyTimer?: TimerHandle;
  /** Drops the session when the server falls silent for interval + grace (unless `liveness: false`). */
  watchdog?: LivenessWatchdog;
  /** Ids delivered on this connection and not yet acknowledged on it. */
  readonly awaiting: Set<string>;
  /** Highest push seq received on this connection: the ceiling for `through` on it. */
  maxSeq: number;
  ackIds: string[];
  ackScheduled: boolean;
  ended: boolean;
  linkClosed: boolean;
  /** Resolvers waiting for the transport to be gone. */
  readonly onClosed: Array<() => void>;
}

/** A fresh attempt on `url`, before its transport is opened. */
export function newAttempt(url: ServerUrl): Attempt {
  return {
    url,
    awaiting: new Set(),
    maxSeq: 0,
    ackIds: [],
    ackScheduled: false,
    ended: false,
    linkClosed: false,
    onClosed: [],
  };
}

/**
 * The attempt's collected ack ids as frames of at most {@link LIMITS.ackIdsMaxCount} ids each, with the
 * resume cursor; the collection is emptied. [LP-6.5]
 */
export function takeAcks(attempt: Attempt, lastSeq: number | undefined): Ack[] {
  const ids = attempt.ackIds;
  attempt.ackIds = [];
  const acks: Ack[] = [];
  for (let i = 0; i < ids.length; i += LIMITS.ackIdsMaxCount) {
    const ack: Ack = { type: 'ack', ids: ids.slice(i, i + LIMITS.ackIdsMaxCount) };
    // [LP-6.5] A server rejects a `through` beyond anything it sent (LP_ACK_INVALID), which a cursor from
    // `resumeFrom` or an earlier server (wiped since) could be; what arrived on this connection it did send.
    const through = Math.min(lastSeq ?? 0, attempt.maxSeq);
    if (through > 0) ack.through = through;
    acks.push(ack);
  }
  return acks;
}
