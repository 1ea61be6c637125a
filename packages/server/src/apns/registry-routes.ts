/**
 * HTTP routes by which a device's APNs token and topic are registered, so that the APNs-compatible
 * endpoint can map `POST /3/device/<token>` to the device. They are added to the HTTP API instance and so
 * share its provider-key authentication and its `{ error: { code, message } }` answers.
 */
import { APNS_ENVIRONMENTS, DEFAULT_APNS_ENVIRONMENT, type ApnsEnvironment } from '@localpush/protocol';
import type { FastifyInstance } from 'fastify';
import type { DeviceDirectory, RoutesPlugin } from '../core.js';
import { ApiError, ApiErrorCode, badRequest } from '../core.js';
import type { ApnsTokenRegistry } from './registry.js';
import { registrationBundleId } from './router.js';

/** Dependencies of {@link apnsTokenRoutes}. */
export interface ApnsTokenRoutesOptions {
  readonly registry: ApnsTokenRegistry;
  readonly directory: Pick<DeviceDirectory, 'get'>;
  readonly now: () => number;
}

const HEX_TOKEN = /^(?:[0-9a-fA-F]{2})+$/;
const TOPIC = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/**
 * `PUT /v1/devices/:id/apns-token` `{ token, topic, environment? }` → 200 with the registration;
 * `GET /v1/devices/:id/apns-tokens` → `{ tokens }`; `DELETE /v1/devices/:id/apns-token/:token` → 204.
 */
export function apnsTokenRoutes(options: ApnsTokenRoutesOptions): RoutesPlugin {
  return (app) => registerApnsTokenRoutes(app, options);
}

function registerApnsTokenRoutes(app: FastifyInstance, options: ApnsTokenRoutesOptions): void {
  const { registry, directory } = options;
  const requireDevice = async (id: string): Promise<void> => {
    if ((await directory.get(id)) === undefined) {
      throw new ApiError(404, ApiErrorCode.DEVICE_NOT_FOUND, `no device "${id}"`);
    }
  };

  app.put<{ Params: { id: string }; Body: { token: string; topic: string; environment?: ApnsEnvironment } }>(
    '/v1/devices/:id/apns-token',
    {
      schema: {
        tags: ['apns'],
        summary: "Register a device's APNs token and topic for the APNs-compatible endpoint",
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token', 'topic'],
          properties: {
            token: { type: 'string', minLength: 2, maxLength: 400 },
            topic: { type: 'string', minLength: 1, maxLength: 255 },
            environment: { type: 'string', enum: [...APNS_ENVIRONMENTS] },
          },
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { token, topic } = request.body;
      if (!HEX_TOKEN.test(token)) throw badRequest('body.token', 'must be an even number of hex digits');
      if (!TOPIC.test(topic))
        throw badRequest('body.topic', 'must be a bundle id (with any push-type suffix)');
      await requireDevice(id);
      const record = {
        token: token.toLowerCase(),
        deviceId: id,
        bundleId: registrationBundleId(topic),
        // The SDK's default too: one default for both registration paths.
        environment: request.body.environment ?? DEFAULT_APNS_ENVIRONMENT,
        updatedAt: options.now(),
      };
      await registry.register(record);
      return record;
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/devices/:id/apns-tokens',
    { schema: { tags: ['apns'], summary: "A device's registered APNs tokens" } },
    async (request) => {
      await requireDevice(request.params.id);
      return { tokens: await registry.tokensOf(request.params.id) };
    },
  );

  app.delete<{ Params: { id: string; token: string } }>(
    '/v1/devices/:id/apns-token/:token',
    { schema: { tags: ['apns'], summary: 'Forget one APNs token of a device' } },
    async (request, reply) => {
      const noSuchToken = () =>
        new ApiError(404, ApiErrorCode.NOT_FOUND, 'no such APNs token for this device');
      const record = await registry.lookup(request.params.token);
      if (record === undefined || record.deviceId !== request.params.id) throw noSuchToken();
      // Gone since the lookup (the device removed, or the token forgotten, in the same moment): the same 404.
      if (!(await registry.unregister(request.params.token))) throw noSuchToken();
      return reply.code(204).send();
    },
  );
}
