/**
 * "One world": SimplePush users become localpush devices and localpush devices become SimplePush users,
 * so texts and calls flow between the sample's app and native or WebSocket clients, and the send API can
 * push to a SimplePush user. The mapping and the JSON convention are in docs/simplepush.md ("One
 * world"). The gateway and the engine are handed in; this module only translates between them.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Ack, Clock, JsonValue, Notice, Push } from '@localpush/protocol';
import { StoreError, ServerErrorCode } from '../core.js';
import type { DeliveryEngine, DeviceSession, SendRequest, SessionListener } from '../core.js';
import type { PresenceListener, PresenceSession, SessionDirectory } from '../core.js';
import type { DeviceRecord, Store } from '../core.js';
import { SimplePushErrorCode, isUuid, type SpCallActionKind, type SpMessage, type SpUser } from './codec.js';
import type { SimplePushGateway, SimplePushText } from './gateway.js';

/** Prefix of the device id a SimplePush user gets: `sp-` and the upper-case UUID. */
export const SIMPLEPUSH_DEVICE_PREFIX = 'sp-';

/**
 * The stored credential hash of a SimplePush device. It is not 64 hex digits, so no credential ever
 * verifies against it: these devices are reached only through the SimplePush channels (TLS pin trust).
 */
export const SIMPLEPUSH_NO_CREDENTIAL = 'simplepush:no-credential';

/** Call actions in the chat convention (`kind: 'call'` payloads). */
export const CHAT_CALL_ACTIONS = ['invite', 'connect', 'hangup', 'unavailable'] as const;
export type ChatCallAction = (typeof CHAT_CALL_ACTIONS)[number];

/** Payload of a `kind: 'message'` push in the chat convention. */
export interface ChatTextPayload {
  from: string;
  fromName: string;
  text: string;
}

/** Payload of a `kind: 'call'` push in the chat convention. */
export interface ChatCallPayload {
  from: string;
  fromName: string;
  callId: string;
  action: ChatCallAction;
}

/** Someone in the world's directory. */
export interface WorldUser {
  /** The localpush device id (`sp-<UUID>` for SimplePush users). */
  id: string;
  name: string;
  kind: 'simplepush' | 'device';
  /** The UUID the sample's app knows this user by. */
  uuid: string;
}

/** The engine as the bridge uses it: submit pushes and report its sessions' acks. */
export type BridgeEngine = Pick<DeliveryEngine, 'submit'> & Pick<SessionListener, 'ackReceived'>;

/** What {@link SimplePushBridge} needs. */
export interface SimplePushBridgeDeps {
  gateway: SimplePushGateway;
  engine: BridgeEngine;
  /** Who is connected: SimplePush users' sessions are registered here like any device's. */
  presence: SessionDirectory;
  store: Pick<Store, 'getDevice' | 'addDevice'>;
  clock: Clock;
  logger?: { warn(obj: object, msg?: string): void };
}

/** The device id of a SimplePush user. */
export function simplePushDeviceId(uuid: string): string {
  return `${SIMPLEPUSH_DEVICE_PREFIX}${uuid.toUpperCase()}`;
}

/** The UUID of a SimplePush device id, or undefined when `deviceId` is not one. */
export function simplePushUuidOf(deviceId: string): string | undefined {
  if (!deviceId.startsWith(SIMPLEPUSH_DEVICE_PREFIX)) return undefined;
  const uuid = deviceId.slice(SIMPLEPUSH_DEVICE_PREFIX.length);
  return isUuid(uuid) ? uuid.toUpperCase() : undefined;
}

/**
 * The stable UUID a localpush device shows under in the sample's app: derived from the device id by
 * SHA-256 (version nibble 8, RFC 9562 variant), so it survives restarts without being stored.
 */
export function uuidForDevice(deviceId: string): string {
  const sp = simplePushUuidOf(deviceId);
  if (sp !== undefined) return sp;
  const h = createHash('sha256').update(`localpush-device:${deviceId}`).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x80;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex').toUpperCase();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Who a push came from when its payload names nobody (the send API's own pushes). */
const SERVER_SENDER = 'localpush';

interface BridgeCall {
  callId: string;
  /** The SimplePush participant. */
  sp: SpUser;
  /** The localpush participant. */
  peer: { deviceId: string; user: SpUser };
  spIsCaller: boolean;
  state: 'pending' | 'active';
}

/** A SimplePush user's extension, as the delivery engine and the directory see it: a device session. */
class BridgeSession implements PresenceSession {
  readonly sessionId = randomUUID();
  isOpen = true;
  constructor(
    readonly deviceId: string,
    readonly uuid: string,
    private readonly deliver: (session: BridgeSession, push: Push) => void,
  ) {}
  evict(_reason: 'replaced' | 'removed'): void {
    // The sample has no way to be told; the session just stops receiving (the directory dropped it).
    this.isOpen = false;
  }
  /** Handed to the sample's endpoint, which queues on its own: counted as one byte against the window. */
  sendPush(push: Push): number {
    if (!this.isOpen) return 0;
    this.deliver(this, push);
    return 1;
  }
  sendNotice(_notice: Notice): void {
    // The sample has nothing to show a queue notice with.
  }
  get writable(): boolean {
    return this.isOpen;
  }
  /** Its acks reach the engine directly; there is no byte queue here to watch. */
  readonly progress = 0;
  checkReading(): void {
    // The sample's endpoint sends its own keep-alives and closes a silent peer itself.
  }
  dropSlowConsumer(): void {
    // The SimplePush gateway's own ack deadline closes a session that does not acknowledge; delivery to
    // it stops here until it does.
    this.isOpen = false;
  }
}

/**
 * Joins a SimplePush gateway to the delivery engine. Call {@link install} once: it chains the bridge's
 * hooks into the SimplePush gateway and subscribes it to the session directory, so localpush devices
 * show up in the SimplePush directory.
 */
export class SimplePushBridge {
  private readonly gateway: SimplePushGateway;
  private readonly engine: BridgeEngine;
  private readonly presence: SessionDirectory;
  private readonly store: SimplePushBridgeDeps['store'];
  private readonly logger: SimplePushBridgeDeps['logger'];
  private readonly clock: Clock;
  /** Display names of localpush devices (their labels, once read); who is online is the directory's. */
  private readonly names = new Map<string, string>();
  /** Every localpush device UUID handed to the sample so far → device id (small; never pruned). */
  private readonly byUuid = new Map<string, string>();
  /** The bridge session of each SimplePush user whose extension is connected. */
  private readonly sessions = new Map<string, BridgeSession>();
  /** Calls between a SimplePush user and a localpush device, by the SimplePush user's UUID. */
  private readonly calls = new Map<string, BridgeCall>();

  constructor(deps: SimplePushBridgeDeps) {
    this.gateway = deps.gateway;
    this.engine = deps.engine;
    this.presence = deps.presence;
    this.store = deps.store;
    this.logger = deps.logger;
    this.clock = deps.clock;
  }

  /** Chains the bridge's hooks after any the gateway already has, and follows the directory. */
  install(): () => void {
    const hooks = this.gateway.hooks;
    // A copy of the earlier hooks, called as methods of it so that each keeps its `this`.
    const prev = { ...hooks };
    hooks.onSessionOpen = (user, channel) => {
      prev.onSessionOpen?.(user, channel);
      this.spOpened(user, channel);
    };
    hooks.onSessionClose = (user, channel, reason) => {
      prev.onSessionClose?.(user, channel, reason);
      if (reason !== SimplePushErrorCode.REPLACED) this.spClosed(user, channel);
    };
    hooks.onTextMessage = (text) => prev.onTextMessage?.(text) === true || this.spText(text);
    hooks.onCallMessage = (from, message) =>
      prev.onCallMessage?.(from, message) === true || this.spCall(from, message);
    hooks.onResponsiveChange = (user, responsive) => {
      prev.onResponsiveChange?.(user, responsive);
      const call = this.calls.get(user.uuid);
      if (!responsive && call?.state === 'pending' && !call.spIsCaller)
        this.endCall(call, 'unavailable', 'sp');
    };
    const devices: PresenceListener = {
      sessionOpened: (session) => {
        if (!(session instanceof BridgeSession)) this.deviceOpened(session);
      },
      sessionClosed: (session) => {
        if (!(session instanceof BridgeSession)) this.deviceClosed(session);
      },
    };
    return this.presence.subscribe(devices);
  }

  /** Online localpush devices (not SimplePush users), from the directory. */
  private *onlineDevices(): Generator<string> {
    for (const session of this.presence.sessions())
      if (!(session instanceof BridgeSession) && session.isOpen) yield session.deviceId;
  }

  private nameOf(deviceId: string): string {
    return this.names.get(deviceId) ?? deviceId;
  }

  /** Everyone reachable now: responsive SimplePush users, then online localpush devices. */
  directory(): WorldUser[] {
    const users: WorldUser[] = [];
    for (const state of this.gateway.userStates()) {
      if (!state.responsive) continue;
      const { uuid, deviceName } = state.user;
      users.push({ id: simplePushDeviceId(uuid), name: deviceName, kind: 'simplepush', uuid });
    }
    for (const id of this.onlineDevices())
      users.push({ id, name: this.nameOf(id), kind: 'device', uuid: uuidForDevice(id) });
    return users;
  }

  // ── localpush devices ─────────────────────────────────────────────────────────────────────────────

  private deviceOpened(session: DeviceSession): void {
    const id = session.deviceId;
    this.byUuid.set(uuidForDevice(id), id);
    this.publish();
    void this.store.getDevice(id).then(
      (device) => {
        if (this.presence.local(id) === session && device?.label) {
          this.names.set(id, device.label);
          this.publish();
        }
      },
      () => {},
    );
  }

  private deviceClosed(session: DeviceSession): void {
    const id = session.deviceId;
    this.publish();
    for (const call of [...this.calls.values()])
      if (call.peer.deviceId === id) this.endCall(call, 'hangup', 'peer');
  }

  /** Lists the online localpush devices in every SimplePush directory. */
  private publish(): void {
    const users = [...this.onlineDevices()].map((id) => ({
      uuid: uuidForDevice(id),
      deviceName: this.nameOf(id),
    }));
    this.gateway.setBridgedUsers(users);
  }

  private userOf(deviceId: string): SpUser {
    return { uuid: uuidForDevice(deviceId), deviceName: this.nameOf(deviceId) };
  }

  // ── SimplePush users as devices ───────────────────────────────────────────────────────────────────

  private spOpened(user: SpUser, channel: string): void {
    const enrolled = this.ensureDevice(user);
    enrolled.catch((error: unknown) =>
      this.logger?.warn({ err: error, uuid: user.uuid }, 'cannot register the SimplePush user as a device'),
    );
    if (channel !== 'notification') return;
    const old = this.sessions.get(user.uuid);
    if (old) this.closeSession(old);
    const session = new BridgeSession(simplePushDeviceId(user.uuid), user.uuid, (s, p) => this.deliver(s, p));
    this.sessions.set(user.uuid, session);
    // The device must exist before the engine feeds it (submit checks the store, not sessions).
    enrolled.then(
      () => {
        if (session.isOpen) void this.presence.open(session);
      },
      () => {},
    );
  }

  private spClosed(user: SpUser, channel: string): void {
    const call = this.calls.get(user.uuid);
    if (call) this.endCall(call, 'hangup', 'sp');
    if (channel !== 'notification') return;
    const session = this.sessions.get(user.uuid);
    if (session) this.closeSession(session);
  }

  private closeSession(session: BridgeSession): void {
    session.isOpen = false;
    if (this.sessions.get(session.uuid) === session) this.sessions.delete(session.uuid);
    void this.presence.release(session);
  }

  private async ensureDevice(user: SpUser): Promise<void> {
    const id = simplePushDeviceId(user.uuid);
    if ((await this.store.getDevice(id)) !== undefined) return;
    const record: DeviceRecord = {
      id,
      credentialHash: SIMPLEPUSH_NO_CREDENTIAL,
      label: user.deviceName,
      createdAt: this.clock.now(),
    };
    try {
      await this.store.addDevice(record);
    } catch (error) {
      // Both channels register at once; the second add finds the device the first one made.
      if (!(error instanceof StoreError && error.code === ServerErrorCode.STORE_DEVICE_EXISTS)) throw error;
    }
  }

  private ack(session: BridgeSession, push: Push): void {
    const ack: Ack = { type: 'ack', ids: [push.id] };
    this.engine.ackReceived(session, ack);
  }

  /** A push for a SimplePush user: a text for the extension, or a step of a call. */
  private deliver(session: BridgeSession, push: Push): void {
    const payload = asObject(push.payload);
    const from = typeof payload?.from === 'string' ? payload.from : SERVER_SENDER;
    const sender: SpUser = {
      uuid: uuidForDevice(from),
      deviceName: typeof payload?.fromName === 'string' ? payload.fromName : from,
    };
    if (simplePushUuidOf(from) === undefined) this.byUuid.set(sender.uuid, from);
    const call = push.kind === 'call' ? callStep(payload) : undefined;
    if (call) {
      // Call steps are acknowledged at once: a late ring is worse than none, and nothing is redelivered.
      this.ack(session, push);
      this.peerCall(session.uuid, { deviceId: from, user: sender }, call.callId, call.action);
      return;
    }
    const sent = this.gateway.sendText(session.uuid, sender, textOf(push.payload), (outcome) => {
      if (outcome === 'acknowledged') this.ack(session, push);
    });
    if (!sent) this.closeSession(session);
  }

  // ── texts and calls from SimplePush users ─────────────────────────────────────────────────────────

  private spText(text: SimplePushText): boolean {
    const deviceId = this.byUuid.get(text.to.uuid);
    if (deviceId === undefined) return false;
    const payload: ChatTextPayload = {
      from: simplePushDeviceId(text.from.uuid),
      fromName: text.from.deviceName,
      text: text.message,
    };
    this.submit({ deviceId, kind: 'message', payload: { ...payload }, priority: 10 });
    return true;
  }

  private spCall(from: SpUser, message: Extract<SpMessage, { type: 'invite' | 'callAction' }>): boolean {
    const call = this.calls.get(from.uuid);
    const receiver = message.type === 'invite' ? message.routing.receiver : message.receiver;
    const bridged = receiver !== undefined && this.byUuid.has(receiver.uuid);
    const receiverBusy = receiver !== undefined && this.calls.has(receiver.uuid);
    if (message.type === 'invite') {
      // The connect drives a bridged call; its Invite carries nothing more. An Invite to a user in a
      // bridged call must not ring them.
      return call !== undefined || bridged || receiverBusy;
    }
    const action = message.action;
    if (call) {
      if (action === 'connect') {
        if (call.state === 'pending' && !call.spIsCaller) {
          call.state = 'active';
          this.gateway.sendCallActionTo(from.uuid, 'connect', call.peer.user);
          this.pushCall(call, 'connect');
        } else if (receiver !== undefined && receiver.uuid !== call.peer.user.uuid) {
          this.gateway.sendCallActionTo(from.uuid, 'unavailable', receiver);
        }
        return true;
      }
      this.endCall(call, action, 'sp');
      return true;
    }
    if (receiver === undefined || action !== 'connect') return bridged;
    if (!bridged) {
      if (!receiverBusy) return false;
      this.gateway.sendCallActionTo(from.uuid, 'unavailable', receiver);
      return true;
    }
    const deviceId = this.byUuid.get(receiver.uuid) ?? '';
    const peerBusy = [...this.calls.values()].some((c) => c.peer.deviceId === deviceId);
    if (!this.presence.isOnline(deviceId) || peerBusy || this.inSimplePushCall(from.uuid)) {
      this.gateway.sendCallActionTo(from.uuid, 'unavailable', receiver);
      return true;
    }
    const created: BridgeCall = {
      callId: randomUUID(),
      sp: { ...from },
      peer: { deviceId, user: this.userOf(deviceId) },
      spIsCaller: true,
      state: 'pending',
    };
    this.calls.set(from.uuid, created);
    this.pushCall(created, 'invite');
    return true;
  }

  /** A call step from a localpush device to a SimplePush user. */
  private peerCall(uuid: string, peer: BridgeCall['peer'], callId: string, action: ChatCallAction): void {
    const call = this.calls.get(uuid);
    const sp: SpUser = this.gateway.userStates().find((s) => s.user.uuid === uuid)?.user ?? {
      uuid,
      deviceName: uuid,
    };
    if (action === 'invite') {
      const busy = call !== undefined || this.inSimplePushCall(uuid);
      const created: BridgeCall = { callId, sp, peer, spIsCaller: false, state: 'pending' };
      if (busy || !this.gateway.isAvailable(uuid) || !this.gateway.sendInvite(uuid, peer.user)) {
        this.pushCall(created, 'unavailable');
        return;
      }
      this.calls.set(uuid, created);
      return;
    }
    if (call === undefined || call.peer.deviceId !== peer.deviceId) return;
    if (action === 'connect') {
      if (call.state !== 'pending' || !call.spIsCaller) return;
      call.state = 'active';
      this.gateway.sendCallActionTo(uuid, 'connect', call.peer.user);
      return;
    }
    this.endCall(call, action, 'peer');
  }

  /** Whether the user is in a call the gateway keeps (one between two SimplePush users). */
  private inSimplePushCall(uuid: string): boolean {
    return this.gateway.activeCalls().some((c) => c.caller.uuid === uuid || c.receiver.uuid === uuid);
  }

  /** Ends a bridged call that `by` ended, telling the other side `action`. */
  private endCall(call: BridgeCall, action: SpCallActionKind, by: 'sp' | 'peer'): void {
    if (this.calls.get(call.sp.uuid) === call) this.calls.delete(call.sp.uuid);
    const tell = action === 'connect' ? 'hangup' : action;
    if (by === 'sp') this.pushCall(call, tell);
    else this.gateway.sendCallActionTo(call.sp.uuid, tell, call.peer.user);
  }

  /** Pushes a call step from the SimplePush participant to the localpush one. */
  private pushCall(call: BridgeCall, action: ChatCallAction): void {
    const payload: ChatCallPayload = {
      from: simplePushDeviceId(call.sp.uuid),
      fromName: call.sp.deviceName,
      callId: call.callId,
      action,
    };
    // A ring that waited a minute is stale; it is not worth keeping longer.
    const expiration = Math.floor(this.clock.now() / 1000) + 60;
    this.submit({
      deviceId: call.peer.deviceId,
      kind: 'call',
      payload: { ...payload },
      priority: 10,
      expiration,
    });
  }

  private submit(request: SendRequest): void {
    this.engine.submit(request).catch((error: unknown) => {
      this.logger?.warn({ err: error, device: request.deviceId }, 'bridge submit failed');
    });
  }
}

function asObject(value: JsonValue): { [key: string]: JsonValue } | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
}

/** The call step a `kind: 'call'` payload describes, or undefined when it follows no convention. */
function callStep(
  payload: { [key: string]: JsonValue } | undefined,
): { callId: string; action: ChatCallAction } | undefined {
  const action = payload?.action;
  const callId = payload?.callId;
  if (typeof action !== 'string' || typeof callId !== 'string') return undefined;
  return (CHAT_CALL_ACTIONS as readonly string[]).includes(action)
    ? { callId, action: action as ChatCallAction }
    : undefined;
}

/** The text a SimplePush extension shows for any push: the chat text, an alert body, or the JSON. */
export function textOf(payload: JsonValue): string {
  if (typeof payload === 'string') return payload;
  const object = asObject(payload);
  if (typeof object?.text === 'string') return object.text;
  const alert = asObject(object?.alert ?? null);
  if (typeof object?.alert === 'string') return object.alert;
  if (typeof alert?.body === 'string') return alert.body;
  if (typeof object?.body === 'string') return object.body;
  return JSON.stringify(payload);
}
