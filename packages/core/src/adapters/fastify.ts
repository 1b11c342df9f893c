/**
 * `@switchyard/core/fastify`: the reverse proxy as a Fastify plugin, {@link switchyard}.
 *
 * @packageDocumentation
 * @module @switchyard/core/fastify
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createProxy, type ProxyOptions, type ReverseProxy } from '../proxy/index.js';

/** Options of the Fastify plugin: a proxy you built, or the options to build one. */
export type SwitchyardFastifyOptions = (
  | {
      /** A proxy built with `createProxy`; the plugin does not close it. */
      proxy: ReverseProxy;
    }
  | ProxyOptions
) & {
  /** Also relay WebSocket upgrades that reach this Fastify server. @default false */
  websocket?: boolean;
};

/**
 * A Fastify plugin that proxies every route under its prefix. It is encapsulated: it
 * replaces the content-type parsers in its own context only, so request bodies reach the
 * upstream as the client sent them, unparsed.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { switchyard } from '@switchyard/core/fastify';
 *
 * const app = Fastify();
 * await app.register(switchyard, {
 *   prefix: '/api',
 *   upstream: { name: 'api', servers: ['http://127.0.0.1:9001'] },
 * });
 * ```
 */
export async function switchyard(fastify: FastifyInstance, options: SwitchyardFastifyOptions): Promise<void> {
  const { websocket, ...rest } = options as SwitchyardFastifyOptions & { prefix?: string };
  delete (rest as { prefix?: string }).prefix;
  const owned = !('proxy' in rest);
  const proxy = 'proxy' in rest ? rest.proxy : createProxy(rest as ProxyOptions);

  // Leave the body stream unread: the proxy streams it upstream as it came.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_req: FastifyRequest, _payload: unknown, done: (err: null) => void) =>
    done(null),
  );

  const handle = (request: FastifyRequest, reply: FastifyReply): void => {
    reply.hijack();
    proxy.handler(request.raw, reply.raw);
  };
  fastify.all('/', handle);
  fastify.all('/*', handle);

  if (websocket === true) fastify.server.on('upgrade', proxy.upgrade);
  fastify.addHook('onClose', async () => {
    if (websocket === true) fastify.server.off('upgrade', proxy.upgrade);
    if (owned) await proxy.close();
  });
}

export default switchyard;
