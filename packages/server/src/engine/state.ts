/** The engine's in-memory bookkeeping per device, and the shape of a submit waiting for its group. */
import type { TimerHandle } from '@localpush/protocol';
import type { Store, StoredMessage } from '../store/types.js';
import type { EngineLogger } from './contracts.js';
import { expiredNotice, overflowNotice } from './convert.js';
import type { DeviceSession, SendOutcome, SendRequest } from './types.js';

/** How many of a device's newest messages are scanned to learn the highest seq ever sent to it. */
const SEED_SCAN_LIMIT = 4096;

/** Per-device state, kept in memory for the process's life. */
export interface DeviceState {
  readonly deviceId: string;
  /** The newest session; events from any other session are ignored. */
  session: DeviceSession | undefined;
  /** True once the session's resume cursor was applied; feeding waits for it. */
  ready: boolean;
  /**
   * Pushes written on the current session and not yet acked or settled, by seq. In the order they were
   * (last) written, so the first entry is the one whose ack is due first.
   */
  inFlight: Map<number, InFlight>;
  /** The sum of the in-flight pushes' bytes: the window is bounded by this as well as by their count. */
  inFlightBytes: number;
  /** A running average of the bytes of a push to this device, to size store reads to the byte window. */
  pushBytes: number;
  /**
   * Messages read from the store after `cursor` and not yet written (the connection could not take them
   * yet), in seq order. Dropped when one of them is settled, and on every session change.
   */
  readAhead: StoredMessage[];
  /** True when the read that filled readAhead came back short: it holds the rest of the backlog. */
  readAheadComplete: boolean;
  /** Acks of the current session: progress, beside the session's own (see Engine.watchStall). */
  acks: number;
  /** The slow-consumer watch while pushes wait and the device cannot take them. [LP-7.2] */
  stallTimer: TimerHandle | undefined;
  /** The device's one ack-timeout timer: due when the oldest in-flight push's ack is (see Engine). */
  ackTimer: TimerHandle | undefined;
  /** Highest seq written on the current session (or the resume cursor): the feed continues after it. */
  cursor: number;
  /**
   * True when every message the store holds for the device after `cursor` that deliverable() would
   * return has been written on the current session — so a message enqueued next can be written straight
   * from its enqueue result, and a pump has nothing to read. Set only by a pump whose deliverable() read
   * came back short of the window (it saw the whole backlog, in the device's chain, so no enqueue raced
   * it) and kept while every new message is written directly; cleared whenever one is not (window full,
   * write refused) and on every session change. Settling (ack, expiry, collapse, fall-back) only removes
   * messages from the backlog, so it never invalidates the flag.
   */
  caughtUp: boolean;
  /** Highest seq ever written to the device (this process, plus what the store says was sent before). */
  highestSent: number;
  /** True once highestSent is known to be complete, so that larger ack cursors are invalid. */
  bounded: boolean;
  seeded: boolean;
  /** Messages dropped by overflow while the device was offline; told on its next connect. */
  pendingOverflow: number;
  /** Messages that expired unsent while the device was offline; told on its next connect. */
  pendingExpired: number;
  /** The ack waiting in the device's chain, into which later acks of the same session are merged. */
  pendingAck: PendingAck | undefined;
}

/** A push written on the current session and not yet acked. */
export interface InFlight {
  readonly id: string;
  /** clock.now() when it was (last) written: its ack is due ackTimeoutMs later. */
  writtenAt: number;
  /** Bytes of its frame, as the session reported them. */
  bytes: number;
}

/** Removes a push from the window (acked, settled, or never to be written again). */
export function leaveWindow(state: DeviceState, seq: number): void {
  const entry = state.inFlight.get(seq);
  if (entry === undefined) return;
  state.inFlight.delete(seq);
  state.inFlightBytes -= entry.bytes;
}

/** The store may hold messages after the cursor that were neither written nor read ahead. */
export function fellBehind(state: DeviceState): void {
  state.caughtUp = false;
  state.readAheadComplete = false;
}

/** Forgets everything about the session that was being fed (it closed, or a new one opened). */
export function resetFeed(state: DeviceState): void {
  state.ready = false;
  state.inFlight = new Map();
  state.inFlightBytes = 0;
  state.cursor = 0;
  state.caughtUp = false;
  state.readAhead = [];
  state.readAheadComplete = false;
  state.acks = 0;
}

/** Acks of one session, merged, waiting to be applied. */
export interface PendingAck {
  readonly session: DeviceSession;
  ids: string[];
  through: number | undefined;
}

/** A fresh, offline device state. */
export function newDeviceState(deviceId: string): DeviceState {
  return {
    deviceId,
    session: undefined,
    ready: false,
    inFlight: new Map(),
    inFlightBytes: 0,
    pushBytes: 0,
    readAhead: [],
    readAheadComplete: false,
    acks: 0,
    stallTimer: undefined,
    ackTimer: undefined,
    cursor: 0,
    caughtUp: false,
    highestSent: 0,
    bounded: false,
    seeded: false,
    pendingOverflow: 0,
    pendingExpired: 0,
    pendingAck: undefined,
  };
}

/** A submit queued for its device's next submit group. */
export interface PendingSubmit {
  readonly request: SendRequest;
  readonly id: string;
  /** See SubmitHints: the device is connected to another node. */
  readonly onlineElsewhere: boolean;
  resolve(outcome: SendOutcome): void;
  reject(error: unknown): void;
}

/**
 * Learns the highest seq ever sent to the device from the store, once per process, so that acks after
 * a server restart are validated against what the previous process sent. Runs inside the chain.
 */
export async function seed(store: Store, state: DeviceState): Promise<void> {
  if (state.seeded) return;
  const recent = await store.listMessages(state.deviceId, { limit: SEED_SCAN_LIMIT });
  const lastSent = recent.find((m) => m.sentAt !== null);
  if (lastSent !== undefined) state.highestSent = Math.max(state.highestSent, lastSent.seq);
  // Without a sent message in a full page the bound is unknown: stay lenient rather than reject acks.
  state.bounded = lastSent !== undefined || recent.length < SEED_SCAN_LIMIT;
  state.seeded = true;
}

/** Sends a queue_overflow notice now when the device is connected, else on its next connect. [LP-6.7] */
export function tellOverflow(state: DeviceState, count: number, logger: EngineLogger | undefined): void {
  const session = state.session;
  if (session?.isOpen === true && state.ready) {
    session.sendNotice(overflowNotice(count, 'because the queue is full'));
  } else {
    state.pendingOverflow += count;
  }
  logger?.warn(
    { device: state.deviceId, dropped: count },
    'device queue overflowed; oldest messages dropped',
  );
}

/** Sends an `expired` notice now when the device is connected, else on its next connect. [LP-6.7] */
export function tellExpired(state: DeviceState, count: number): void {
  const session = state.session;
  if (session?.isOpen === true && state.ready) session.sendNotice(expiredNotice(count));
  else state.pendingExpired += count;
}
