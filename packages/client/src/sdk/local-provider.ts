/**
 * LocalPushProvider: the ready-made provider. It keeps a PushConnection to a localpush server, shows
 * alert and message pushes through a Notifier, hands calls and push-to-talk messages to the app, and on
 * every timer event replaces a connection that went silent (the pattern of Apple's guide).
 *
 * providerConfiguration: `{ url, deviceId, credential, pin?, ca? }` (strings).
 */
import type { JsonValue, Push } from '@localpush/protocol';
import { AppPushError, AppPushErrorCode } from './errors.js';
import type { JsonObject } from './json.js';
import { AppPushProvider, type StopReason } from './provider.js';
import {
  type PushConnection,
  type PushConnectionFactory,
  type PushConnectionOptions,
  connectDeviceClient,
} from './connection.js';
import { type Notification, type Notifier, createDesktopNotifier } from './notifier.js';

/** Options of {@link LocalPushProvider}; the host constructs it without any (real transport, desktop notifier). */
export interface LocalPushProviderOptions {
  /** Opens the connection; default: a DeviceClient. */
  connect?: PushConnectionFactory;
  /** Shows alerts and messages; default: {@link createDesktopNotifier}. */
  notifier?: Notifier;
}

/** The connection settings read from providerConfiguration. */
export type LocalPushSettings = Pick<PushConnectionOptions, 'url' | 'deviceId' | 'credential' | 'pin' | 'ca'>;

/** Reads and checks the settings; configurationInvalid names the missing or mistyped key. */
export function readLocalPushSettings(config: Readonly<JsonObject>): LocalPushSettings {
  const str = (key: string, required: boolean): string | undefined => {
    const v = config[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v === '') {
      throw new AppPushError(
        AppPushErrorCode.configurationInvalid,
        `providerConfiguration.${key} must be a non-empty string`,
      );
    }
    return v;
  };
  const settings: LocalPushSettings = {
    url: str('url', true) ?? '',
    deviceId: str('deviceId', true) ?? '',
    credential: str('credential', true) ?? '',
  };
  const pin = str('pin', false);
  const ca = str('ca', false);
  if (pin !== undefined) settings.pin = pin;
  if (ca !== undefined) settings.ca = ca;
  return settings;
}

/** Turns an alert/message payload into title and body: `{title, body}`, `{alert: {title, body}}` or text. */
export function notificationFromPush(push: Push): Notification {
  const userInfo: JsonObject = { id: push.id, kind: push.kind, payload: push.payload };
  if (push.collapseId !== undefined) userInfo.collapseId = push.collapseId;
  const p = push.payload;
  if (typeof p === 'string') return { title: 'localpush', body: p, userInfo };
  if (typeof p === 'object' && p !== null && !Array.isArray(p)) {
    const alert = p.alert;
    const src: Record<string, JsonValue> =
      typeof alert === 'object' && alert !== null && !Array.isArray(alert) ? alert : p;
    const title = typeof src.title === 'string' ? src.title : 'localpush';
    const body = typeof src.body === 'string' ? src.body : typeof alert === 'string' ? alert : '';
    return { title, body, userInfo };
  }
  return { title: 'localpush', body: JSON.stringify(p), userInfo };
}

/** Counters, for diagnostics and the memory benchmark. */
export interface LocalPushProviderStats {
  pushes: number;
  shown: number;
  calls: number;
  pushToTalk: number;
  expired: number;
  reconnects: number;
}

/** The ready-made provider for localpush servers. */
export class LocalPushProvider extends AppPushProvider {
  /** Counters since construction. */
  readonly stats: LocalPushProviderStats = {
    pushes: 0,
    shown: 0,
    calls: 0,
    pushToTalk: 0,
    expired: 0,
    reconnects: 0,
  };
  private readonly connect: PushConnectionFactory;
  private notifier: Notifier | undefined;
  private connection: PushConnection | undefined;
  private settings: LocalPushSettings | undefined;
  private readonly onConnectionError = (err: unknown): void => this.log('warn', 'connection error', { err });
  private readonly onState = (state: unknown): void => this.log('debug', 'connection state', { state });

  constructor(options: LocalPushProviderOptions = {}) {
    super();
    this.connect = options.connect ?? connectDeviceClient;
    this.notifier = options.notifier;
  }

  /** Reads the settings, opens the connection and starts it; rejects when either fails. */
  override async start(): Promise<void> {
    this.settings = readLocalPushSettings(this.providerConfiguration);
    this.notifier ??= await createDesktopNotifier();
    await this.open(this.settings);
  }

  /** Closes the connection and drops it, so nothing of it keeps this instance reachable. */
  override async stop(reason: StopReason): Promise<void> {
    this.log('info', 'local push provider stopping', { reason });
    await this.close();
  }

  /** The seed's pattern: a connection without a recent heartbeat is dropped and dialled again. */
  override async handleTimerEvent(): Promise<void> {
    const c = this.connection;
    if (c === undefined || !c.isStale(this.clock.now())) return;
    this.stats.reconnects++;
    this.log('info', 'no heartbeat within the interval; reconnecting');
    await c.reconnect();
  }

  /** New url/deviceId/credential/pin/ca: replace the connection; anything else needs no action. */
  override async providerConfigurationDidChange(): Promise<void> {
    const next = readLocalPushSettings(this.providerConfiguration);
    if (JSON.stringify(next) === JSON.stringify(this.settings)) return;
    this.settings = next;
    await this.close();
    await this.open(next);
  }

  private async open(settings: LocalPushSettings): Promise<void> {
    const c = await this.connect({ ...settings, clock: this.clock, onPush: (p) => this.handlePush(p) });
    c.on('connectionError', this.onConnectionError);
    c.on('state', this.onState);
    this.connection = c;
    await c.start();
  }

  private async close(): Promise<void> {
    const c = this.connection;
    this.connection = undefined;
    if (c === undefined) return;
    c.off('connectionError', this.onConnectionError);
    c.off('state', this.onState);
    await c.stop();
  }

  private async handlePush(push: Push): Promise<void> {
    this.stats.pushes++;
    // expiration 0 means "deliver now or never", which is now; otherwise it is UNIX seconds.
    if (push.expiration !== 0 && push.expiration * 1000 < this.clock.now()) {
      this.stats.expired++;
      return;
    }
    switch (push.kind) {
      case 'alert':
      case 'message':
        this.stats.shown++;
        await this.notifier?.show(notificationFromPush(push));
        return;
      case 'call':
        this.stats.calls++;
        this.reportIncomingCall(userInfoOf(push));
        return;
      case 'push-to-talk':
        this.stats.pushToTalk++;
        this.reportPushToTalkMessage(userInfoOf(push));
        return;
    }
  }
}

/** A call's userInfo: the payload when it is an object (as APNs VoIP payloads are), else wrapped. */
function userInfoOf(push: Push): JsonObject {
  const p = push.payload;
  const base: JsonObject =
    typeof p === 'object' && p !== null && !Array.isArray(p) ? { ...p } : { payload: p };
  return { ...base, pushId: push.id };
}
