import { createHash } from 'node:crypto';
import script from './script.js?raw';
import { DASHBOARD_CSS } from './style.js';

export { DASHBOARD_CSS } from './style.js';

/**
 * The dashboard's script, the text of `script.js` inlined when the package is built (and
 * read by Vite's `?raw` import in the tests).
 */
export const DASHBOARD_SCRIPT: string = script;

/** The paths (under the admin prefix) that serve the dashboard; NGINX Plus calls it `/dashboard.html`. */
export const DASHBOARD_PATHS: ReadonlySet<string> = new Set(['/dashboard', '/dashboard/', '/dashboard.html']);

/**
 * The live dashboard page, in the spirit of NGINX Plus's: one self-contained HTML document
 * (style and script inline, no framework, nothing fetched from elsewhere) that polls the
 * JSON API beside it every second. Static: everything it shows comes from the API.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>switchyard dashboard</title>
<link rel="icon" href="data:,">
<style>${DASHBOARD_CSS}</style>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo"></span>switchyard</div>
  <div class="meta" id="meta">connecting…</div>
  <div class="grow"></div>
  <div class="auth-note" id="auth-note"></div>
  <form class="auth" id="auth-form" hidden>
    <input id="token" type="password" autocomplete="off" placeholder="Admin token" aria-label="Admin token">
    <button type="submit" id="sign-in">Sign in</button>
  </form>
  <button type="button" id="sign-out" hidden>Sign out</button>
  <div class="live" id="live">connecting…</div>
</header>
<div class="msg" id="msg" role="status" hidden></div>
<main id="main">
  <section class="tiles">
    <div class="tile">
      <h3>Connections</h3>
      <div class="big"><span id="conn-active">–</span><small>active</small></div>
      <div class="kv">idle <b id="conn-idle">–</b> · accepted <b id="conn-accepted">–</b> (<b id="conn-rate">–</b>/s) · dropped <b id="conn-dropped">–</b></div>
    </div>
    <div class="tile">
      <h3>Requests</h3>
      <canvas class="spark" id="spark" aria-hidden="true"></canvas>
      <div class="big"><span id="req-rate">–</span><small>req/s</small></div>
      <div class="kv">total <b id="req-total">–</b> · current <b id="req-current">–</b></div>
    </div>
    <div class="tile">
      <h3>Upstream servers</h3>
      <div class="big"><span id="peers-up">–</span><small id="peers-total"></small></div>
      <div class="kv" id="peers-problems"></div>
    </div>
    <div class="tile" id="cache-tile" hidden>
      <h3>Cache hit ratio</h3>
      <div class="big" id="cache-ratio">–</div>
      <div class="kv" id="cache-counts"></div>
    </div>
  </section>
  <div id="groups"></div>
  <div class="group empty" id="no-groups" hidden>No upstream groups.</div>
  <section class="caches" id="caches" hidden>
    <h2>Caches</h2>
    <div class="scroll"><table>
      <thead>
        <tr><th class="l">Zone</th><th class="l">State</th><th>Size</th><th>Max size</th><th class="sep">Hit ratio</th><th class="sep">Hit</th><th>Stale</th><th>Updating</th><th>Revalidated</th><th class="sep">Miss</th><th>Expired</th><th>Bypass</th></tr>
      </thead>
      <tbody id="cache-rows"></tbody>
    </table></div>
  </section>
  <section class="limits" id="limits" hidden>
    <h2>Limits</h2>
    <div class="scroll"><table>
      <thead>
        <tr><th class="l">Zone</th><th class="l">Directive</th><th class="sep">Passed</th><th>Delayed</th><th>Rejected</th><th>Rejected/s</th></tr>
      </thead>
      <tbody id="limit-rows"></tbody>
    </table></div>
  </section>
</main>
<footer>Updated every second from the <a id="api-link" href="#">NGINX Plus-shaped API</a><span id="metrics-part" hidden> · <a id="metrics-link" href="#">Prometheus metrics</a></span></footer>
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The response headers of the page. The Content-Security-Policy allows only this page's own
 * script and style (by hash) and requests to its own origin, so even a value that slipped
 * past the escaping could not run or load anything; `frame-ancestors 'none'` keeps the
 * write buttons from being clicked through another site's frame.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-length': String(Buffer.byteLength(DASHBOARD_HTML)),
  'cache-control': 'no-cache',
  'content-security-policy': [
    "default-src 'none'",
    `script-src ${sha256(DASHBOARD_SCRIPT)}`,
    `style-src ${sha256(DASHBOARD_CSS)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};
