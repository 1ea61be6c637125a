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
        // Only the two events the latency needs: a third less for the server to write and for this
        // process (which shares the cores with the server) to parse.
        path: '/v1/receipts/stream?events=accepted,acked',
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
          // Scan the chunk with indexes and cut the buffer once: re-slicing it after every event made
          // this loop quadratic in the size of a chunk, and a full-speed run delivers large ones.
          let at = 0;
          let end: number;
          while ((end = buffer.indexOf('\n\n', at)) >= 0) {
            let line = at;
            while (line < end) {
              const lineEnd = buffer.indexOf('\n', line);
              const stop = lineEnd < 0 || lineEnd > end ? end : lineEnd;
              if (buffer.startsWith('data: ', line)) {
                onReceipt(JSON.parse(buffer.slice(line + 6, stop)) as Receipt);
              }
              line = stop + 1;
            }
            at = end + 2;
          }
          buffer = buffer.slice(at);
        });
      },
    );
    req.on('error', (error) => reject(error));
    req.end();
  });
}
