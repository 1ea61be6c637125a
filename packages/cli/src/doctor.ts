/**
 * `localpush doctor`: the network doctor on a device — reachability, a diagnostic session, the Wi-Fi —
 * printed as pass / warn / fail with the figure, the threshold and the fix (checks in @localpush/client).
 */
import { formatDoctorReport, runDoctor, type DoctorOptions } from '@localpush/client';
import { readSpkiPin } from '@localpush/server';
import { serverView } from './doctor-server.js';
import {
  CliError,
  EXIT,
  dataDirFrom,
  parseFlags,
  readFlagFile,
  requireInteger,
  type CliIo,
} from './common.js';

export const DOCTOR_HELP = `Usage: localpush doctor --device <id> --credential <credential> [options]
       localpush doctor --server <api url> [--key <key>] [--device <id>] [--limit <n>] [--json]

Tells which of the network's rules the path from this device to the server breaks (docs/network.md):
  reachability  the route (interface, gateway, source), DNS, TCP and TLS handshake times, pin, certificate
  connection    a diagnostic session with the device's credential for the window (it never replaces the
                device's own session): round trip p50/p99, jitter and loss of probes through the server,
                TCP retransmissions, heartbeats
  wifi          from iw / wpa_cli: SSID, BSSID, band, channel, signal; channel utilisation (Apple: <= 40 %),
                retransmissions (Apple: <= 15 %), roaming (802.11r/k/v)
A check that cannot run here (no Wi-Fi interface, no permission) says why and is not counted as passed.

With --server, the server's view instead (any host that reaches the HTTP API): per device over the last
hour its reconnects and why its sessions ended, heartbeat round trips timed by the server, offline time;
the worst devices first (flapping ones flagged, serve --flapping-reconnects) and the access points their
sessions reported (when apps turn on the SDK's reportNetwork); --device shows one device in detail.

Options:
  --device <id>            device id (or $LOCALPUSH_DEVICE)
  --credential <c>         the device's credential (or $LOCALPUSH_CREDENTIAL)
  --url <url>              tls://host:port (default tls://127.0.0.1:7701), or tcp://host:port
  --pin <base64>           SHA-256 of the server's public key (default: from the data directory's server.crt)
  --ca <file>              verify the server with this CA certificate instead of a pin
  --data-dir <dir>         where to find server.crt for the default pin (default ./.localpush)
  --window <seconds>       how long to hold the diagnostic session (default 60)
  --quick                  a 10-second window
  --interval <ms>          time between probes (default 200)
  --pad <chars>            probe size, to match your pushes (default 256, at most 4096)
  --tries <n>              TCP/TLS handshakes to time (default 5)
  --interface <if>         the Wi-Fi interface to read (default: the route's, else the first)
  --expect-interface <if>  fail the route check unless the server is reached through this interface
  --expect-subnet <cidr>   fail the route check unless the source address is in this subnet
  --no-wifi                leave the Wi-Fi checks out (reported as not runnable)
  --server <url>           the server's view from its HTTP API (http://host:7700) instead of the checks
  --key <key>              with --server: the provider key (or $LOCALPUSH_PROVIDER_KEY, or the data
                           directory's provider.key)
  --limit <n>              with --server: how many devices and access points to show (default 10)
  --json                   print the report as JSON
  -h, --help               show this help

Exit status: 0 every check passed, 1 warnings or checks that could not run, 2 failures (or bad usage).
With --server: 0 no device shown is flapping, 1 one is, 2 the API could not be asked.
`;

const FLAGS = {
  device: { type: 'string' },
  credential: { type: 'string' },
  url: { type: 'string' },
  pin: { type: 'string' },
  ca: { type: 'string' },
  'data-dir': { type: 'string' },
  window: { type: 'string' },
  quick: { type: 'boolean' },
  interval: { type: 'string' },
  pad: { type: 'string' },
  tries: { type: 'string' },
  interface: { type: 'string' },
  'expect-interface': { type: 'string' },
  'expect-subnet': { type: 'string' },
  'no-wifi': { type: 'boolean' },
  json: { type: 'boolean' },
  server: { type: 'string' },
  key: { type: 'string' },
  limit: { type: 'string' },
} as const;

export async function doctor(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags('doctor', args, FLAGS);
  if (values.help) {
    io.stdout(DOCTOR_HELP);
    return EXIT.ok;
  }
  if (values.server !== undefined) return serverView({ ...values, server: values.server }, io);
  const options = await deviceOptions(values, io);
  if (!values.json) {
    options.onStage = (stage) => io.stderr(`checking ${stage}…\n`);
    const windowS = (options.windowMs ?? 60_000) / 1000;
    io.stderr(`holding a diagnostic session for ${windowS} s (--quick for 10 s)\n`);
  }
  const report = await runDoctor(options);
  io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
  return report.summary.exitCode;
}

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>['values'];

async function deviceOptions(values: Values, io: CliIo): Promise<DoctorOptions> {
  const deviceId = values.device ?? io.env.LOCALPUSH_DEVICE;
  const credential = values.credential ?? io.env.LOCALPUSH_CREDENTIAL;
  if (!deviceId || !credential) {
    throw new CliError('doctor needs --device and --credential (from "localpush device add")', EXIT.usage);
  }
  if (values.quick && values.window !== undefined) {
    throw new CliError('give --quick or --window, not both', EXIT.usage);
  }
  const url = values.url ?? io.env.LOCALPUSH_URL ?? 'tls://127.0.0.1:7701';
  if (!/^(tls|tcp):\/\//.test(url)) {
    throw new CliError(`--url must be tls://host:port or tcp://host:port, got "${url}"`, EXIT.usage);
  }
  const windowS = values.quick ? 10 : (requireInteger('window', values.window, 1, 3600) ?? 60);
  const options: DoctorOptions = { url, deviceId, credential, windowMs: windowS * 1000 };
  const interval = requireInteger('interval', values.interval, 10, 60_000);
  if (interval !== undefined) options.probeIntervalMs = interval;
  const pad = requireInteger('pad', values.pad, 0, 4096);
  if (pad !== undefined) options.padChars = pad;
  const tries = requireInteger('tries', values.tries, 1, 100);
  if (tries !== undefined) options.tries = tries;
  if (values.interface !== undefined) options.wifiInterface = values.interface;
  if (values['expect-interface'] !== undefined) options.expectInterface = values['expect-interface'];
  if (values['expect-subnet'] !== undefined) {
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(values['expect-subnet'])) {
      throw new CliError(`--expect-subnet must be an IPv4 CIDR such as 10.20.0.0/16`, EXIT.usage);
    }
    options.expectSubnet = values['expect-subnet'];
  }
  if (values['no-wifi']) options.noWifi = true;
  // Files last, once every flag is known to be well formed.
  const ca = values.ca === undefined ? undefined : await readFlagFile('ca', values.ca);
  let pin = values.pin;
  if (pin === undefined && ca === undefined && url.startsWith('tls:')) {
    pin = await readSpkiPin(dataDirFrom(values['data-dir'], io));
    if (pin === undefined) {
      throw new CliError(
        'no --pin or --ca given, and no server.crt in the data directory to take the pin from',
      );
    }
  }
  if (pin !== undefined) options.pin = pin;
  if (ca !== undefined) options.ca = ca;
  return options;
}
