/**
 * `localpush demo` end to end: two people in headless Chromium (driven by playwright-core) join, see each
 * other and a SimplePush user in the directory, chat with ✓✓ receipts, and place, answer and hang up a
 * call. Skipped when playwright-core or Chromium is missing. With LOCALPUSH_DEMO_SCREENSHOT=<path> it also
 * writes the two windows side by side as a PNG (that is how docs/demo.png is made).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type * as Playwright from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { startDemo, type RunningDemo } from '../../src/cli/demo.js';
import { simplePushDeviceId } from '../../src/simplepush/bridge.js';
import { SimplePushTestClient, connectSimplePush } from '../../src/simplepush/test-client.js';

const CHROMIUM = process.env.LOCALPUSH_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** playwright-core, when installed; the test is skipped otherwise (it is a dev dependency only). */
async function loadPlaywright(): Promise<typeof Playwright | undefined> {
  try {
    return await import('playwright-core');
  } catch {
    return undefined;
  }
}

async function join(browser: Browser, url: string, name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 760, height: 540 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on('pageerror', (error) => assert.fail(`page error in ${name}'s window: ${error.message}`));
  await page.goto(url);
  await page.fill('#name', name);
  await page.click('#join-form button');
  await page.locator('#link.online').waitFor();
  return page;
}

const person = (page: Page, name: string) => page.locator('#people li', { hasText: name });

describe('localpush demo in the browser', () => {
  it('two people chat with receipts and call each other; a SimplePush user is in the same world', async (t) => {
    const playwright = await loadPlaywright();
    if (playwright === undefined || !existsSync(CHROMIUM)) {
      t.skip('skipped: playwright-core or Chromium not installed');
      return;
    }
    let demo: RunningDemo | undefined;
    let browser: Browser | undefined;
    const carol = { uuid: randomUUID().toUpperCase(), deviceName: 'Carol’s iPhone' };
    const clients: SimplePushTestClient[] = [];
    try {
      demo = await startDemo({
        host: '127.0.0.1',
        apiPort: 0,
        wsPort: 0,
        simplepush: { controlPort: 0, notificationPort: 0 },
      });
      const sp = demo.server.simplepush;
      assert.ok(sp);
      // Carol uses the SimplePush sample app (played by the test client): extension, then app.
      for (const [role, port] of [
        ['extension', sp.listener.notification.port],
        ['app', sp.listener.control.port],
      ] as const) {
        const client = new SimplePushTestClient({
          role,
          user: carol,
          connect: () => connectSimplePush({ host: '127.0.0.1', port, pin: sp.pin }),
        });
        clients.push(client);
        client.start();
        await client.until(() => client.registered);
      }
      const carolApp = clients[1];
      assert.ok(carolApp);

      browser = await playwright.chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_FLAGS,
      });
      const alice = await join(browser, demo.url, 'Alice');
      const bob = await join(browser, demo.url, 'Bob');

      // The directory: each sees the other and Carol, a SimplePush user.
      await person(alice, 'Bob').waitFor();
      await person(alice, 'Carol').locator('.tag', { hasText: 'SimplePush' }).waitFor();
      await person(bob, 'Alice').waitFor();

      // Alice writes to Bob; Bob's page acks the push, so Alice sees ✓✓.
      await person(alice, 'Bob').click();
      await alice.fill('#text', 'Hi Bob! Lunch at noon?');
      await alice.press('#text', 'Enter');
      await alice.locator('#messages li.mine .receipt[data-receipt="acked"]').waitFor();
      assert.equal(await alice.locator('#messages li.mine .receipt').innerText(), '✓✓');
      await person(bob, 'Alice').locator('.unread').waitFor();
      await person(bob, 'Alice').click();
      await bob.locator('#messages li.theirs', { hasText: 'Lunch at noon?' }).waitFor();
      await bob.fill('#text', 'Sure, see you there!');
      await bob.press('#text', 'Enter');
      await alice.locator('#messages li.theirs', { hasText: 'see you there' }).waitFor();
      await bob.locator('#messages li.mine .receipt[data-receipt="acked"]').waitFor();

      // Carol, on the SimplePush sample, texts Alice through the bridge.
      const aliceEntry = carolApp.directoryUsers.find((u) => u.deviceName === 'Alice');
      await carolApp.untilDirectory((users) => users.some((u) => u.deviceName === 'Alice'));
      const aliceUser = aliceEntry ?? carolApp.directoryUsers.find((u) => u.deviceName === 'Alice');
      assert.ok(aliceUser);
      await carolApp.sendText(aliceUser, 'Hello from SimplePush');
      await person(alice, 'Carol').locator('.unread').waitFor();

      // Alice calls Bob; Bob answers; both are in the call; Alice hangs up.
      await alice.click('#call-button');
      await bob.locator('#call[data-phase="incoming"]').waitFor();
      assert.match(await bob.locator('#call-text').innerText(), /Alice is calling/);
      await bob.click('#answer');
      await bob.locator('#call[data-phase="active"]').waitFor();
      await alice.locator('#call[data-phase="active"]').waitFor();
      assert.match(await alice.locator('#call-text').innerText(), /In call with Bob/);

      const shots = process.env.LOCALPUSH_DEMO_SCREENSHOT;
      if (shots !== undefined && shots !== '') {
        await alice.waitForTimeout(2_100); // let the call timer run a little
        const [a, b] = await Promise.all([alice.screenshot(), bob.screenshot()]);
        const sheet = await (await browser.newContext({ viewport: { width: 1560, height: 600 } })).newPage();
        const img = (png: Buffer, who: string): string =>
          `<figure><img src="data:image/png;base64,${png.toString('base64')}"><figcaption>${who}’s browser</figcaption></figure>`;
        await sheet.setContent(
          `<body style="margin:0;padding:16px;display:flex;gap:24px;background:#d9dde3;font:13px system-ui">` +
            `<style>figure{margin:0}img{display:block;border-radius:8px;box-shadow:0 2px 10px #0003}` +
            `figcaption{text-align:center;color:#374151;padding-top:8px}</style>` +
            `${img(a, 'Alice')}${img(b, 'Bob')}</body>`,
        );
        await writeFile(shots, await sheet.screenshot({ fullPage: true }));
      }

      await alice.click('#hangup');
      await bob
        .locator('#call[data-phase="active"]')
        .waitFor({ state: 'detached', timeout: 1 })
        .catch(() => {});
      await bob.locator('#messages li.event', { hasText: 'Alice hung up' }).waitFor();
      assert.equal(await bob.locator('#call').isHidden(), true);

      // The demo's devices are ordinary devices of the server.
      const devices = await demo.server.store.listDevices();
      assert.ok(devices.some((d) => d.label === 'Alice'));
      assert.ok(devices.some((d) => d.id === simplePushDeviceId(carol.uuid)));
    } finally {
      for (const client of clients) client.close();
      await browser?.close();
      await demo?.close();
    }
  });
});
