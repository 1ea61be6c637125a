/** `localpush serve --simplepush`: the flag turns SimplePush on with the sample's ports; it is off without it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError, type CliIo } from '../src/common.js';
import { serveConfigFromFlags } from '../src/serve.js';

const io: CliIo = { stdout: () => {}, stderr: () => {}, env: {}, untilInterrupted: () => Promise.resolve() };

function simplepushOf(args: string[]): unknown {
  const config = serveConfigFromFlags(args, io);
  assert.notEqual(config, 'help');
  return config === 'help' ? undefined : config.simplepush;
}

describe('serve --simplepush', () => {
  it('is off by default', () => {
    assert.equal(simplepushOf([]), undefined);
  });

  it('turns on with the sample’s ports', () => {
    assert.deepEqual(simplepushOf(['--simplepush']), { controlPort: 5060, notificationPort: 3000 });
  });

  it('takes other ports, which imply --simplepush', () => {
    assert.deepEqual(simplepushOf(['--simplepush-ports', '6060, 4000']), {
      controlPort: 6060,
      notificationPort: 4000,
    });
  });

  it('refuses ports that are not two port numbers', () => {
    for (const bad of ['6060', '6060,4000,1', '6060,', 'a,b', '70000,1']) {
      assert.throws(() => simplepushOf(['--simplepush-ports', bad]), CliError, bad);
    }
  });
});
