/**
 * `localpush demo` end to end, in headless Chromium driven by playwright-core: on a desktop window two
 * people join, see each other and a SimplePush user, chat with ✓✓ receipts, and place, answer and hang up
 * a call; on a 390 px phone the same page fits the screen (no sideways scrolling, a usable message box, the
 * Call and call buttons in view) and loads without a console error. Skipped when playwright-core or
 * Chromium is missing. With LOCALPUSH_DEMO_SCREENSHOTS=<dir> it also writes docs' pictures there:
 * demo.png (two desktop windows side by side) and demo-phone.png (two phones).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startDemo, type RunningDemo } from '../../src/demo.js';
import { simplePushDeviceId } from '@localpush/server';
import { SimplePushTestClient, connectSimplePush } from '@localpush/server/testing';
import {
  CHROMIUM,
  joinDemo,
  layoutOf,
  loadPlaywright,
  legibilityOf,
  screenshotSheet,
  type JoinedPage,
} from './browser.js';

const person = (page: Page, name: string) => page.locator('#people li', { hasText: name });
const shotsDir = process.env.LOCALPUSH_DEMO_SCREENSHOTS;

/** The ✓✓ must be readable: normal text size and WCAG AA contrast against the bubble it sits on. */
async function assertLegibleReceipt(page: Page): Promise<void> {
  const selector = '#messages li.mine .receipt[data-receipt="acked"]';
  const receipt = page.locator(selector).last();
  await receipt.waitFor();
  assert.equal(await receipt.innerText(), '✓✓');
  const { fontSizePx, contrast } = await legibilityOf(page, selector);
  assert.ok(fontSizePx >= 13, `the ✓✓ is ${fontSizePx} px; at least 13 px expected`);
  assert.ok(contrast >= 4.5, `the ✓✓ has a contrast of ${contrast.toFixed(2)}:1; at least 4.5:1 expected`);
}

describe('localpush demo in the browser', () => {
  let demo: RunningDemo | undefined;
  let browser: Browser | undefined;
  let skip: string | undefined;
  const clients: SimplePushTestClient[] = [];
  const carol = { uuid: randomUUID().toUpperCase(), deviceName: 'Carol’s iPhone' };

  before(async () => {
    const playwright = await loadPlaywright();
    if (playwright === undefined || !existsSync(CHROMIUM)) {
      skip = 'skipped: playwright-core or Chromium not installed';
      return;
    }
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
    browser = await playwright.chromium.launch({ executablePath: CHROMIUM, headless: true });
  });

  after(async () => {
    for (const client of clients) client.close();
    await browser?.close();
    await demo?.close();
  });

  it('two people chat with receipts and call each other; a SimplePush user is in the same world', async (t) => {
    if (skip !== undefined || demo === undefined || browser === undefined) return t.skip(skip);
    const carolApp = clients[1];
    assert.ok(carolApp);
    const { page: alice } = await joinDemo(browser, demo.url, 'Alice', 'desktop');
    const { page: bob } = await joinDemo(browser, demo.url, 'Bob', 'desktop');

    // The directory: each sees the other and Carol, a SimplePush user.
    await person(alice, 'Bob').waitFor();
    await person(alice, 'Carol').locator('.tag', { hasText: 'SimplePush' }).waitFor();
    await person(bob, 'Alice').waitFor();

    // Alice writes to Bob; Bob's page acks the push, so Alice sees ✓✓.
    await person(alice, 'Bob').click();
    await alice.fill('#text', 'Hi Bob! Lunch at noon?');
    await alice.press('#text', 'Enter');
    await assertLegibleReceipt(alice);
    await person(bob, 'Alice').locator('.unread').waitFor();
    await person(bob, 'Alice').click();
    await bob.locator('#messages li.theirs', { hasText: 'Lunch at noon?' }).waitFor();
    await bob.fill('#text', 'Sure, see you there!');
    await bob.press('#text', 'Enter');
    await alice.locator('#messages li.theirs', { hasText: 'see you there' }).waitFor();
    await bob.locator('#messages li.mine .receipt[data-receipt="acked"]').waitFor();

    // Carol, on the SimplePush sample, texts Alice through the bridge.
    await carolApp.untilDirectory((users) => users.some((u) => u.deviceName === 'Alice'));
    const aliceUser = carolApp.directoryUsers.find((u) => u.deviceName === 'Alice');
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

    if (shotsDir !== undefined && shotsDir !== '') {
      await alice.waitForTimeout(2_100); // let the call timer run a little
      await screenshotSheet(browser, `${shotsDir}/demo.png`, [
        [alice, 'Alice’s browser'],
        [bob, 'Bob’s browser'],
      ]);
    }

    await alice.click('#hangup');
    await bob.locator('#messages li.event', { hasText: 'Alice hung up' }).waitFor();
    assert.equal(await bob.locator('#call').isHidden(), true);

    // The demo's devices are ordinary devices of the server.
    const devices = await demo.server.store.listDevices();
    assert.ok(devices.some((d) => d.label === 'Alice'));
    assert.ok(devices.some((d) => d.id === simplePushDeviceId(carol.uuid)));
  });

  it('fits a 390 px phone: people above the chat, a usable message box, every button in view, no console error', async (t) => {
    if (skip !== undefined || demo === undefined || browser === undefined) return t.skip(skip);
    // A long name is what pushed the Call button off the bar.
    const longName = 'Erin from the night shift on ward 3';
    const dana: JoinedPage = await joinDemo(browser, demo.url, 'Dana', 'phone');
    const erin: JoinedPage = await joinDemo(browser, demo.url, longName, 'phone');

    await person(dana.page, longName).click();
    const layout = await layoutOf(dana.page);
    assert.ok(
      layout.pageWidth <= layout.viewportWidth,
      `the page is ${layout.pageWidth} px wide in a ${layout.viewportWidth} px viewport (sideways scrolling)`,
    );
    assert.ok(layout.chat.width >= layout.viewportWidth - 1, `the chat is only ${layout.chat.width} px wide`);
    assert.ok(
      layout.people.bottom <= layout.chat.top + 1,
      'the list of people is beside the chat, not above it',
    );
    assert.ok(layout.text.width >= 200, `the message box is only ${layout.text.width} px wide`);
    for (const [name, box] of [
      ['Call', layout.callButton],
      ['Send', layout.sendButton],
    ] as const) {
      assert.ok(
        box.left >= 0 && box.right <= layout.viewportWidth,
        `the ${name} button is clipped: ${JSON.stringify(box)}`,
      );
    }

    await dana.page.fill('#text', 'Are you on the ward tonight?');
    await dana.page.press('#text', 'Enter');
    await assertLegibleReceipt(dana.page);
    await person(erin.page, 'Dana').click();
    await erin.page.locator('#messages li.theirs', { hasText: 'on the ward tonight' }).waitFor();

    // An incoming call on a phone: Answer and Decline in view.
    await dana.page.click('#call-button');
    await erin.page.locator('#call[data-phase="incoming"]').waitFor();
    const incoming = await layoutOf(erin.page);
    for (const [name, box] of [
      ['Answer', incoming.answer],
      ['Decline', incoming.decline],
    ] as const) {
      assert.ok(
        box.width > 0 && box.right <= incoming.viewportWidth,
        `${name} is out of view: ${JSON.stringify(box)}`,
      );
    }
    assert.ok(
      incoming.pageWidth <= incoming.viewportWidth,
      'the incoming call makes the page scroll sideways',
    );
    await erin.page.click('#answer');
    await dana.page.locator('#call[data-phase="active"]').waitFor();
    const active = await layoutOf(dana.page);
    assert.ok(active.hangup.right <= active.viewportWidth, 'Hang up is out of view');

    if (shotsDir !== undefined && shotsDir !== '') {
      await dana.page.waitForTimeout(2_100);
      await screenshotSheet(browser, `${shotsDir}/demo-phone.png`, [
        [dana.page, 'Dana’s phone'],
        [erin.page, 'Erin’s phone'],
      ]);
    }
    await dana.page.click('#hangup');
    await erin.page.locator('#messages li.event', { hasText: 'Dana hung up' }).waitFor();

    // Every load is clean: no failed request (the favicon answered 401 before) and no console error.
    for (const joined of [dana, erin]) {
      assert.deepEqual(joined.consoleErrors, [], `console errors in ${joined.name}'s window`);
    }
    const favicon = await fetch(new URL('/favicon.ico', demo.url));
    assert.equal(favicon.status, 200);
    assert.match(favicon.headers.get('content-type') ?? '', /^image\//);
  });
});
