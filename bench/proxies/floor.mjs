// The floor: the least a correct undici-based proxy has to do. One keep-alive Pool per
// backend, round robin, hop-by-hop headers stripped, both bodies streamed.
//
// The response body is sent with `body.pipe(res)` plus explicit error/close handling rather
// than `stream.pipeline()`: on Node 20, pipeline() builds an AbortController per call and a
// DOMException when it finishes, which alone adds tens of µs per request and would make the
// floor too easy to beat. The `floor-pipeline` contender (opt-in) is this proxy with
// pipeline(), to show the difference.
import { createServer } from 'node:http';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';
import { requestHeaders, responseHeaders } from '../lib/hop.mjs';
import { closeServer, listenLocal } from '../lib/listen.mjs';

function sendBody(body, res) {
  body.on('error', (err) => res.destroy(err));
  res.on('close', () => {
    if (!body.destroyed) body.destroy();
  });
  body.pipe(res);
}

function pipelineBody(body, res) {
  pipeline(body, res, () => {});
}

export async function createFloor(targets, { usePipeline = false } = {}) {
  const send = usePipeline ? pipelineBody : sendBody;
  const pools = targets.map((url) => new Pool(url, { keepAliveTimeout: 60_000 }));
  let next = 0;

  const server = createServer((req, res) => {
    const pool = pools[next];
    next = (next + 1) % pools.length;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    pool.request(
      {
        path: req.url,
        method: req.method,
        headers: requestHeaders(req.headers),
        body: hasBody ? req : null,
      },
      (err, upstream) => {
        if (err) {
          if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end('bad gateway\n');
          } else {
            res.destroy(err);
          }
          return;
        }
        res.writeHead(upstream.statusCode, responseHeaders(upstream.headers));
        send(upstream.body, res);
      },
    );
  });

  return {
    listen: () => listenLocal(server),
    close: async () => {
      await closeServer(server);
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

export const start = (targets) => createFloor(targets);
