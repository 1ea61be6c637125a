/**
 * The built-in features, in the order they are set up: the HTTP API's /v1 routes, metrics, retention, the APNs
 * endpoint and fallback (when `apnsPort` is set) and SimplePush (when configured). A new feature is one
 * more entry here, or a plugin passed in `StartOptions.plugins`.
 */
import { apnsPlugin, type ApnsService } from './apns/service.js';
import { healthPlugin } from './health/plugin.js';
import { httpApiPlugin } from './http/api.js';
import { metricsPlugin } from './metrics.js';
import { retentionPlugin } from './retention.js';
import { backupPlugin } from './backup.js';
import type { ApnsSender } from './apns/router.js';
import type { ServerPlugin } from './plugin.js';
import { simplePushPlugin, type RunningSimplePush } from './simplepush/plugin.js';

export type { RunningSimplePush } from './simplepush/plugin.js';

/** The built-in plugins, and those whose value RunningServer shows. */
export function builtinPlugins(options: { apnsSender?: ApnsSender }): {
  plugins: ServerPlugin<unknown>[];
  apns: ServerPlugin<ApnsService>;
  simplepush: ServerPlugin<RunningSimplePush>;
} {
  const apns = apnsPlugin(options.apnsSender !== undefined ? { sender: options.apnsSender } : {});
  return {
    plugins: [
      httpApiPlugin,
      metricsPlugin,
      healthPlugin,
      retentionPlugin,
      backupPlugin,
      apns,
      simplePushPlugin,
    ],
    apns,
    simplepush: simplePushPlugin,
  };
}
