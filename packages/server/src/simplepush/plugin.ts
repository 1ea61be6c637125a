/**
 * SimplePush compatibility as a plugin, on when `simplepush` is configured: the sample's gateway and its
 * TLS listeners, the bridge that makes SimplePush users devices of this server, and the chat routes.
 * It is a second gateway of devices, so it starts after the device listeners and stops before their drain.
 */
import { listening, type ListenSite, type ServerPlugin } from '../core.js';
import { SimplePushBridge } from './bridge.js';
import { chatRoutes } from './bridge-routes.js';
import { SimplePushGateway } from './gateway.js';
import { listenSimplePush, type SimplePushListener } from './listen.js';

/** SimplePush compatibility, when turned on: the listeners, the bridge, and the pin for the sample. */
export interface RunningSimplePush {
  readonly listener: SimplePushListener;
  readonly bridge: SimplePushBridge;
  /** Base64 SHA-256 of the certificate's public key: paste it into the sample's app and extension. */
  readonly pin: string;
}

export const simplePushPlugin: ServerPlugin<RunningSimplePush> = {
  name: 'SimplePush',
  stage: 'with-devices',
  setup(core) {
    const ports = core.config.simplepush;
    if (!ports) return null;
    const { clock, engine, store, identity } = core;
    const gateway = new SimplePushGateway({ clock });
    // SimplePush users are devices of this server: the bridge joins the sample's gateway to the engine.
    const bridge = new SimplePushBridge({
      gateway,
      engine,
      presence: core.presence,
      store,
      clock,
      logger: core.logger,
    });
    // After the core's gateway subscribed the engine: the engine hears of a session before the bridge does.
    bridge.install();
    let running: RunningSimplePush | undefined;
    return {
      routes: chatRoutes({ bridge, engine, store, clock }),
      async start() {
        const site: ListenSite = {
          what: 'SimplePush (control, notification)',
          at: `${core.config.host}:${ports.controlPort},${ports.notificationPort}`,
          portOption: 'simplepush',
          hostOption: 'host',
        };
        const listener = await listening(site, () =>
          listenSimplePush({
            tls: identity,
            host: core.config.host,
            controlPort: ports.controlPort,
            notificationPort: ports.notificationPort,
            gateway,
            admission: core.gateway.admission,
          }),
        );
        running = { listener, bridge, pin: identity.spkiPin };
      },
      get value() {
        return running;
      },
      async close() {
        try {
          gateway.close();
        } finally {
          await running?.listener.close();
        }
      },
    };
  },
};
