/** `localpush device add|list|remove`: enrol devices through the HTTP API. */
import { readSpkiPin } from '@localpush/server';
import { EXIT, apiTarget, callApi, dataDirFrom, parseFlags, usageError, type CliIo } from './common.js';

export const DEVICE_HELP = `Usage: localpush device <add|list|remove> [options]

  device add [--id <id>] [--label <text>]   register a device; prints its credential (shown once)
  device list                               list devices and whether each is connected
  device remove --id <id>                   unregister a device and drop its queued messages
                                            (or: device remove <id>)

Options (all subcommands):
  --api <url>        HTTP API (default http://127.0.0.1:7700, or $LOCALPUSH_API)
  --key <key>        provider key (default $LOCALPUSH_PROVIDER_KEY, or <data-dir>/provider.key)
  --data-dir <dir>   where to find provider.key and the server certificate (default ./.localpush)
  --json             print the API's JSON answer instead of text
  -h, --help         show this help
`;

const COMMON = {
  api: { type: 'string' },
  key: { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

interface DeviceView {
  id: string;
  label: string | null;
  createdAt: number;
  online?: boolean;
}

export async function device(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(DEVICE_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  switch (sub) {
    case 'add': {
      const { values } = parseFlags('device', rest, {
        ...COMMON,
        id: { type: 'string' },
        label: { type: 'string' },
      });
      if (values.help) return help(io);
      const target = await apiTarget(values, io);
      const body: { id?: string; label?: string } = {};
      if (values.id !== undefined) body.id = values.id;
      if (values.label !== undefined) body.label = values.label;
      const result = await callApi<{ device: DeviceView; credential: string }>(
        target,
        'POST',
        '/v1/devices',
        body,
      );
      if (values.json) {
        io.stdout(`${JSON.stringify(result, null, 2)}\n`);
        return EXIT.ok;
      }
      const pin = await readSpkiPin(dataDirFrom(values['data-dir'], io));
      io.stdout(
        [
          `device       ${result.device.id}`,
          `credential   ${result.credential}`,
          '             (shown once: the server keeps only its hash)',
          '',
          'Listen as this device:',
          `  npx localpush listen --device ${result.device.id} --credential ${result.credential}` +
            (pin ? ` --pin ${pin}` : ''),
          '',
        ].join('\n'),
      );
      return EXIT.ok;
    }
    case 'list': {
      const { values } = parseFlags('device', rest, COMMON);
      if (values.help) return help(io);
      const result = await callApi<{ devices: DeviceView[] }>(
        await apiTarget(values, io),
        'GET',
        '/v1/devices',
      );
      if (values.json) {
        io.stdout(`${JSON.stringify(result, null, 2)}\n`);
        return EXIT.ok;
      }
      if (result.devices.length === 0) io.stdout('no devices yet: add one with "localpush device add"\n');
      for (const d of result.devices) {
        io.stdout(`${d.online ? 'online ' : 'offline'}  ${d.id}${d.label ? `  (${d.label})` : ''}\n`);
      }
      return EXIT.ok;
    }
    case 'remove':
      return remove(rest, io);
    default:
      throw usageError(`unknown subcommand "device ${sub}"; run "localpush device --help"`);
  }
}

/** `device remove --id <id>` (or the id alone). */
async function remove(rest: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags('device', rest, { ...COMMON, id: { type: 'string' } }, true);
  if (values.help) return help(io);
  // --id as for "device add", or the id alone.
  const ids = [...(values.id === undefined ? [] : [values.id]), ...positionals];
  const [id, ...extra] = ids;
  if (id === undefined || extra.length > 0) {
    throw usageError('device remove takes exactly one device id (--id <id>, or the id alone)');
  }
  await callApi(await apiTarget(values, io), 'DELETE', `/v1/devices/${encodeURIComponent(id)}`);
  io.stdout(`removed ${id}\n`);
  return EXIT.ok;
}

function help(io: CliIo): number {
  io.stdout(DEVICE_HELP);
  return EXIT.ok;
}
