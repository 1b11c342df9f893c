// bench/limit.mjs: the bare switchyard proxy with one limit_req and one limit_conn on the Redis
// stores. The redis:// URL comes last among the targets; keys go under a prefix of this process.
import { redisConnStore, redisRateStore } from '@switchyard/limit';
import { createClient } from 'redis';
import { benchLimits, startLimitProxy } from './limit-common.mjs';

export async function start(targets) {
  const url = targets.find((t) => t.startsWith('redis://'));
  if (!url) throw new Error('limit-redis: no redis:// target given');
  const client = createClient({ url });
  client.on('error', (err) => console.error(`limit-redis: redis client: ${err.message}`));
  await client.connect();
  const prefix = `bench:limit:${process.pid}:`;
  const limits = benchLimits({
    rateStore: redisRateStore({ client, prefix }),
    connStore: redisConnStore({ client, prefix }),
  });
  return startLimitProxy(targets, limits, async () => {
    try {
      await client.close();
    } catch {
      client.destroy();
    }
  });
}
