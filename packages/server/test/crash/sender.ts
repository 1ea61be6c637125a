/**
 * The application server of the crash test: posts a fixed set of messages through the HTTP API, single
 * pushes and batches, from several concurrent workers, and records which ids got a 2xx. When the server
 * dies under it, a request's ids are not accepted (no answer came); half of such requests are given up
 * for good, the other half are retried with the same ids once the server is back — the retry the API
 * documents as safe — so the test also sees what a crash does to idempotency. A 503 (the store's Redis
 * is down) counts as such a failure too: the cluster tests crash Redis instead of the server.
 */
import { apiRequest, deferred, type Deferred } from './harness.js';

/** One request's worth of messages. */
export interface Chunk {
  readonly index: number;
  readonly ids: readonly string[];
  /** POST /v1/push/batch, else POST /v1/push with one message. */
  readonly batch: boolean;
  /** After a failure: retry with the same ids once the server is back, or give the ids up. */
  readonly retry: boolean;
}

/** Splits `total` messages into singles and batches of 2–40, in a seeded random mix. */
export function planChunks(total: number, random: () => number): Chunk[] {
  const chunks: Chunk[] = [];
  for (let n = 0; n < total;) {
    const size = random() < 0.5 ? 1 : Math.min(total - n, 2 + Math.floor(random() * 39));
    const ids = Array.from({ length: size }, (_, i) => `m${n + i}`);
    chunks.push({ index: chunks.length, ids, batch: size > 1, retry: chunks.length % 2 === 0 });
    n += size;
  }
  return chunks;
}

export interface SenderOptions {
  apiPort: number;
  providerKey: string;
  deviceId: string;
  concurrency: number;
  /** Called for each id the API accepted (2xx), with the seq it answered and whether it was a duplicate. */
  onAccepted: (id: string, seq: number, duplicate: boolean) => void;
  /** Called after each 2xx answer was recorded; the test pulls the trigger from here. */
  onAnswer: () => void;
}

interface SendResult {
  device: string;
  id: string;
  status: string;
  duplicate: boolean;
  seq?: number;
}

export class Sender {
  /** Ids answered 2xx, with the seq of the answer. */
  readonly accepted = new Map<string, number>();
  /** Ids that went out in at least one request. */
  readonly posted = new Set<string>();
  /** Ids of failed requests that were given up (never answered 2xx). */
  readonly abandoned = new Set<string>();
  /** Ids whose retry answered `duplicate: true`: stored before the crash although no answer came back. */
  readonly committedWithoutAnswer = new Set<string>();
  /** Connection failures by socket error code. */
  readonly failures = new Map<string, number>();
  /** Requests on the wire right now. */
  readonly outstanding = new Set<Chunk>();
  private readonly options: SenderOptions;
  private readonly chunks: Chunk[];
  private next = 0;
  private down = false;
  private epoch = 0;
  private up: Deferred<void> = deferred();
  private stopped = false;

  constructor(chunks: Chunk[], options: SenderOptions) {
    this.chunks = chunks;
    this.options = options;
    this.up.resolve();
  }

  /** Runs every chunk; rejects on anything but the connection failures a crash explains. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.options.concurrency }, () => this.worker()));
  }

  /** Called synchronously right before the kill, so every failure from here on is known to be the crash's. */
  serverDown(): void {
    this.down = true;
    this.epoch++;
    this.up = deferred();
  }

  /** The restarted server listens on the same ports: retries may go. */
  serverUp(): void {
    this.down = false;
    this.up.resolve();
  }

  /** Makes the workers finish after their current request (clean-up after a failure). */
  stop(): void {
    this.stopped = true;
    this.up.resolve();
  }

  private async worker(): Promise<void> {
    while (!this.stopped) {
      const chunk = this.chunks[this.next++];
      if (chunk === undefined) return;
      await this.send(chunk);
    }
  }

  private async send(chunk: Chunk): Promise<void> {
    const { apiPort, providerKey, deviceId } = this.options;
    const messages = chunk.ids.map((id) => ({ to: deviceId, id, kind: 'message', payload: { id } }));
    for (let attempt = 1; !this.stopped; attempt++) {
      const epoch = this.epoch;
      const downAtStart = this.down;
      for (const id of chunk.ids) this.posted.add(id);
      this.outstanding.add(chunk);
      let outcome = chunk.batch
        ? await apiRequest(apiPort, providerKey, 'POST', '/v1/push/batch', { messages })
        : await apiRequest(apiPort, providerKey, 'POST', '/v1/push', messages[0]);
      this.outstanding.delete(chunk);
      // The store (Redis) being down is an outage like the server being down: 503, nothing accepted.
      if (outcome.kind === 'answer' && outcome.status === 503) {
        outcome = { kind: 'connection-error', code: 'HTTP_503' };
      }
      if (outcome.kind === 'answer') {
        if (outcome.status !== 200) {
          throw new Error(`chunk ${chunk.index}: HTTP ${outcome.status} ${JSON.stringify(outcome.body)}`);
        }
        this.record(chunk, outcome.body, attempt);
        this.options.onAnswer();
        return;
      }
      this.failures.set(outcome.code, (this.failures.get(outcome.code) ?? 0) + 1);
      // Only the crash may cost an answer: a failure of a request that started and ended while the
      // server was up is a bug.
      if (!downAtStart && !this.down && epoch === this.epoch) {
        throw new Error(`chunk ${chunk.index}: ${outcome.code} while the server was up`);
      }
      if (attempt >= 4) throw new Error(`chunk ${chunk.index}: still failing after ${attempt} attempts`);
      if (!chunk.retry) {
        for (const id of chunk.ids) this.abandoned.add(id);
        return;
      }
      // One more try during the outage (refused, as a real sender sees it), then wait for the restart.
      if (attempt === 1 && this.down) continue;
      await this.up.promise;
    }
  }

  private record(chunk: Chunk, body: unknown, attempt: number): void {
    const results = (body as { results?: SendResult[] } | null)?.results ?? [];
    if (results.length !== chunk.ids.length) {
      throw new Error(`chunk ${chunk.index}: ${results.length} results for ${chunk.ids.length} messages`);
    }
    results.forEach((result, i) => {
      const id = chunk.ids[i];
      const fine = ['sent', 'queued', 'delivered'].includes(result.status);
      if (result.id !== id || result.device !== this.options.deviceId || !fine || result.seq === undefined) {
        throw new Error(`chunk ${chunk.index}: unexpected result ${JSON.stringify(result)} for ${id}`);
      }
      // Fresh ids cannot be duplicates on a first attempt; on a retry a duplicate is the in-doubt case.
      if (result.duplicate && attempt === 1) throw new Error(`fresh id ${id} answered as a duplicate`);
      if (result.duplicate) this.committedWithoutAnswer.add(id);
      this.accepted.set(id, result.seq);
      this.options.onAccepted(id, result.seq, result.duplicate);
    });
  }
}
