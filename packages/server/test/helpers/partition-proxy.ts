/**
 * A TCP proxy on loopback that can be switched to a silent partition: every byte in both directions is
 * discarded and no close is passed on, while both sockets stay open — what a device sees when its Wi-Fi
 * roams, a NAT box forgets the mapping, or a cable is pulled somewhere between it and the server. Nothing
 * is refused or reset, so neither side learns anything from the network itself; only timers can tell.
 *
 * `partition()` kills every connection through the proxy for good (its path state is gone, as after a
 * NAT reboot: healing does not revive it), and connections accepted while partitioned are held open and
 * silent forever too. `heal()` lets new connections through again. It speaks TCP only, so it carries TLS,
 * plain frames and WebSocket alike.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

interface Pair {
  readonly down: Socket;
  up: Socket | undefined;
  /** Silent for good: bytes in either direction are dropped, closes are not passed on. */
  dead: boolean;
}

export class PartitionProxy {
  private readonly pairs = new Set<Pair>();
  private partitioned = false;
  /** Bytes discarded, client → server and server → client. */
  readonly dropped = { up: 0, down: 0 };
  /** Connections accepted so far (for "a new attempt was made" checks). */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /** A proxy on 127.0.0.1 (port 0) in front of `target`. */
  static async start(target: { host?: string; port: number }): Promise<PartitionProxy> {
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    const proxy = new PartitionProxy(server, { host: target.host ?? '127.0.0.1', port: target.port });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  /** The proxy's port: point clients here. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Whether the link is down now. */
  get isPartitioned(): boolean {
    return this.partitioned;
  }

  /** Blackholes the link: every open connection goes silent for good, and so does every new one. */
  partition(): void {
    this.partitioned = true;
    for (const pair of this.pairs) this.kill(pair);
  }

  /** Restores the link for connections opened from now on. */
  heal(): void {
    this.partitioned = false;
  }

  /** Destroys every socket and stops listening. */
  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.down.destroy();
      pair.up?.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(down: Socket): void {
    this.accepted += 1;
    const pair: Pair = { down, up: undefined, dead: false };
    this.pairs.add(pair);
    down.on('error', () => {});
    down.on('close', () => {
      this.pairs.delete(pair);
      if (!pair.dead) pair.up?.destroy();
    });
    if (this.partitioned) {
      this.kill(pair);
      return;
    }
    const up = connect({
      host: this.target.host,
      port: this.target.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    pair.up = up;
    up.on('error', () => {});
    up.on('close', () => {
      if (!pair.dead) down.destroy();
    });
    this.forward(pair, down, up, 'up');
    this.forward(pair, up, down, 'down');
  }

  /** Copies `from` to `to` while the pair is alive, with back-pressure, passing on the end of stream. */
  private forward(pair: Pair, from: Socket, to: Socket, direction: 'up' | 'down'): void {
    from.on('data', (chunk: Buffer) => {
      if (pair.dead) {
        this.dropped[direction] += chunk.length;
        return;
      }
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!pair.dead) from.resume();
    });
    from.on('end', () => {
      if (!pair.dead) to.end();
    });
  }

  private kill(pair: Pair): void {
    pair.dead = true;
    // Keep reading (and discarding) so that the peers' writes are swallowed as a black hole would.
    pair.down.resume();
    pair.up?.resume();
  }
}
