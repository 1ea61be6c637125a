/**
 * The one conformance suite every SessionDirectory must pass (src/presence/types.ts). A backend's test
 * file calls runPresenceConformance with a factory that makes `nodes` directories sharing one backend
 * (one process each, as far as the contract can tell) and a way to remove it all. A backend that can
 * only be one node (the local directory) says so, and the cross-node tests report themselves skipped.
 *
 * A shared directory may report changes after its promise resolved (pub/sub): every check of what a
 * listener heard waits for it with `eventually`, never a sleep.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Notice, Push } from '@localpush/protocol';
import type { DeviceSession } from '../../src/engine/types.js';
import type {
  PresenceCloseReason,
  PresenceListener,
  PresenceSession,
  SessionDirectory,
} from '../../src/presence/types.js';

export interface PresenceFixture {
  /** Directories of distinct nodes over one backend. */
  readonly nodes: readonly SessionDirectory[];
  cleanup(): Promise<void>;
}

export interface PresenceFactory {
  /** Most nodes the backend can be (1 for a local directory). */
  readonly maxNodes: number;
  /** How long a node's lease lasts without renewal, for the expiry test; null = no leases. */
  readonly leaseMs: number | null;
  create(nodes: number): Promise<PresenceFixture>;
}

let counter = 0;

/** A session that records how the directory ended it. */
export class TestSession implements PresenceSession {
  readonly sessionId = `s${++counter}`;
  isOpen = true;
  readonly evictions: string[] = [];
  constructor(readonly deviceId: string) {}
  sendPush(_push: Push): number {
    return this.isOpen ? 1 : 0;
  }
  sendNotice(_notice: Notice): void {}
  readonly writable = true;
  readonly progress = 0;
  checkReading(): void {}
  dropSlowConsumer(): void {
    this.isOpen = false;
  }
  evict(reason: 'replaced' | 'removed'): void {
    this.evictions.push(reason);
    this.isOpen = false;
  }
}

/** Records what a directory tells its listeners, as `open <session>` / `close <session> <reason>`. */
export class Recorder implements PresenceListener {
  readonly events: string[] = [];
  sessionOpened(session: DeviceSession, resumeThrough: number | undefined): void {
    this.events.push(`open ${session.sessionId}${resumeThrough === undefined ? '' : ` ${resumeThrough}`}`);
  }
  sessionClosed(session: DeviceSession, reason: PresenceCloseReason): void {
    this.events.push(`close ${session.sessionId} ${reason}`);
  }
}

/** Polls `check` until it holds (or `timeoutMs` passes, then fails with the last error). */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/** Registers the conformance tests for one backend under `describe(name)`. */
export function runPresenceConformance(name: string, factory: PresenceFactory): void {
  describe(`${name} presence conformance`, () => {
    let fixture: PresenceFixture | undefined;
    const start = async (nodes = 1): Promise<SessionDirectory[]> => {
      fixture = await factory.create(nodes);
      return [...fixture.nodes];
    };
    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });
    const crossNode = factory.maxNodes < 2 ? `skipped: ${name} is one node` : false;

    it('records an opened session: online, local, located on this node, reported with its resume cursor', async () => {
      const [a] = await start();
      assert.ok(a);
      const heard = new Recorder();
      a.subscribe(heard);
      const s = new TestSession('d1');
      assert.equal(a.isOnline('d1'), false);
      await a.open(s, 7);
      assert.equal(a.isOnline('d1'), true);
      assert.equal(a.local('d1'), s);
      assert.equal(a.size, 1);
      assert.deepEqual([...a.sessions()], [s]);
      const record = await a.locate('d1');
      assert.equal(record?.sessionId, s.sessionId);
      assert.equal(record?.node, a.nodeId);
      await eventually(() => assert.deepEqual(heard.events, [`open ${s.sessionId} 7`]));
    });

    it('lets the newest session win: the older is reported replaced before the newer opens, and evicted', async () => {
      const [a] = await start();
      assert.ok(a);
      const heard = new Recorder();
      a.subscribe(heard);
      const older = new TestSession('d1');
      const newer = new TestSession('d1');
      await a.open(older);
      await a.open(newer);
      assert.equal(a.local('d1'), newer);
      assert.deepEqual(older.evictions, ['replaced']);
      assert.deepEqual(newer.evictions, []);
      await eventually(() =>
        assert.deepEqual(heard.events, [
          `open ${older.sessionId}`,
          `close ${older.sessionId} replaced`,
          `open ${newer.sessionId}`,
        ]),
      );
      // The replaced connection closing later changes nothing.
      await a.release(older);
      assert.equal(a.local('d1'), newer);
      assert.equal(a.isOnline('d1'), true);
      assert.equal(heard.events.length, 3);
    });

    it('takes a released session offline, reporting it closed', async () => {
      const [a] = await start();
      assert.ok(a);
      const heard = new Recorder();
      a.subscribe(heard);
      const s = new TestSession('d1');
      await a.open(s);
      await a.release(s);
      assert.equal(a.isOnline('d1'), false);
      assert.equal(a.local('d1'), undefined);
      assert.equal(a.size, 0);
      assert.equal(await a.locate('d1'), undefined);
      await eventually(() =>
        assert.deepEqual(heard.events, [`open ${s.sessionId}`, `close ${s.sessionId} closed`]),
      );
      await a.release(s);
      assert.equal(heard.events.length, 2, 'a second release is a no-op');
    });

    it('evicts a removed device: reported removed, told to go, offline at once', async () => {
      const [a] = await start();
      assert.ok(a);
      const heard = new Recorder();
      a.subscribe(heard);
      const s = new TestSession('d1');
      await a.open(s);
      assert.equal(await a.evict('d1', 'removed'), true);
      assert.deepEqual(s.evictions, ['removed']);
      assert.equal(a.isOnline('d1'), false);
      assert.equal(await a.evict('d1', 'removed'), false);
      await eventually(() =>
        assert.deepEqual(heard.events, [`open ${s.sessionId}`, `close ${s.sessionId} removed`]),
      );
    });

    it('keeps devices apart, and renewing changes nothing locally visible', async () => {
      const [a] = await start();
      assert.ok(a);
      const one = new TestSession('d1');
      const two = new TestSession('d2');
      await a.open(one);
      await a.open(two);
      a.renew(one);
      await a.release(one);
      assert.equal(a.isOnline('d1'), false);
      assert.equal(a.local('d2'), two);
      assert.equal(a.size, 1);
    });

    it('keeps telling the other listeners when one throws, and stops telling one that unsubscribed', async () => {
      const [a] = await start();
      assert.ok(a);
      const heard = new Recorder();
      const gone = new Recorder();
      a.subscribe({
        sessionOpened() {
          throw new Error('a broken listener');
        },
        sessionClosed() {},
      });
      const unsubscribe = a.subscribe(gone);
      a.subscribe(heard);
      unsubscribe();
      const s = new TestSession('d1');
      await a.open(s);
      await eventually(() => assert.deepEqual(heard.events, [`open ${s.sessionId}`]));
      assert.deepEqual(gone.events, []);
    });

    it(
      'replaces a session on another node: the older node hears it replaced and evicts it',
      { skip: crossNode },
      async () => {
        const [a, b] = await start(2);
        assert.ok(a && b);
        const heardA = new Recorder();
        a.subscribe(heardA);
        const onA = new TestSession('d1');
        const onB = new TestSession('d1');
        await a.open(onA);
        await b.open(onB);
        await eventually(() => assert.deepEqual(onA.evictions, ['replaced']));
        await eventually(() =>
          assert.deepEqual(heardA.events, [`open ${onA.sessionId}`, `close ${onA.sessionId} replaced`]),
        );
        assert.equal(a.local('d1'), undefined);
        assert.equal(b.local('d1'), onB);
        const seenFromA = await a.locate('d1');
        assert.equal(seenFromA?.node, b.nodeId);
        assert.equal(seenFromA?.sessionId, onB.sessionId);
        // The old node's late release must not take the device offline on the new one.
        await a.release(onA);
        assert.equal((await b.locate('d1'))?.sessionId, onB.sessionId);
        await eventually(() => assert.equal(a.isOnline('d1'), true));
      },
    );

    it('evicts a removed device from any node', { skip: crossNode }, async () => {
      const [a, b] = await start(2);
      assert.ok(a && b);
      const onB = new TestSession('d1');
      await b.open(onB);
      assert.equal(await a.evict('d1', 'removed'), true);
      await eventually(() => assert.deepEqual(onB.evictions, ['removed']));
      assert.equal(await b.locate('d1'), undefined);
    });

    it(
      "forgets a node's devices once it stops renewing their leases",
      { skip: factory.leaseMs === null ? `skipped: ${name} has no leases` : crossNode },
      async () => {
        const [a, b] = await start(2);
        assert.ok(a && b);
        await a.open(new TestSession('d1'));
        await a.close();
        await eventually(
          async () => assert.equal(await b.locate('d1'), undefined),
          (factory.leaseMs ?? 0) * 3,
        );
      },
    );
  });
}
