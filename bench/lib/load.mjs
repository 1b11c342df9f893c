// The HTTP load of the proxy benches: a smoke GET before measuring, then autocannon.
import { request } from 'node:http';
import autocannon from 'autocannon';

/** One GET of `${url}/smoke?x=1`; resolves to null when it answered 200 with `body`, else to what went wrong. */
export function smokeTest(url, body) {
  return new Promise((resolve) => {
    const req = request(`${url}/smoke?x=1`, { agent: false, timeout: 5000 }, (res) => {
      let got = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        got += chunk;
      });
      res.on('end', () => {
        const ok = res.statusCode === 200 && got === body;
        resolve(ok ? null : `smoke GET answered ${res.statusCode} with body ${JSON.stringify(got)}`);
      });
      res.on('error', (err) => resolve(`smoke GET response failed: ${err.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 5 s')));
    req.on('error', (err) => resolve(`smoke GET failed: ${err.message}`));
    req.end();
  });
}

/** An autocannon run; with `times`, every 2xx response time (ms) is pushed to it. */
export function load(url, duration, { connections, pipelining = 1, rate }, times) {
  const instance = autocannon({
    url,
    connections,
    pipelining,
    duration,
    ...(rate ? { overallRate: rate } : {}),
  });
  if (times) {
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) times.push(responseTime);
    });
  }
  return instance;
}
