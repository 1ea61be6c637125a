/**
 * Browser plumbing of the demo test: launching nothing but Debian's Chromium through playwright-core,
 * joining the demo in a desktop or phone-sized window, measuring the layout, judging the legibility of a
 * receipt, and laying screenshots side by side on one sheet.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import type * as Playwright from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM = process.env.LOCALPUSH_CHROMIUM ?? '/usr/bin/chromium';

/** playwright-core, when installed; the test is skipped otherwise (it is a dev dependency only). */
export async function loadPlaywright(): Promise<typeof Playwright | undefined> {
  try {
    return await import('playwright-core');
  } catch {
    return undefined;
  }
}

/** A desktop window, and an iPhone 12–15 sized phone (390 × 844 CSS px, touch, mobile viewport). */
const WINDOWS = {
  desktop: { viewport: { width: 760, height: 540 }, deviceScaleFactor: 1 },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true },
} as const;

export interface JoinedPage {
  name: string;
  page: Page;
  /** Every console error and failed request of the window, for a test to assert there were none. */
  consoleErrors: string[];
}

/** Opens the demo in a new window of the given kind and joins as `name`. */
export async function joinDemo(
  browser: Browser,
  url: string,
  name: string,
  kind: keyof typeof WINDOWS,
): Promise<JoinedPage> {
  const context = await browser.newContext(WINDOWS[kind]);
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('pageerror', (error) => assert.fail(`page error in ${name}'s window: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  page.on('requestfailed', (request) => consoleErrors.push(`request failed: ${request.url()}`));
  await page.goto(url);
  await page.fill('#name', name);
  await page.click('#join-form button');
  await page.locator('#link.online').waitFor();
  return { name, page, consoleErrors };
}

interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
  width: number;
}

export interface Layout {
  viewportWidth: number;
  /** The document's scroll width: larger than the viewport means sideways scrolling. */
  pageWidth: number;
  people: Box;
  chat: Box;
  text: Box;
  callButton: Box;
  sendButton: Box;
  answer: Box;
  decline: Box;
  hangup: Box;
}

/**
 * The scripts below run in the page. They are strings, not functions, because this package is compiled
 * without the DOM's types (and tsx would wrap functions in a helper the page lacks).
 */
const LAYOUT_SCRIPT = `(() => {
  const box = (selector) => {
    const r = document.querySelector(selector)?.getBoundingClientRect();
    return { left: r?.left ?? 0, right: r?.right ?? 0, top: r?.top ?? 0, bottom: r?.bottom ?? 0, width: r?.width ?? 0 };
  };
  return {
    viewportWidth: document.documentElement.clientWidth,
    pageWidth: document.documentElement.scrollWidth,
    people: box('aside'),
    chat: box('#chat'),
    text: box('#text'),
    callButton: box('#call-button'),
    sendButton: box('#send'),
    answer: box('#answer'),
    decline: box('#decline'),
    hangup: box('#hangup'),
  };
})()`;

/** The boxes of the page's parts, in CSS pixels (an element that is hidden has width 0). */
export function layoutOf(page: Page): Promise<Layout> {
  return page.evaluate<Layout>(LAYOUT_SCRIPT);
}

/**
 * The font size of the last element matching `selector` and the WCAG contrast ratio of its text against
 * what it is drawn on: its own background or the nearest ancestor's, with the element's (and its
 * ancestors') opacity blended in.
 */
export function legibilityOf(
  page: Page,
  selector: string,
): Promise<{ fontSizePx: number; contrast: number }> {
  return page.evaluate<{ fontSizePx: number; contrast: number }>(`(() => {
  const element = [...document.querySelectorAll(${JSON.stringify(selector)})].pop();
  if (element === undefined) throw new Error('no element matches the selector');
  const rgba = (text) => {
    const parts = (text.match(/[\\d.]+/g) ?? []).map(Number);
    return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
  };
  let opacity = 1;
  let under;
  for (let node = element; node !== null; node = node.parentElement) {
    const style = getComputedStyle(node);
    opacity *= Number(style.opacity);
    const bg = rgba(style.backgroundColor);
    if (under === undefined && bg[3] > 0) under = bg;
  }
  under ??= [255, 255, 255, 1];
  const style = getComputedStyle(element);
  const ink = rgba(style.color);
  const alpha = ink[3] * opacity;
  const seen = [0, 1, 2].map((i) => ink[i] * alpha + under[i] * (1 - alpha));
  const luminance = (c) =>
    c.map((v) => v / 255)
      .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
      .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const [a, b] = [luminance(seen), luminance(under.slice(0, 3))];
  return { fontSizePx: Number.parseFloat(style.fontSize), contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
})()`);
}

/** Screenshots the pages and writes them side by side, with captions, as one PNG. */
export async function screenshotSheet(
  browser: Browser,
  path: string,
  pages: [Page, string][],
): Promise<void> {
  const shots = await Promise.all(pages.map(([page]) => page.screenshot()));
  const sheet = await (await browser.newContext({ viewport: { width: 400, height: 300 } })).newPage();
  const figures = shots.map(
    (png, i) =>
      `<figure><img src="data:image/png;base64,${png.toString('base64')}"><figcaption>${pages[i]?.[1] ?? ''}</figcaption></figure>`,
  );
  await sheet.setContent(
    `<body style="margin:0;padding:16px;display:inline-flex;gap:24px;background:#d9dde3;font:13px system-ui">` +
      `<style>figure{margin:0}img{display:block;border-radius:8px;box-shadow:0 2px 10px #0003}` +
      `figcaption{text-align:center;color:#374151;padding-top:8px}</style>${figures.join('')}</body>`,
  );
  await sheet.evaluate('Promise.all([...document.images].map((img) => img.decode()))');
  await writeFile(path, await sheet.screenshot({ fullPage: true }));
  await sheet.context().close();
}
