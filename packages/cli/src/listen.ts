/** `localpush listen`: connects as a device and prints what arrives — the device half of the two-terminal loop. */
import { DeviceClient } from '@localpush/client';
import { readSpkiPin } from '@localpush/server';
import {
  CliError,
  CliErrorCode,
  EXIT,
  Problems,
  dataDirFrom,
  parseFlags,
  readFlagFile,
  usageError,
  type CliIo,
} from './common.js';

export const LISTEN_HELP = `Usage: localpush listen --device <id> --credential <credential> [options]

Connects as a device, acknowledges everything that arrives, and prints it. Reconnects by itself
(capped exponential back-off with jitter) until stopped with Ctrl-C: after a failure, and when the
server has been silent for its heartbeat interval + grace (30 s by default; a partition closes
nothing, so silence is the only sign of one). What was sent meanwhile arrives on reconnection.

Options:
  --device <id>          device id (or $LOCALPUSH_DEVICE)
  --credential <c>       the credential "device add" printed (or $LOCALPUSH_CREDENTIAL)
  --url <url>            tls://host:port (default tls://127.0.0.1:7701), wss://host:port/v1/connect,
                         or tcp://host:port for a server started with --tcp-port
  --pin <base64>         SHA-256 of the server's public key (default: read from the data directory's
                         server.crt when it is there)
  --ca <file>            trust this CA certificate instead of pinning
  --data-dir <dir>       where to find server.crt for the default pin (default ./.localpush)
  --json                 print each push as one JSON line
  -h, --help             show this help

Exit status: 0 when stopped with Ctrl-C or SIGTERM; 1 when the server refuses the device
(LP_AUTH_FAILED: unknown device or wrong credential), speaks no common protocol version
(LP_VERSION_UNSUPPORTED), or its public key does not match the pin (LP_CLIENT_PIN_MISMATCH) — said
once, with the fix, and not retried; 2 bad usage (a --pin that is not a pin, a bad --url).
`;

export async function listen(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags('listen', args, {
    device: { type: 'string' },
    credential: { type: 'string' },
    url: { type: 'string' },
    pin: { type: 'string' },
    ca: { type: 'string' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout(LISTEN_HELP);
    return EXIT.ok;
  }
  const deviceId = values.device ?? io.env.LOCALPUSH_DEVICE;
  const credential = values.credential ?? io.env.LOCALPUSH_CREDENTIAL;
  const problems = new Problems();
  if (!deviceId || !credential)
    problems.add('listen needs --device and --credential (from "localpush device add")');
  const url = values.url ?? io.env.LOCALPUSH_URL ?? 'tls://127.0.0.1:7701';
  if (values.pin !== undefined) problems.check(() => checkPin(values.pin ?? ''));
  problems.throwIfAny();
  const ca = values.ca === undefined ? undefined : await readFlagFile('ca', values.ca);
  let pin = values.pin;
  if (pin === undefined && ca === undefined && !url.startsWith('tcp:') && !url.startsWith('ws:')) {
    pin = await readSpkiPin(dataDirFrom(values['data-dir'], io));
    if (pin === undefined) {
      throw new CliError(
        'no --pin or --ca given, and no server.crt in the data directory to take the pin from: pass the ' +
          'pin "localpush serve" printed with --pin, or run this where the data directory is (--data-dir)',
        EXIT.failure,
        CliErrorCode.NO_PIN,
      );
    }
  }
  const client = newClient({ url, deviceId: deviceId ?? '', credential: credential ?? '', pin, ca });
  const stopped = new AbortController();
  const fatal = printEvents(client, io, values.json === true, deviceId ?? '', () => stopped.abort());
  client.start();
  await io.untilInterrupted(stopped.signal);
  await client.stop();
  if (fatal.error === undefined) return EXIT.ok;
  throw new CliError(fatal.error.message, EXIT.failure, fatal.error.code);
}

/** A pin as "localpush serve" prints it: base64 of 32 bytes; a usage error otherwise. */
function checkPin(pin: string): void {
  const bytes = Buffer.from(pin, 'base64');
  if (!/^[A-Za-z0-9+/]{43}=$/.test(pin) || bytes.length !== 32)
    throw usageError(
      `--pin must be the base64 SHA-256 of the server's public key (44 characters ending in "=", as ` +
        `"localpush serve" prints it), got "${pin}"`,
    );
}

/** The device client; a bad --url is a usage error. */
function newClient(options: {
  url: string;
  deviceId: string;
  credential: string;
  pin: string | undefined;
  ca: string | undefined;
}): DeviceClient {
  try {
    return new DeviceClient({
      url: options.url,
      deviceId: options.deviceId,
      credential: options.credential,
      ...(options.pin === undefined ? {} : { pin: options.pin }),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      agent: 'localpush-cli',
    });
  } catch (error) {
    throw usageError(`--url ${options.url}: ${(error as Error).message}`);
  }
}

/** Advice for the failures that no retry cures: listen stops and exits 1 with one of these. */
const FATAL: Record<string, (deviceId: string) => string> = {
  LP_AUTH_FAILED: (id) =>
    `the server refused device "${id}" with this credential (unknown device, wrong credential, or ` +
    'removed). Check --device and --credential against what "localpush device add" printed',
  LP_VERSION_UNSUPPORTED: () =>
    'the server speaks no protocol version this localpush does; upgrade one of them',
  LP_CLIENT_PIN_MISMATCH: () =>
    "the server's public key does not match --pin: its certificate changed, or this is not the server " +
    'meant. Take the pin from the banner of "localpush serve" (or its data directory, --data-dir)',
};

/** Prints what happens on the connection; the first fatal error stops the command (`stop`). */
function printEvents(
  client: DeviceClient,
  io: CliIo,
  json: boolean,
  deviceId: string,
  stop: () => void,
): { error?: { code: string; message: string } } {
  const fatal: { error?: { code: string; message: string } } = {};
  const at = () => new Date().toISOString().slice(11, 19);
  client.on('state', (state) => {
    if (fatal.error === undefined) io.stderr(`${at()} ${state}\n`);
  });
  client.on('connectionError', (error: Error & { code?: string }) => {
    if (fatal.error !== undefined) return;
    const advice = error.code === undefined ? undefined : FATAL[error.code];
    if (advice !== undefined && error.code !== undefined) {
      fatal.error = { code: error.code, message: advice(deviceId) };
      stop();
      return;
    }
    io.stderr(`${at()} ${error.code ?? 'error'}: ${error.message}\n`);
  });
  client.on('notice', (notice) => io.stderr(`${at()} notice ${notice.code}: ${notice.message}\n`));
  client.on('goaway', (goaway) => io.stderr(`${at()} goaway (${goaway.reason})\n`));
  client.on('push', (push) => {
    if (json) io.stdout(`${JSON.stringify(push)}\n`);
    else io.stdout(`${at()} ${push.kind} #${push.seq} ${push.id}: ${JSON.stringify(push.payload)}\n`);
  });
  return fatal;
}
