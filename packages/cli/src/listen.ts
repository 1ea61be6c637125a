/** `localpush listen`: connects as a device and prints what arrives — the device half of the two-terminal loop. */
import { DeviceClient } from '@localpush/client';
import { readSpkiPin } from '@localpush/server';
import { CliError, EXIT, dataDirFrom, parseFlags, readFlagFile, type CliIo } from './common.js';

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
  if (!deviceId || !credential) {
    throw new CliError('listen needs --device and --credential (from "localpush device add")', EXIT.usage);
  }
  const url = values.url ?? io.env.LOCALPUSH_URL ?? 'tls://127.0.0.1:7701';
  const ca = values.ca === undefined ? undefined : await readFlagFile('ca', values.ca);
  let pin = values.pin;
  if (pin === undefined && ca === undefined && !url.startsWith('tcp:') && !url.startsWith('ws:')) {
    pin = await readSpkiPin(dataDirFrom(values['data-dir'], io));
    if (pin === undefined) {
      throw new CliError(
        'no --pin or --ca given, and no server.crt in the data directory to take the pin from',
      );
    }
  }

  const client = new DeviceClient({
    url,
    deviceId,
    credential,
    ...(pin === undefined ? {} : { pin }),
    ...(ca === undefined ? {} : { ca }),
    agent: 'localpush-cli',
  });
  const at = () => new Date().toISOString().slice(11, 19);
  client.on('state', (state) => io.stderr(`${at()} ${state}\n`));
  client.on('connectionError', (error: Error & { code?: string }) =>
    io.stderr(`${at()} ${error.code ?? 'error'}: ${error.message}\n`),
  );
  client.on('notice', (notice) => io.stderr(`${at()} notice ${notice.code}: ${notice.message}\n`));
  client.on('goaway', (goaway) => io.stderr(`${at()} goaway (${goaway.reason})\n`));
  client.on('push', (push) => {
    if (values.json) io.stdout(`${JSON.stringify(push)}\n`);
    else io.stdout(`${at()} ${push.kind} #${push.seq} ${push.id}: ${JSON.stringify(push.payload)}\n`);
  });
  let stopped = false;
  const finished = new Promise<number>((resolve) => {
    client.on('state', (state) => {
      if (state === 'stopped' && !stopped) resolve(EXIT.failure);
    });
  });
  client.start();
  const code = await Promise.race([io.untilInterrupted().then(() => EXIT.ok), finished]);
  stopped = true;
  await client.stop();
  return code;
}
