/**
 * Network monitors tell the host which network the device is on. The scripted one drives tests; the
 * system ones poll OS tools (through the injected clock) and report only real changes.
 */
import { EventEmitter } from 'node:events';
import { execFile } from 'node:child_process';
import { readFile, readdir, access } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, type TimerHandle, systemClock } from '@localpush/protocol';
import { type NetworkState, sameNetwork } from './configuration.js';
import {
  ethernetFromSysfs,
  parseIpconfigSummary,
  parseIwDev,
  parseNetshInterfaces,
  parseNetshWlan,
  parseNetworksetupAirport,
  parseNmcliEthernet,
  parseNmcliWifi,
  type SysNetInterface,
} from './network-parsers.js';
import { type SdkLog, silentLog } from './log.js';

/** The state of a device with no network at all. */
export const NO_NETWORK: NetworkState = Object.freeze({ ethernet: false });

/** Reports the current network and emits `change` (NetworkState) whenever it changes. */
export interface NetworkMonitor extends EventEmitter {
  /** The last known network. */
  current(): NetworkState;
  /** Begin observing (a no-op for monitors that need no polling). */
  start(): Promise<void>;
  /** Stop observing and release timers. */
  stop(): void;
}

/** A monitor driven by the test: `set()` changes the network and emits synchronously. */
export class ScriptedNetworkMonitor extends EventEmitter implements NetworkMonitor {
  private state: NetworkState;

  constructor(initial: NetworkState = NO_NETWORK) {
    super();
    this.state = { ...initial };
  }

  current(): NetworkState {
    return this.state;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): void {
    // Nothing to release.
  }

  /** Moves the device to `state`; emits `change` only if it differs, like the real monitors. */
  set(state: NetworkState): void {
    if (sameNetwork(this.state, state)) return;
    this.state = { ...state };
    this.emit('change', this.state);
  }

  /** Shorthand: join Wi-Fi `ssid` (keeping the Ethernet flag). */
  joinWifi(ssid: string): void {
    this.set({ ...this.state, ssid });
  }

  /** Shorthand: leave Wi-Fi. */
  leaveWifi(): void {
    const { ssid: _ssid, ...rest } = this.state;
    this.set(rest);
  }
}

/** Reads the current network once; the OS-specific part of a polling monitor. */
export type NetworkProbe = () => Promise<NetworkState>;

/** Options of {@link PollingNetworkMonitor}. */
export interface PollingNetworkMonitorOptions {
  probe: NetworkProbe;
  clock?: Clock;
  /** Poll period; 5 s notices a network change well within the 30 s field reports mention. */
  intervalMs?: number;
  log?: SdkLog;
}

/** Polls a probe through the clock and emits `change` when the result differs from the last one. */
export class PollingNetworkMonitor extends EventEmitter implements NetworkMonitor {
  private state: NetworkState = NO_NETWORK;
  private timer: TimerHandle | undefined;
  private running = false;
  private readonly probe: NetworkProbe;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly log: SdkLog;

  constructor(options: PollingNetworkMonitorOptions) {
    super();
    this.probe = options.probe;
    this.clock = options.clock ?? systemClock;
    this.intervalMs = options.intervalMs ?? 5000;
    this.log = options.log ?? silentLog;
  }

  current(): NetworkState {
    return this.state;
  }

  /** Probes once (so current() is right when start resolves), then keeps polling. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.poll();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One probe now; exposed so that tests and the agent can force a refresh. */
  async poll(): Promise<void> {
    let next: NetworkState;
    try {
      next = await this.probe();
    } catch (err) {
      // A failing tool is "don't know", not "no network": keep the last state rather than stop providers.
      this.log('warn', 'network probe failed', { err });
      next = this.state;
    }
    if (!sameNetwork(next, this.state)) {
      this.state = next;
      this.emit('change', next);
    }
    if (this.running) this.timer = this.clock.setTimeout(() => void this.poll(), this.intervalMs);
  }
}

/** Runs a tool without a shell, in the C locale so its output is parseable; resolves '' if it fails. */
export function runTool(cmd: string, args: readonly string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...args],
      { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, windowsHide: true },
      (err, stdout) => resolve(err === null ? stdout : ''),
    );
  });
}

/** Absolute path of `name` on PATH, or undefined. */
export async function findOnPath(name: string): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(process.platform === 'win32' ? ';' : ':').filter(Boolean);
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      await access(p, 1 /* X_OK */);
      return p;
    } catch {
      // Not here; try the next directory.
    }
  }
  return undefined;
}

/** Reads /sys/class/net (or another root, for tests) into {@link SysNetInterface} entries. */
export async function readSysNet(root = '/sys/class/net'): Promise<SysNetInterface[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const exists = (p: string): Promise<boolean> =>
    access(p).then(
      () => true,
      () => false,
    );
  return Promise.all(
    names.map(async (name) => ({
      name,
      carrier: await readFile(join(root, name, 'carrier'), 'utf8').catch(() => undefined),
      wireless: (await exists(join(root, name, 'wireless'))) || (await exists(join(root, name, 'phy80211'))),
      physical: await exists(join(root, name, 'device')),
    })),
  );
}

/** Linux: nmcli when present (NetworkManager), else `iw dev`; Ethernet from sysfs carrier. */
export async function linuxProbe(): Promise<NetworkState> {
  const nmcli = await findOnPath('nmcli');
  let ssid: string | undefined;
  let ethernet = ethernetFromSysfs(await readSysNet());
  if (nmcli !== undefined) {
    ssid = parseNmcliWifi(await runTool(nmcli, ['-t', '-f', 'active,ssid', 'dev', 'wifi']));
    ethernet ||= parseNmcliEthernet(await runTool(nmcli, ['-t', '-f', 'type,state', 'dev']));
  } else {
    const iw = await findOnPath('iw');
    if (iw !== undefined) ssid = parseIwDev(await runTool(iw, ['dev']));
  }
  return ssid === undefined ? { ethernet } : { ssid, ethernet };
}

/** macOS: ipconfig getsummary (macOS 14+), falling back to networksetup. Ethernet is not detected yet. */
export async function macosProbe(device = 'en0'): Promise<NetworkState> {
  const ssid =
    parseIpconfigSummary(await runTool('/usr/sbin/ipconfig', ['getsummary', device])) ??
    parseNetworksetupAirport(await runTool('/usr/sbin/networksetup', ['-getairportnetwork', device]));
  return ssid === undefined ? { ethernet: false } : { ssid, ethernet: false };
}

/** Windows: netsh for both Wi-Fi and wired interfaces. */
export async function windowsProbe(): Promise<NetworkState> {
  const ssid = parseNetshWlan(await runTool('netsh', ['wlan', 'show', 'interfaces']));
  const ethernet = parseNetshInterfaces(await runTool('netsh', ['interface', 'show', 'interface']));
  return ssid === undefined ? { ethernet } : { ssid, ethernet };
}

/** The polling monitor for this platform (Linux, macOS or Windows); others report no network. */
export function createSystemNetworkMonitor(
  options: Omit<PollingNetworkMonitorOptions, 'probe'> & { platform?: NodeJS.Platform } = {},
): PollingNetworkMonitor {
  const platform = options.platform ?? process.platform;
  const probe: NetworkProbe =
    platform === 'linux'
      ? linuxProbe
      : platform === 'darwin'
        ? () => macosProbe()
        : platform === 'win32'
          ? windowsProbe
          : () => Promise.resolve(NO_NETWORK);
  return new PollingNetworkMonitor({ ...options, probe });
}
