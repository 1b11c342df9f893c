// Fastify with @fastify/reply-from (undici transport), registered without `base` so each
// request names its backend: round robin over the three.
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';

export async function start(targets) {
  const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
  await app.register(replyFrom, {
    undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 },
  });
  let next = 0;
  app.all('/*', (request, reply) => {
    const target = targets[next];
    next = (next + 1) % targets.length;
    reply.from(target + request.url);
  });

  return {
    listen: async () => {
      await app.listen({ host: '127.0.0.1', port: 0 });
      return app.server.address().port;
    },
    // Closes the server and, through reply-from's onClose hook, the undici agent.
    close: () => app.close(),
  };
}
