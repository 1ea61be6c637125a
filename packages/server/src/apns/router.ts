/**
 * Routing of one validated APNs request: to the device's live localpush connection when there is one and
 * it acknowledges in time, else to APNs (when configured), else into the durable queue. The apns-id is
 * the localpush message id throughout, so the same notification is one message in the store, one id in
 * receipts and one push id for the client's duplicate filter, whichever path carried it.
 *
 * Policy (docs/apns.md, "Routing"):
 * - local ack within `ackTimeoutMs` → 200;
 * - no live connection, or no ack in time → the stored message is forwarded to APNs with the same apns-id,
 *   the remaining expiration and the payload bytes untouched; APNs's status and reason are relayed, and a
 *   200 settles the local copy as `fallen_back` (detail `apns:200`);
 * - APNs not configured or unreachable → 200, the message stays queued until its expiration (the local
 *   queue delivers it when the device comes back, as APNs's own store-and-forward would).
 */
import { createHash } from 'node:crypto';
import type { PushKind } from '@localpush/protocol';
import type { DeliveryEngineImpl } from '../core.js';
import type { SendOutcome, SendRequest } from '../core.js';
import { ApnsClientError, type ApnsNotification, type ApnsRoute, type ApnsSendResult } from './client.js';
import type { SessionDirectory } from '../core.js';
import type { ApnsTokenRegistry } from './registry.js';
import type { ApnsEnvironment } from './token-verifier.js';
import {
  bundleIdOf,
  checkTokenTopic,
  inferPushType,
  type ApnsParsedRequest,
  type ApnsPushType,
} from './validate.js';

/** What the router needs to reach APNs: `ApnsClient` satisfies it. */
export interface ApnsSender {
  send(notification: ApnsNotification, route?: ApnsRoute): Promise<ApnsSendResult>;
}

/** The engine operations the router uses. */
export type RouterEngine = Pick<DeliveryEngineImpl, 'submit' | 'submitAndWait' | 'fallBack' | 'status'>;

/** Minimal logger (pino satisfies it). */
export interface RouterLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Which path answered a request. */
export type ApnsRoutePath =
  /** The local device acknowledged it. */
  | 'local'
  /** APNs answered (its status is relayed). */
  | 'apns'
  /** Kept in the local queue: APNs is not configured or unreachable. */
  | 'queued'
  /** Already settled earlier (same apns-id again): answered without sending anything. */
  | 'duplicate'
  /** Expiration 0 (or past) and no live connection: dropped, as APNs drops it. */
  | 'expired'
  /** Refused by the router itself (unknown token, token not for topic). */
  | 'refused';

/** The router's answer: an APNs status, and for errors the reason (+ timestamp for 410). */
export interface ApnsRouteResult {
  readonly status: number;
  readonly reason?: string;
  readonly timestamp?: number;
  readonly path: ApnsRoutePath;
}

/** Dependencies and settings of {@link ApnsRouter}. */
export interface ApnsRouterOptions {
  readonly engine: RouterEngine;
  /** Who is connected (on any node): a device online now is waited for, one offline goes to APNs at once. */
  readonly presence: Pick<SessionDirectory, 'locate'>;
  readonly registry: ApnsTokenRegistry;
  /** The fallback; absent = APNs not configured. */
  readonly apns?: ApnsSender;
  /** How long to wait for the local device's ack before falling back. Default 2000 ms. */
  readonly ackTimeoutMs?: number;
  /** Current time in ms (to recompute the expiration); the engine's clock. */
  readonly now: () => number;
  readonly logger?: RouterLogger;
}

/** APNs push type → localpush kind. Everything without a closer match is a plain message. */
export function kindOfPushType(pushType: ApnsPushType): PushKind {
  if (pushType === 'alert') return 'alert';
  if (pushType === 'voip') return 'call';
  if (pushType === 'pushtotalk') return 'push-to-talk';
  return 'message';
}

/** The localpush message id for an apns-id: lower case, so `ABC…` and `abc…` are one message. */
export function messageIdOf(apnsId: string): string {
  return apnsId.toLowerCase();
}

/** Default wait for the local ack: well under APNs clients' own request timeouts (5 s and more). */
export const DEFAULT_APNS_ACK_TIMEOUT_MS = 2000;

/** Routes validated APNs requests; see the module comment for the policy. */
export class ApnsRouter {
  private readonly ackTimeoutMs: number;

  constructor(private readonly options: ApnsRouterOptions) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_APNS_ACK_TIMEOUT_MS;
  }

  /** Route one request; never throws for routing outcomes (transport failures of APNs included). */
  async route(request: ApnsParsedRequest): Promise<ApnsRouteResult> {
    const { engine, registry, apns } = this.options;
    const registration = await registry.lookup(request.deviceToken);
    if (registration === undefined) {
      // Not a localpush device: with APNs configured this deployment is a transparent front for APNs, so
      // the token may well be a real device elsewhere; without it, APNs's answer for a token it never
      // issued is BadDeviceToken.
      if (apns !== undefined) return this.forwardUnknown(request);
      return { status: 400, reason: 'BadDeviceToken', path: 'refused' };
    }
    const mismatch = checkTokenTopic(registration.bundleId, request);
    if (mismatch !== undefined) return { status: mismatch.status, reason: mismatch.reason, path: 'refused' };

    const send: SendRequest = {
      deviceId: registration.deviceId,
      id: messageIdOf(request.apnsId),
      kind: kindOfPushType(request.pushType),
      payload: request.json as SendRequest['payload'],
      priority: request.priority,
      ...(request.expiration !== undefined ? { expiration: request.expiration } : {}),
      ...(request.collapseId !== undefined ? { collapseId: request.collapseId } : {}),
    };
    let outcome = await this.submit(send);
    if (outcome.status === 'conflict') {
      // APNs does not scope apns-ids: a provider may reuse one for another token or other content, and APNs
      // delivers it. The message then gets an id of its own, derived from the device and the content, so
      // that a retry of that very request is still one message.
      outcome = await this.submit({ ...send, id: scopedMessageId(send, request.payload) });
      if (outcome.status === 'conflict') {
        this.options.logger?.warn(
          { id: request.apnsId },
          'APNs request refused: its derived message id is taken',
        );
        return { status: 500, reason: 'InternalServerError', path: 'refused' };
      }
    }

    if (outcome.status === 'unknown_device') {
      // The registration outlived its device (removed since): the token is as good as unknown.
      if (apns !== undefined) return this.forwardUnknown(request);
      return { status: 400, reason: 'BadDeviceToken', path: 'refused' };
    }
    if (outcome.duplicate) {
      // The same apns-id again (a provider retry, or the other path): never a second copy once settled.
      const existing = await engine.status(outcome.id);
      const state = existing?.message.state;
      if (state !== 'queued' && state !== 'sent') return { status: 200, path: 'duplicate' };
    }
    if (outcome.status === 'delivered') return { status: 200, path: 'local' };
    if (outcome.status === 'expired') {
      // expiration 0 with the device away (or a date already past): APNs itself answers 200 and drops it
      // after one attempt, so it gets that one attempt when configured.
      if (apns === undefined || request.expiration !== 0) return { status: 200, path: 'expired' };
      return this.relay(request, 0, undefined, registration.environment);
    }
    // sent (ack timed out), queued (offline) or timeout: the local path did not deliver in time.
    if (apns === undefined) return { status: 200, path: 'queued' };
    const stored = await engine.status(outcome.id);
    const deadline = stored?.message.expiration ?? request.expiration;
    if (deadline !== undefined && deadline !== 0 && deadline * 1000 <= this.options.now()) {
      return { status: 200, path: 'expired' };
    }
    return this.relay(request, deadline, outcome.id, registration.environment);
  }

  /**
   * Submits to the device's live connection and waits for its ack, or queues when it is offline. Asks
   * the directory where the device is rather than whether this node holds it: on a cluster it may be
   * connected to another node, and a push forwarded to APNs while that node delivers it arrives twice.
   */
  private async submit(send: SendRequest): Promise<SendOutcome> {
    const { engine } = this.options;
    return (await this.options.presence.locate(send.deviceId)) !== undefined
      ? engine.submitAndWait(send, this.ackTimeoutMs)
      : engine.submit(send);
  }

  /**
   * Forward to APNs and relay its answer. `messageId` set: the local copy is settled as fallen_back on
   * APNs's 200; on an error answer it stays queued (APNs judged its own token, not the local connection).
   * `environment`: the one the token was registered for — a production token is unknown to the sandbox
   * and the other way round, so a fallback anywhere else cannot succeed. Absent (a token nobody
   * registered here): the sender's default environment.
   */
  private async relay(
    request: ApnsParsedRequest,
    expiration: number | undefined,
    messageId: string | undefined,
    environment?: ApnsEnvironment,
  ): Promise<ApnsRouteResult> {
    const apns = this.options.apns;
    if (apns === undefined) return { status: 200, path: 'queued' };
    let result: ApnsSendResult;
    try {
      result = await apns.send(
        {
          deviceToken: request.deviceToken,
          topic: request.topic,
          pushType: request.pushType,
          apnsId: request.apnsId,
          expiration,
          priority: request.priority,
          collapseId: request.collapseId,
          payload: request.payload,
        },
        environment === undefined ? {} : { environment },
      );
    } catch (error) {
      if (!(error instanceof ApnsClientError)) throw error;
      // Unreachable APNs is normal on a restricted network: the local queue keeps the message.
      this.options.logger?.warn(
        { id: request.apnsId, code: error.code, maybeDelivered: error.maybeDelivered },
        'APNs fallback failed; the message stays queued',
      );
      // Nothing local holds a token no device registered (or a 0-expiration push): the provider must retry.
      if (messageId === undefined) return { status: 503, reason: 'ServiceUnavailable', path: 'refused' };
      return { status: 200, path: 'queued' };
    }
    if (result.status === 200 && messageId !== undefined) {
      await this.options.engine.fallBack(messageId, 'apns:200');
    }
    if (result.status === 200) return { status: 200, path: 'apns' };
    this.options.logger?.info(
      { id: request.apnsId, status: result.status, reason: result.reason },
      'APNs refused the fallback; relayed',
    );
    return {
      status: result.status,
      ...(result.reason !== undefined ? { reason: result.reason } : {}),
      ...(result.timestamp !== undefined ? { timestamp: result.timestamp } : {}),
      path: 'apns',
    };
  }

  /** A token no local device registered: pass the request to APNs untouched (expiration as sent). */
  private forwardUnknown(request: ApnsParsedRequest): Promise<ApnsRouteResult> {
    return this.relay(request, request.expiration, undefined);
  }
}

/**
 * The message id of an APNs request whose apns-id already names another device's message or other
 * content: the apns-id, `~`, and 22 base64url characters (132 bits) of SHA-256 over the device and
 * everything the id rule compares. 59 characters, within the 128 a message id may have.
 */
export function scopedMessageId(send: SendRequest, payload: Uint8Array): string {
  const digest = createHash('sha256')
    .update(
      JSON.stringify([
        send.deviceId,
        send.kind,
        send.priority,
        send.expiration ?? null,
        send.collapseId ?? null,
      ]),
    )
    .update('\0')
    .update(payload)
    .digest('base64url');
  return `${send.id ?? ''}~${digest.slice(0, 22)}`;
}

/** The bundle id a registration should record for a topic (any push-type suffix removed). */
export function registrationBundleId(topic: string): string {
  return bundleIdOf(topic, inferPushType(topic));
}
