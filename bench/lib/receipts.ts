/**
 * The server's receipt feed (GET /v1/receipts/stream, Server-Sent Events). Latency is taken from the
 * receipts' own `at` times — `accepted` when the API committed the message, `acked` when the device's ack
 * reached the server — so it measures the server's view end to end, not the bench process's scheduling.
 */
import { request, type ClientRequest } from 'node:http';

export interface Receipt {
  id: string;
  device: string;
  event: string;
  at: number;
}

export interface ReceiptFeed {
  close(): void;
  /** True once the server ended the feed (it drops a reader that falls 4 MiB behind). */
  readonly lost: boolean;
}

/** Opens the feed and resolves once the server sent its first line (the subscription is live). */
export function openReceiptFeed(
  apiPort: number,
  providerKey: string,
  onReceipt: (receipt: Receipt) => void,
): Promise<ReceiptFeed> {
  return new Promise((resolve, reject) => {
    let req: ClientRequest | undefined = undefined;
    req = request(
      {
        host: '127.0.0.1',
        port: apiPort,
        path: '/v1/receipts/stream',
        headers: { authorization: `Bearer ${providerKey}`, accept: 'text/event-stream' },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`receipt stream: HTTP ${res.statusCode ?? '?'}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        let live = false;
        let closing = false;
        const feed = {
          lost: false,
          close: () => {
            closing = true;
            req?.destroy();
          },
        };
        res.on('close', () => {
          if (!closing) feed.lost = true;
        });
        res.on('data', (chunk: string) => {
          if (!live) {
            live = true;
            resolve(feed);
          }
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            for (const line of event.split('\n')) {
              if (line.startsWith('data: ')) onReceipt(JSON.parse(line.slice(6)) as Receipt);
            }
          }
        });
      },
    );
    req.on('error', (error) => reject(error));
    req.end();
  });
}
