/**
 * A device side written directly on the codec, for gateway tests that must send exactly the bytes they
 * choose (garbage, oversize frames, wrong order) and read every frame the server answers.
 */
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  FrameDecoder,
  decodeServerMessage,
  encodeMessage,
  frame,
  type ServerMessage,
} from '@localpush/protocol';

export class RawPeer {
  readonly received: ServerMessage[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(16 * 1024 * 1024);
  private waiters: (() => void)[] = [];

  constructor(readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      for (const payload of this.decoder.push(chunk)) this.received.push(decodeServerMessage(payload));
      this.wake();
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      this.closed = true;
      this.wake();
    });
    stream.on('end', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(message: object): void {
    this.stream.write(frame(encodeMessage(message as never)));
  }

  sendBytes(bytes: Uint8Array): void {
    this.stream.write(bytes);
  }

  /** Resolves with the first received message of `type` not yet taken, waiting for it when needed. */
  async next<T extends ServerMessage['type']>(type: T): Promise<Extract<ServerMessage, { type: T }>> {
    for (;;) {
      const index = this.received.findIndex((m) => m.type === type);
      if (index >= 0) return this.received.splice(index, 1)[0] as Extract<ServerMessage, { type: T }>;
      if (this.closed) throw new Error(`connection closed before a "${type}" arrived`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves once the server closed the connection. */
  async untilClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  async hello(deviceId: string, credential: string, extra: object = {}): Promise<void> {
    this.send({ type: 'hello', version: 1, deviceId, credential, capabilities: [], ...extra });
    await this.next('welcome');
  }
}

export { once };
