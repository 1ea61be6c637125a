/**
 * The SimplePush-compatible gateway: what the sample's macOS server does, over any Duplex streams, so the
 * sample's unmodified app (control channel) and provider extension (notification channel) can use
 * localpush. Transport-agnostic: `listenSimplePush` (listen.ts) feeds it TLS sockets; tests may feed it
 * anything. Behaviour follows docs/simplepush.md; every timer goes through the injected Clock.
 */
import { systemClock, type Clock, type TimerHandle } from '@localpush/protocol';
import {
  SP_DEFAULT_MAX_FRAME_BYTES,
  SimplePushChannel,
  SimplePushError,
  SimplePushErrorCode,
  isUuid,
  type SpCallActionKind,
  type SpMessage,
  type SpUser,
} from './codec.js';
import { SpEndpoint, type SpCloseReason, type SpRequestOutcome, type SpStream } from './endpoint.js';

/** A text between users, as the gateway saw it. `from` is the registered sender, never the claimed one. */
export interface SimplePushText {
  from: SpUser;
  /** The receiver as the sender named it. */
  to: SpUser;
  message: string;
}

export const SimplePushCallState = { pending: 'pending', active: 'active', ended: 'ended' } as const;
export type SimplePushCallState = (typeof SimplePushCallState)[keyof typeof SimplePushCallState];

/** Why a call ended. `dropped`: a participant's channel closed; `unresponsive`: missed heartbeats. */
export type SimplePushCallEnd = 'hangup' | 'unavailable' | 'dropped' | 'unresponsive' | 'shutdown';

/** A call between two SimplePush users. */
export interface SimplePushCall {
  caller: SpUser;
  receiver: SpUser;
  state: SimplePushCallState;
  /** Set when `state` is `ended`. */
  endedBy?: SimplePushCallEnd;
}

/** A user's connection state. */
export interface SimplePushUserState {
  user: SpUser;
  control: boolean;
  notification: boolean;
  /** The notification channel answers heartbeats. Only responsive users are in the directory. */
  responsive: boolean;
}

/**
 * Hooks for whoever embeds the gateway (logging, metrics, and bridging SimplePush users into the main
 * server). Hooks are called synchronously and must not throw.
 */
export interface SimplePushHooks {
  /** A connection arrived; it has `registrationTimeoutMs` to register. */
  onConnection?(channel: SimplePushChannel, remoteAddress: string | undefined): void;
  /** A user registered a connection on a channel (replacing any older one). */
  onSessionOpen?(user: SpUser, channel: SimplePushChannel): void;
  /** A registered connection closed. `reason` is `REPLACED` when a newer connection took its place. */
  onSessionClose?(user: SpUser, channel: SimplePushChannel, reason: SpCloseReason): void;
  /** A connection broke the protocol and is being closed. `user` is absent before registration. */
  onProtocolError?(error: SimplePushError, channel: SimplePushChannel, user: SpUser | undefined): void;
  /** The directory changed; `users` is the new snapshot. */
  onDirectoryChange?(users: readonly SpUser[]): void;
  /** A heartbeat completed: acknowledged, timed out, or cut short by the connection closing. */
  onHeartbeat?(user: SpUser, channel: SimplePushChannel, outcome: SpRequestOutcome): void;
  /** A user's notification channel stopped (or resumed) answering heartbeats. */
  onResponsiveChange?(user: SpUser, responsive: boolean): void;
  /**
   * An app sent a text. Return true to claim it (say, the receiver is a bridged user of the main server);
   * otherwise the gateway delivers it to the receiver's notification channel. `delivered` tells whether a
   * SimplePush receiver was connected.
   */
  onTextMessage?(text: SimplePushText): boolean | void;
  /** After local delivery of an unclaimed text was tried. */
  onTextDelivery?(text: SimplePushText, delivered: boolean): void;
  /** A call was created, became active, or ended. */
  onCallChange?(call: Readonly<SimplePushCall>): void;
  /**
   * An app sent an Invite or a CallAction. Return true to claim it (a call with a bridged user): the
   * gateway then neither answers nor tracks it, and the claimer answers with {@link
   * SimplePushGateway.sendInvite} and {@link SimplePushGateway.sendCallActionTo}.
   */
  onCallMessage?(
    from: SpUser,
    message: Extract<SpMessage, { type: 'invite' | 'callAction' }>,
  ): boolean | void;
}

export interface SimplePushGatewayOptions {
  clock?: Clock;
  /** Pause between a heartbeat's completion and the next one. The sample: 10 s. */
  heartbeatIntervalMs?: number;
  /** How long any request may wait for its acknowledgement. The sample: 10 s. */
  ackTimeoutMs?: number;
  /** How long a new connection may take to register before it is closed. Not in the sample; 30 s. */
  registrationTimeoutMs?: number;
  maxFrameBytes?: number;
  /** Source of request identifiers; random uint32 by default. */
  randomId?: () => number;
  hooks?: SimplePushHooks;
}

interface Session {
  readonly channel: SimplePushChannel;
  readonly endpoint: SpEndpoint;
  user: SpUser | undefined;
  /** The registration timeout, then the wait before the next heartbeat. */
  timer: TimerHandle | undefined;
  heartbeats: number;
  replaced: boolean;
  /** Told once, when the connection registers (the listener's admission then stops counting it). */
  registered: (() => void) | undefined;
}

interface UserEntry {
  user: SpUser;
  control?: Session;
  notification?: Session;
  responsive: boolean;
}

/** The SimplePush server: registrations, directory, heartbeats, texts and calls. */
export class SimplePushGateway {
  /** Mutable: the embedder may set hooks after construction. */
  readonly hooks: SimplePushHooks;
  private readonly clock: Clock;
  private readonly heartbeatIntervalMs: number;
  private readonly ackTimeoutMs: number;
  private readonly registrationTimeoutMs: number;
  private readonly maxFrameBytes: number;
  private readonly randomId: (() => number) | undefined;
  private readonly sessions = new Set<Session>();
  private readonly users = new Map<string, UserEntry>();
  /** Each call under both participants' UUIDs. */
  private readonly calls = new Map<string, SimplePushCall>();
  private bridged: SpUser[] = [];
  private lastDirectoryKey = '[]';
  private closing = false;

  constructor(options: SimplePushGatewayOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 10_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.registrationTimeoutMs = options.registrationTimeoutMs ?? 30_000;
    this.maxFrameBytes = options.maxFrameBytes ?? SP_DEFAULT_MAX_FRAME_BYTES;
    this.randomId = options.randomId;
    this.hooks = options.hooks ?? {};
  }

  /**
   * Serves a connection of the app's control channel (port 5060 in the sample). `registered` is called
   * once the connection has registered its user.
   */
  handleControl(stream: SpStream, registered?: () => void): void {
    this.handle(stream, SimplePushChannel.control, registered);
  }

  /** Serves a connection of the provider extension's notification channel (port 3000 in the sample). */
  handleNotification(stream: SpStream, registered?: () => void): void {
    this.handle(stream, SimplePushChannel.notification, registered);
  }

  /** The directory: users whose notification channel is connected and responsive, then bridged users. */
  directory(): SpUser[] {
    const local: SpUser[] = [];
    for (const entry of this.users.values()) {
      if (entry.notification && entry.responsive) local.push({ ...entry.user });
    }
    const seen = new Set(local.map((u) => u.uuid));
    return [...local, ...this.bridged.filter((u) => !seen.has(u.uuid)).map((u) => ({ ...u }))];
  }

  /** Every user with at least one registered connection. */
  userStates(): SimplePushUserState[] {
    return [...this.users.values()].map((e) => ({
      user: { ...e.user },
      control: e.control !== undefined,
      notification: e.notification !== undefined,
      responsive: e.notification !== undefined && e.responsive,
    }));
  }

  /** The calls in progress (pending or active). */
  activeCalls(): SimplePushCall[] {
    return [...new Set(this.calls.values())].map((c) => ({ ...c }));
  }

  /** True when `uuid` may be called or texted now: notification channel connected and responsive. */
  isAvailable(uuid: string): boolean {
    const entry = this.users.get(uuid.toUpperCase());
    return entry?.notification !== undefined && entry.responsive;
  }

  /**
   * Sends a TextMessage to a user's notification channel, as if `from` had sent it (for bridged senders).
   * Returns false when the user has no notification channel connected; throws a RangeError when
   * `from.uuid` is not a UUID.
   */
  sendText(
    toUserUuid: string,
    from: SpUser,
    text: string,
    onOutcome?: (outcome: SpRequestOutcome) => void,
  ): boolean {
    checkUser(from);
    const entry = this.users.get(toUserUuid.toUpperCase());
    const session = entry?.notification;
    if (!entry || !session) return false;
    const sender = { uuid: from.uuid.toUpperCase(), deviceName: from.deviceName };
    session.endpoint.request(
      { type: 'textMessage', routing: { sender, receiver: { ...entry.user } }, message: text },
      onOutcome,
    );
    return true;
  }

  /**
   * Sends an Invite from `from` (a bridged caller) to a user's notification channel, so the extension
   * rings. Returns false when the user has no notification channel. The claimer tracks the call.
   */
  sendInvite(toUserUuid: string, from: SpUser, onOutcome?: (outcome: SpRequestOutcome) => void): boolean {
    checkUser(from);
    const entry = this.users.get(toUserUuid.toUpperCase());
    const session = entry?.notification;
    if (!entry || !session) return false;
    const sender = { uuid: from.uuid.toUpperCase(), deviceName: from.deviceName };
    session.endpoint.request({ type: 'invite', routing: { sender, receiver: { ...entry.user } } }, onOutcome);
    return true;
  }

  /**
   * Sends a CallAction to a user's app (control channel) about a call the embedder claimed; `counterpart`
   * is the other participant. Returns false when the user has no control channel.
   */
  sendCallActionTo(toUserUuid: string, action: SpCallActionKind, counterpart: SpUser): boolean {
    checkUser(counterpart);
    const uuid = toUserUuid.toUpperCase();
    if (this.users.get(uuid)?.control === undefined) return false;
    this.sendCallAction(uuid, action, {
      uuid: counterpart.uuid.toUpperCase(),
      deviceName: counterpart.deviceName,
    });
    return true;
  }

  /**
   * Users of another world (the main server) listed in every directory after the SimplePush users, so the
   * sample's app can pick them; texts to them reach {@link SimplePushHooks.onTextMessage}.
   */
  setBridgedUsers(users: readonly SpUser[]): void {
    users.forEach(checkUser);
    this.bridged = users.map((u) => ({ uuid: u.uuid.toUpperCase(), deviceName: u.deviceName }));
    this.broadcastDirectory();
  }

  /** Closes every connection and stops every timer. */
  close(): void {
    this.closing = true;
    for (const session of [...this.sessions]) session.endpoint.close(SimplePushErrorCode.SHUTTING_DOWN);
    this.calls.clear();
    this.users.clear();
  }

  // -------------------------------------------------------------------------------------------------------
  // Connections

  private handle(stream: SpStream, channel: SimplePushChannel, registered?: () => void): void {
    if (this.closing) {
      stream.destroy();
      return;
    }
    const endpoint = new SpEndpoint(stream, {
      clock: this.clock,
      ackTimeoutMs: this.ackTimeoutMs,
      maxFrameBytes: this.maxFrameBytes,
      ...(this.randomId ? { randomId: this.randomId } : {}),
    });
    const session: Session = {
      channel,
      endpoint,
      user: undefined,
      timer: undefined,
      heartbeats: 0,
      replaced: false,
      registered,
    };
    this.sessions.add(session);
    session.timer = this.clock.setTimeout(() => {
      session.timer = undefined;
      this.hooks.onProtocolError?.(
        new SimplePushError(SimplePushErrorCode.REGISTRATION_TIMEOUT, 'no registration in time'),
        channel,
        undefined,
      );
      endpoint.close(SimplePushErrorCode.REGISTRATION_TIMEOUT);
    }, this.registrationTimeoutMs);
    this.hooks.onConnection?.(channel, endpoint.remoteAddress);
    endpoint.start({
      request: (message) => this.onRequest(session, message),
      protocolError: (error) => this.hooks.onProtocolError?.(error, channel, session.user),
      close: (reason) => this.onClose(session, reason),
    });
  }

  private onRequest(session: Session, message: SpMessage): void {
    if (session.user === undefined) {
      // Throwing a SimplePushError makes the endpoint report it and close the connection.
      if (message.type !== 'user') {
        throw new SimplePushError(
          SimplePushErrorCode.NOT_REGISTERED,
          `the first message must be a User registration, got ${message.type}`,
        );
      }
      this.register(session, message.user);
      return;
    }
    const entry = this.users.get(session.user.uuid);
    if (!entry) return;
    if (message.type === 'user') {
      if (message.user.uuid !== session.user.uuid) {
        throw new SimplePushError(SimplePushErrorCode.USER_CHANGED, 'a connection cannot change its user');
      }
      // Same user again: the sample's app re-sends it when the device name changes.
      entry.user = message.user;
      session.user = message.user;
      this.broadcastDirectory();
      return;
    }
    // The extension sends only its registration and acks; anything else from it is acknowledged and
    // dropped, as are server-to-client types (heartbeat, directory) arriving from an app.
    if (session.channel !== SimplePushChannel.control) return;
    switch (message.type) {
      case 'textMessage':
        this.onText(entry, {
          from: { ...entry.user },
          to: message.routing.receiver,
          message: message.message,
        });
        return;
      case 'invite':
        if (this.hooks.onCallMessage?.({ ...entry.user }, message) === true) return;
        this.onInvite(entry, message.routing.receiver);
        return;
      case 'callAction':
        if (this.hooks.onCallMessage?.({ ...entry.user }, message) === true) return;
        this.onCallAction(entry, session, message.action, message.receiver);
        return;
      case 'heartbeat':
      case 'directory':
        return;
    }
  }

  private register(session: Session, user: SpUser): void {
    if (session.timer !== undefined) this.clock.clearTimeout(session.timer);
    session.timer = undefined;
    session.registered?.();
    session.registered = undefined;
    session.user = user;
    let entry = this.users.get(user.uuid);
    if (!entry) {
      entry = { user, responsive: false };
      this.users.set(user.uuid, entry);
    }
    entry.user = user;
    const older = entry[session.channel];
    entry[session.channel] = session;
    if (older) {
      older.replaced = true;
      older.endpoint.close(SimplePushErrorCode.REPLACED);
    }
    if (session.channel === SimplePushChannel.notification) entry.responsive = true;
    this.scheduleHeartbeat(session);
    this.hooks.onSessionOpen?.({ ...user }, session.channel);
    this.broadcastDirectory();
  }

  private onClose(session: Session, reason: SpCloseReason): void {
    if (session.timer !== undefined) this.clock.clearTimeout(session.timer);
    session.timer = undefined;
    this.sessions.delete(session);
    const user = session.user;
    if (!user) return;
    this.hooks.onSessionClose?.({ ...user }, session.channel, reason);
    if (session.replaced || this.closing) return;
    const entry = this.users.get(user.uuid);
    if (!entry || entry[session.channel] !== session) return;
    delete entry[session.channel];
    const call = this.calls.get(user.uuid);
    if (call) this.endCall(call, 'dropped', entry.user);
    if (!entry.control && !entry.notification) this.users.delete(user.uuid);
    if (session.channel === SimplePushChannel.notification) this.broadcastDirectory();
  }

  // -------------------------------------------------------------------------------------------------------
  // Heartbeats

  private scheduleHeartbeat(session: Session): void {
    session.timer = this.clock.setTimeout(() => {
      session.timer = undefined;
      this.sendHeartbeat(session);
    }, this.heartbeatIntervalMs);
  }

  private sendHeartbeat(session: Session): void {
    session.heartbeats += 1;
    session.endpoint.request({ type: 'heartbeat', count: session.heartbeats }, (outcome) => {
      if (session.user) this.hooks.onHeartbeat?.({ ...session.user }, session.channel, outcome);
      if (outcome === 'closed' || session.endpoint.isClosed) return;
      if (session.channel === SimplePushChannel.control) {
        if (outcome === 'timeout') {
          session.endpoint.close(SimplePushErrorCode.ACK_TIMEOUT);
          return;
        }
      } else {
        const entry = session.user ? this.users.get(session.user.uuid) : undefined;
        // The sample keeps the TCP connection open on the notification channel; only the user's
        // reachability changes, and a later answered heartbeat makes the user reachable again.
        if (entry && entry.notification === session) this.setResponsive(entry, outcome === 'acknowledged');
      }
      this.scheduleHeartbeat(session);
    });
  }

  private setResponsive(entry: UserEntry, responsive: boolean): void {
    if (entry.responsive === responsive) return;
    entry.responsive = responsive;
    this.hooks.onResponsiveChange?.({ ...entry.user }, responsive);
    if (!responsive) {
      const call = this.calls.get(entry.user.uuid);
      if (call && call.state === SimplePushCallState.pending && call.receiver.uuid === entry.user.uuid) {
        this.endCall(call, 'unresponsive', entry.user);
      }
    }
    this.broadcastDirectory();
  }

  // -------------------------------------------------------------------------------------------------------
  // Directory and texts

  private broadcastDirectory(): void {
    if (this.closing) return;
    const users = this.directory();
    const key = JSON.stringify(users);
    if (key !== this.lastDirectoryKey) {
      this.lastDirectoryKey = key;
      this.hooks.onDirectoryChange?.(users);
    }
    // The sample broadcasts on every registration and state change, changed or not: a freshly registered
    // app learns the directory this way.
    for (const entry of this.users.values()) {
      if (entry.control) this.sendControl(entry.control, { type: 'directory', users });
    }
  }

  private onText(entry: UserEntry, text: SimplePushText): void {
    if (this.hooks.onTextMessage?.(text) === true) return;
    const delivered = this.sendText(text.to.uuid, entry.user, text.message);
    this.hooks.onTextDelivery?.(text, delivered);
  }

  /** Sends on a control channel, where an unacknowledged request ends the session (as in the sample). */
  private sendControl(session: Session, message: SpMessage): void {
    session.endpoint.request(message, (outcome) => {
      if (outcome === 'timeout') session.endpoint.close(SimplePushErrorCode.ACK_TIMEOUT);
    });
  }

  private sendCallAction(uuid: string, action: SpCallActionKind, counterpart: SpUser): void {
    const session = this.users.get(uuid)?.control;
    // `receiver` names the recipient's counterpart in the call: who connected, hung up or is unavailable.
    if (session) this.sendControl(session, { type: 'callAction', action, receiver: { ...counterpart } });
  }

  // -------------------------------------------------------------------------------------------------------
  // Calls

  private onInvite(caller: UserEntry, receiver: SpUser): void {
    const call = this.calls.get(caller.user.uuid);
    const target = this.users.get(receiver.uuid);
    // The Invite may come before or after the caller's connect; forward it only when it belongs to the
    // caller's pending call, or could start one. Otherwise the connect is answered with unavailable.
    const belongs = call?.state === SimplePushCallState.pending && call.receiver.uuid === receiver.uuid;
    const couldStart = call === undefined && this.canReceiveCall(caller.user.uuid, receiver.uuid);
    if (!target?.notification || !(belongs || couldStart)) return;
    target.notification.endpoint.request({
      type: 'invite',
      routing: { sender: { ...caller.user }, receiver: { ...target.user } },
    });
  }

  private canReceiveCall(callerUuid: string, receiverUuid: string): boolean {
    return receiverUuid !== callerUuid && this.isAvailable(receiverUuid) && !this.calls.has(receiverUuid);
  }

  private onCallAction(
    entry: UserEntry,
    session: Session,
    action: SpCallActionKind,
    receiver?: SpUser,
  ): void {
    const me = entry.user;
    const call = this.calls.get(me.uuid);
    if (action === 'connect') {
      if (call) {
        if (call.state === SimplePushCallState.pending && call.receiver.uuid === me.uuid) {
          call.state = SimplePushCallState.active;
          this.hooks.onCallChange?.({ ...call });
          this.sendCallAction(call.caller.uuid, 'connect', call.receiver);
          this.sendCallAction(call.receiver.uuid, 'connect', call.caller);
          return;
        }
        const other = call.caller.uuid === me.uuid ? call.receiver : call.caller;
        // A repeated connect within one's own call changes nothing; a connect to a third user while in a
        // call is refused like a call to a busy user.
        if (receiver === undefined || receiver.uuid === other.uuid) return;
        this.sendControl(session, { type: 'callAction', action: 'unavailable', receiver });
        return;
      }
      if (receiver === undefined) {
        // Nobody to connect to (an answer to a call that already ended): tell the app it is over.
        this.sendControl(session, { type: 'callAction', action: 'unavailable' });
        return;
      }
      if (!this.canReceiveCall(me.uuid, receiver.uuid)) {
        this.sendControl(session, { type: 'callAction', action: 'unavailable', receiver });
        return;
      }
      const target = this.users.get(receiver.uuid);
      const created: SimplePushCall = {
        caller: { ...me },
        receiver: { ...(target?.user ?? receiver) },
        state: SimplePushCallState.pending,
      };
      this.calls.set(me.uuid, created);
      this.calls.set(created.receiver.uuid, created);
      this.hooks.onCallChange?.({ ...created });
      return;
    }
    // hangup or unavailable: relayed to the other participant, and the call is over.
    if (call) this.endCall(call, action, me, action);
  }

  /**
   * Ends `call`, which `by` ended; the other participant is told `tell` (hangup by default). When a
   * pending call's receiver stops answering, the caller is told "unavailable", as in the sample.
   */
  private endCall(call: SimplePushCall, why: SimplePushCallEnd, by: SpUser, tell?: SpCallActionKind): void {
    this.calls.delete(call.caller.uuid);
    this.calls.delete(call.receiver.uuid);
    call.state = SimplePushCallState.ended;
    call.endedBy = why;
    const other = call.caller.uuid === by.uuid ? call.receiver : call.caller;
    const counterpart = call.caller.uuid === by.uuid ? call.caller : call.receiver;
    this.sendCallAction(other.uuid, tell ?? (why === 'unresponsive' ? 'unavailable' : 'hangup'), counterpart);
    this.hooks.onCallChange?.({ ...call });
  }
}

/** Users handed in by the embedder reach devices whose decoder rejects a UUID that is not one. */
function checkUser(user: SpUser): void {
  if (!isUuid(user.uuid)) throw new RangeError(`not a UUID: ${JSON.stringify(user.uuid)}`);
}
