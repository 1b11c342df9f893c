// Hop-by-hop headers (RFC 9110 §7.6.1) that a proxy must not forward, plus `host`, which the
// upstream client sets from the origin it connects to.
const REQUEST_DROP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'upgrade', 'te']);
const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te']);

function filter(headers, drop) {
  const out = {};
  for (const name in headers) {
    if (!drop.has(name)) out[name] = headers[name];
  }
  return out;
}

export const requestHeaders = (headers) => filter(headers, REQUEST_DROP);
export const responseHeaders = (headers) => filter(headers, RESPONSE_DROP);
