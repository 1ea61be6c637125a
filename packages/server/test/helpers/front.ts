/**
 * A TCP front for several nodes, as a site's load balancer would be: each accepted connection is passed,
 * bytes untouched (TLS end to end), to the next node in turn that accepts a connection; a node that
 * refuses (killed) is skipped. When either side closes, so does the other, so a device whose node died
 * sees its connection end and dials the front again. Loopback only; closed by the test.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Front {
  readonly port: number;
  /** Which node (index into the ports) each open connection went to. */
  readonly routed: Map<Socket, number>;
  close(): Promise<void>;
}

export async function startFront(ports: readonly number[]): Promise<Front> {
  let next = 0;
  const routed = new Map<Socket, number>();
  const open = new Set<Socket>();
  const dial = (client: Socket, tries: number): void => {
    if (tries >= ports.length || client.destroyed) {
      client.destroy();
      return;
    }
    const index = next++ % ports.length;
    const upstream = connect(ports[index] ?? 0, '127.0.0.1');
    open.add(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      routed.set(client, index);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    let retried = false;
    upstream.on('error', () => {
      if (connected || retried) return;
      retried = true;
      dial(client, tries + 1);
    });
    upstream.once('close', () => {
      open.delete(upstream);
      if (connected) client.destroy();
    });
    client.once('close', () => {
      routed.delete(client);
      upstream.destroy();
    });
  };
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    open.add(client);
    client.on('error', () => {});
    client.once('close', () => open.delete(client));
    dial(client, 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    routed,
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
