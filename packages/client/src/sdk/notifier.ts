/**
 * How LocalPushProvider shows alert and message pushes: the counterpart of a local notification on iOS.
 * Desktop notifiers run the platform tool with an argument array (execFile, no shell), so nothing in a
 * push payload can be interpreted as a command.
 */
import { execFile } from 'node:child_process';
import type { JsonObject } from './json.js';
import { findOnPath } from './network.js';

/** A notification to show. */
export interface Notification {
  title: string;
  body: string;
  /** The push's payload and metadata, for notifiers that attach actions. */
  userInfo: JsonObject;
}

/** Shows notifications. */
export interface Notifier {
  show(notification: Notification): void | Promise<void>;
}

/** Writes notifications as lines to a stream (stderr by default): kiosks and headless appliances. */
export class ConsoleNotifier implements Notifier {
  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  show(n: Notification): void {
    this.write(`[notification] ${n.title}${n.body === '' ? '' : `: ${n.body}`}`);
  }
}

/** Runs `cmd args…` without a shell; rejects on a non-zero exit or after 10 s. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000, windowsHide: true }, (err) => {
      if (err === null) resolve();
      else reject(new Error(`${cmd} failed: ${err.message}`, { cause: err }));
    });
  });
}

/** Linux desktops: `notify-send TITLE BODY` (libnotify). `--` ends options so a title like `-u` is text. */
export class NotifySendNotifier implements Notifier {
  constructor(private readonly path: string) {}

  show(n: Notification): Promise<void> {
    return run(this.path, ['--app-name=localpush', '--', n.title, n.body]);
  }
}

/**
 * macOS: `osascript` with the text passed as script arguments (`on run argv`), not spliced into the
 * AppleScript source, so quotes in a push cannot break out of a string literal.
 */
export class OsascriptNotifier implements Notifier {
  constructor(private readonly path: string = '/usr/bin/osascript') {}

  show(n: Notification): Promise<void> {
    return run(this.path, [
      '-e',
      'on run argv',
      '-e',
      'display notification (item 2 of argv) with title (item 1 of argv)',
      '-e',
      'end run',
      n.title,
      n.body,
    ]);
  }
}

/** Tries the desktop notifier and falls back to another one (the console) when it fails. */
export class FallbackNotifier implements Notifier {
  constructor(
    private readonly primary: Notifier,
    private readonly fallback: Notifier,
  ) {}

  async show(n: Notification): Promise<void> {
    try {
      await this.primary.show(n);
    } catch {
      // No session bus, no display, tool removed: the message must still be seen somewhere.
      await this.fallback.show(n);
    }
  }
}

/**
 * The best notifier for this machine: notify-send on Linux when on PATH, osascript on macOS, each falling
 * back to the console; the console elsewhere.
 */
export async function createDesktopNotifier(
  options: { platform?: NodeJS.Platform; fallback?: Notifier } = {},
): Promise<Notifier> {
  const platform = options.platform ?? process.platform;
  const fallback = options.fallback ?? new ConsoleNotifier();
  if (platform === 'linux') {
    const path = await findOnPath('notify-send');
    if (path !== undefined) return new FallbackNotifier(new NotifySendNotifier(path), fallback);
  } else if (platform === 'darwin') {
    const path = await findOnPath('osascript');
    if (path !== undefined) return new FallbackNotifier(new OsascriptNotifier(path), fallback);
  }
  return fallback;
}
