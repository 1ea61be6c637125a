/** Conversions between stored messages and what the engine hands out: statuses, outcomes, pushes, notices. */
import type { Notice, Push } from '@localpush/protocol';
import type { StoredMessage } from '../store/types.js';
import type { SendOutcome, SendStatus } from './types.js';

/** The SendStatus that describes a stored message's state (duplicates and early-settled waits). */
export function statusOfState(state: StoredMessage['state']): SendStatus {
  switch (state) {
    case 'queued':
      return 'queued';
    case 'sent':
    case 'fallen_back':
      return 'sent';
    case 'acked':
      return 'delivered';
    case 'expired':
    case 'collapsed':
    case 'overflowed':
      return 'expired';
  }
}

/** The protocol push for a stored message. [LP-6.1] */
export function toPush(message: StoredMessage): Push {
  const push: Push = {
    type: 'push',
    id: message.id,
    seq: message.seq,
    kind: message.kind,
    payload: message.payload,
    priority: message.priority,
    expiration: message.expiration,
  };
  if (message.collapseId !== null) push.collapseId = message.collapseId;
  return push;
}

/** The outcome describing a stored message. */
export function outcomeOf(message: StoredMessage, duplicate: boolean): SendOutcome {
  return {
    deviceId: message.deviceId,
    id: message.id,
    status: statusOfState(message.state),
    duplicate,
    seq: message.seq,
  };
}

/** A queue_overflow notice for `count` dropped messages. [LP-6.7] */
export function overflowNotice(count: number, why: string): Notice {
  return {
    type: 'notice',
    code: 'queue_overflow',
    count,
    message: `${count} undelivered message${count === 1 ? ' was' : 's were'} dropped ${why}`,
  };
}

/** An `expired` notice for `count` messages that expired before they could be written. [LP-6.7] */
export function expiredNotice(count: number): Notice {
  return {
    type: 'notice',
    code: 'expired',
    count,
    message: `${count} message${count === 1 ? '' : 's'} expired before delivery`,
  };
}
