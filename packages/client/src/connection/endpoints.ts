/**
 * Which server the next connection attempt goes to. A client may be given several endpoints (the nodes
 * of a cluster) and an endpoint's host name may resolve to several addresses; the client walks them in
 * its own random order, so that when one node dies its devices spread over the others instead of all
 * landing on the same "next" one. Failing over to the next target is immediate; the back-off is waited
 * only after a full round of targets failed without one welcome, which is the decision the rotation
 * reports to the client.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ClientError, ClientErrorCode } from './errors.js';
import { parseServerUrl, type ServerUrl } from './transports.js';

/** Resolves a host name to every address it has; default `dns.lookup(host, { all: true })`. */
export type HostLookup = (hostname: string) => Promise<string[]>;

/** The system resolver, all addresses (IPv4 and IPv6, in the resolver's order). */
export const systemLookup: HostLookup = async (hostname) =>
  (await dnsLookup(hostname, { all: true })).map((entry) => entry.address);

/** One concrete place to dial: a server URL and, for a host name on tls/tcp, one of its addresses. */
export interface Target {
  url: ServerUrl;
  /** The address to connect to instead of resolving `url.host` again; the name stays for TLS. */
  address?: string;
}

/**
 * The endpoints of a client from its `url` / `urls` options, parsed; a ClientError
 * (`LP_CLIENT_ENDPOINTS_INVALID`, or `LP_CLIENT_BAD_URL` naming the bad one) otherwise.
 */
export function parseEndpoints(url: string | undefined, urls: readonly string[] | undefined): ServerUrl[] {
  if (url !== undefined && urls !== undefined) {
    throw new ClientError(ClientErrorCode.ENDPOINTS_INVALID, 'give either url or urls, not both');
  }
  const list = urls ?? (url === undefined ? [] : [url]);
  if (!Array.isArray(list) || list.length === 0) {
    throw new ClientError(ClientErrorCode.ENDPOINTS_INVALID, 'no server: give url or a non-empty urls list');
  }
  const parsed = list.map((href: unknown, index) => {
    if (typeof href !== 'string') {
      throw new ClientError(ClientErrorCode.BAD_URL, `urls[${index}] is not a string`);
    }
    return parseServerUrl(href);
  });
  const seen = new Set<string>();
  for (const endpoint of parsed) {
    const key = `${endpoint.scheme}://${endpoint.host}:${endpoint.port}`;
    if (seen.has(key)) {
      throw new ClientError(ClientErrorCode.ENDPOINTS_INVALID, `${endpoint.href} is listed twice`);
    }
    seen.add(key);
  }
  return parsed;
}

/** A copy of `items` in random order (Fisher–Yates with the given source of randomness). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    const swap = out[i] as T;
    out[i] = out[j] as T;
    out[j] = swap;
  }
  return out;
}

/** True when dialling `url` means resolving a name the rotation should expand into its addresses. */
function expands(url: ServerUrl): boolean {
  // A WebSocket resolves its own URL (and sends the name as Host), so ws/wss endpoints stay one target.
  return (url.scheme === 'tls' || url.scheme === 'tcp') && isIP(url.host) === 0;
}

/**
 * The client's walk over its endpoints. `target()` is where to dial now (resolving a name the first
 * time the walk reaches it in a round); `failed()` moves on and says whether a full round is over;
 * `connected()` marks a welcome, after which the next failure starts a new round.
 */
export class EndpointRotation {
  private readonly order: ServerUrl[];
  private index = 0;
  /** Addresses of the endpoint at `index` still to try in this round, when it is a name. */
  private addresses: string[] | undefined;
  /** Targets that failed since the last welcome (or the start of the round). */
  private failures = 0;
  /** A goaway redirect: dialled once, next, before the rotation resumes. */
  private redirect: ServerUrl | undefined;
  /** How many addresses each name resolved to, last time. */
  private readonly resolvedCount = new Map<string, number>();

  constructor(
    endpoints: readonly ServerUrl[],
    private readonly random: () => number,
    private readonly lookup: HostLookup = systemLookup,
  ) {
    this.order = shuffled(endpoints, random);
  }

  /** The endpoint being dialled (or last dialled), for messages and `currentUrl`. */
  get current(): ServerUrl {
    return this.redirect ?? (this.order[this.index] as ServerUrl);
  }

  /** Every endpoint, in this client's order. */
  get endpoints(): readonly ServerUrl[] {
    return this.order;
  }

  /** Where to dial now; a host name on tls/tcp is resolved here (a ClientError when it cannot be). */
  async target(): Promise<Target> {
    const url = this.current;
    if (this.redirect !== undefined || !expands(url)) return { url };
    if (this.addresses === undefined || this.addresses.length === 0) {
      let resolved: string[];
      try {
        resolved = await this.lookup(url.host);
      } catch (cause) {
        throw new ClientError(
          ClientErrorCode.CONNECT_FAILED,
          `could not resolve ${url.host} for ${url.href}: ${(cause as Error).message}`,
          { cause },
        );
      }
      if (resolved.length === 0) {
        throw new ClientError(ClientErrorCode.CONNECT_FAILED, `${url.host} resolved to no address`);
      }
      // Random order: every device given one name would otherwise start on the resolver's first address.
      this.addresses = shuffled([...new Set(resolved)], this.random);
      this.resolvedCount.set(url.href, this.addresses.length);
    }
    return { url, address: this.addresses[0] as string };
  }

  /** A goaway pointed elsewhere: the next attempt goes there, and the walk resumes after it. */
  redirectTo(url: ServerUrl): void {
    this.redirect = url;
  }

  /** The client was welcomed where it dialled: the next failure begins a new round. */
  connected(): void {
    this.failures = 0;
  }

  /**
   * The current target failed (or asked the client to leave): move to the next one. Returns true when
   * that completed a round — every target tried since the last welcome — so the back-off applies.
   */
  failed(): boolean {
    if (this.redirect !== undefined) {
      // The redirect was a detour, not one of the endpoints: the walk resumes where it was.
      this.redirect = undefined;
      return false;
    }
    this.failures++;
    this.addresses?.shift();
    if (this.addresses === undefined || this.addresses.length === 0) {
      this.addresses = undefined;
      this.index = (this.index + 1) % this.order.length;
    }
    if (this.failures < this.roundSize()) return false;
    this.failures = 0;
    return true;
  }

  /**
   * Targets in a round: every endpoint, a name counted once per address it resolved to last time (once
   * before it was resolved).
   */
  private roundSize(): number {
    let size = 0;
    for (const url of this.order) size += expands(url) ? (this.resolvedCount.get(url.href) ?? 1) : 1;
    return size;
  }
}
