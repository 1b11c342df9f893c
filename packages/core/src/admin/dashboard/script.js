// @ts-check
/**
 * The dashboard's script: plain browser JavaScript, no framework. It polls the JSON API
 * every second (paths relative to the page, so a prefix or mount path works), computes
 * rates from successive polls, and writes every value with `textContent` or `dataset`,
 * never as HTML.
 *
 * Whether this browser may write is asked of the API itself: a `PATCH` to a path that
 * does not exist answers 404 to a client allowed to write, and 401, 403 or 405 to one
 * that is not, since the API checks authority before it looks the path up. The token
 * typed in is kept in `sessionStorage` and sent as `Authorization: Bearer …`.
 *
 * The page inlines this file's text as it is (a `?raw` import: Vite's own in the tests, the
 * `rawText` esbuild plugin of tsup.config.ts in the build), and its Content-Security-Policy
 * allows it by hash. Type-checked against the DOM by `tsconfig.json` beside it
 * (`script.test.ts` runs it).
 */
/**
 * The API's answers, as far as the page reads them (NGINX Plus API 9).
 * @typedef {{ address?: string, version?: string, timestamp: string, load_timestamp: string, pid: number }} NginxJson
 * @typedef {{ active: number, idle: number, accepted: number, dropped: number }} ConnectionsJson
 * @typedef {{ total: number, current: number }} RequestsJson
 * @typedef {{ checks?: number, fails?: number, unhealthy?: number, last_passed?: boolean }} HealthChecksJson
 * @typedef {{
 *   id: number, server: string, backup: boolean, weight: number, state: string, active: number,
 *   max_conns?: number, requests: number, responses?: Record<string, number>, sent: number,
 *   received: number, fails: number, unavail: number, downtime: number, header_time?: number,
 *   response_time?: number, health_checks?: HealthChecksJson
 * }} PeerJson
 * @typedef {{ peers?: PeerJson[], zombies: number }} UpstreamJson
 * @typedef {{ cold: boolean, size: number, max_size: number, [outcome: string]: unknown }} CacheJson
 * @typedef {{ passed?: number, delayed?: number, rejected?: number }} LimitJson
 */

/**
 * What the page keeps per upstream group and per server row.
 * @typedef {{ weight: HTMLInputElement, setWeight: HTMLButtonElement, drain: HTMLButtonElement, down: HTMLButtonElement, edited: boolean }} Controls
 * @typedef {{ tr: HTMLElement, cells: Record<string, HTMLElement>, server: HTMLElement, badge: HTMLElement, peer: PeerJson, controls: Controls | undefined }} Row
 * @typedef {{ name: string, section: HTMLElement, tbody: HTMLElement, rows: Map<number, Row>, summary: HTMLElement, rps: HTMLElement, bytes: HTMLElement, zombies: HTMLElement, actionHeads: HTMLElement[] }} Group
 * @typedef {'unknown' | 'yes' | 'login' | 'disabled'} AuthState
 */

(() => {
  // biome-ignore lint/suspicious/noRedundantUseStrict: the page runs this as a classic script, not a module
  'use strict';
  const TOKEN_KEY = 'switchyard.dashboard.token';
  const POLL_MS = 1000;
  const HISTORY = 30;
  const STATES = ['up', 'draining', 'down', 'unavail', 'checking', 'unhealthy'];
  const BAD = new Set(['unavail', 'unhealthy']);

  // The API and the metrics sit beside the page: /admin/dashboard -> /admin/api/9/...
  const found = /^(.*\/)dashboard(?:\.html)?\/?$/.exec(location.pathname);
  const base = found ? found[1] : new URL('.', location.href).pathname;
  /** @param {string} path */
  const api = (path) => `${base}api/9/${path}`;

  /** The page's element of this id: the page has every one the script asks for. */
  const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {string} [cls]
   * @param {string} [text]
   * @returns {HTMLElementTagNameMap[K]}
   */
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  /** @param {Node} e @param {unknown} text */
  function set(e, text) {
    const t = String(text);
    if (e.textContent !== t) e.textContent = t;
  }
  /** @param {Element} e @param {string} cls */
  function setClass(e, cls) {
    if (e.className !== cls) e.className = cls;
  }

  // ---- formatting ----------------------------------------------------------------------

  const num = (/** @type {unknown} */ n) =>
    typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : '–';
  const rate = (/** @type {number | undefined} */ r) =>
    r === undefined ? '–' : r < 10 && r > 0 ? r.toFixed(1) : Math.round(r).toLocaleString('en-US');
  /** @param {unknown} n */
  function bytes(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
  }
  const byteRate = (/** @type {number | undefined} */ r) => (r === undefined ? '–' : `${bytes(r)}/s`);
  /** @param {unknown} ms */
  function duration(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
    if (ms < 1000) return ms === 0 ? '0' : `${ms} ms`;
    let s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    s %= 60;
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${m}m`;
    if (m > 0) return `${m}m ${s}s`;
    return `${s}s`;
  }
  const pct = (/** @type {number | undefined} */ r) => (r === undefined ? '–' : `${(r * 100).toFixed(1)}%`);

  // ---- talking to the API --------------------------------------------------------------

  let token = sessionStorage.getItem(TOKEN_KEY) || '';

  /** "401 Unauthorized: unauthorized", from an NGINX Plus error body when there is one. */
  /** @param {Response} res */
  async function describe(res) {
    try {
      const body = await res.json();
      if (body?.error && typeof body.error.code === 'string') {
        return `${res.status} ${body.error.code}: ${body.error.text}`;
      }
    } catch (_err) {
      // Not JSON: the status line says enough.
    }
    return `${res.status} ${res.statusText}`;
  }
  /** @param {string} path @returns {Promise<any>} */
  async function getJson(path) {
    const res = await fetch(api(path), { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`${path}: ${await describe(res)}`);
    return res.json();
  }
  /** @param {boolean} json */
  function writeHeaders(json) {
    /** @type {Record<string, string>} */
    const h = { accept: 'application/json' };
    if (json) h['content-type'] = 'application/json';
    if (token !== '') h.authorization = `Bearer ${token}`;
    return h;
  }

  // ---- messages ------------------------------------------------------------------------

  let msgTimer = 0;
  /** @param {string} text @param {boolean} isError */
  function message(text, isError) {
    const m = $('msg');
    set(m, text);
    setClass(m, isError ? 'msg err' : 'msg');
    m.hidden = false;
    clearTimeout(msgTimer);
    if (!isError) msgTimer = setTimeout(() => (m.hidden = true), 5000);
  }

  // ---- authority -----------------------------------------------------------------------

  /** 'unknown' until asked; 'yes' may write; 'login' needs a (valid) token; 'disabled' never. */
  /** @type {AuthState} */
  let authState = 'unknown';

  /** @param {AuthState} next */
  function setAuth(next) {
    authState = next;
    const canWrite = next === 'yes';
    document.body.classList.toggle('can-write', canWrite);
    $('auth-form').hidden = next !== 'login';
    $('sign-out').hidden = !(canWrite && token !== '');
    const note = $('auth-note');
    if (next === 'disabled') set(note, 'read-only: writes are disabled on this API');
    else if (canWrite) set(note, token === '' ? 'writes allowed' : 'signed in');
    else if (next === 'login') set(note, 'sign in to manage servers');
    else set(note, '');
    for (const g of groups.values()) renderActions(g);
  }

  function forgetToken() {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
  }

  /** Handles a refused write: 401/403 ask for a token again, 405 means writes are off. */
  /** @param {number} status @param {string} text */
  function refused(status, text) {
    if (status === 401 || status === 403) {
      forgetToken();
      setAuth('login');
    } else if (status === 405 && /MethodDisabled/.test(text)) {
      setAuth('disabled');
    }
    message(text, true);
  }

  /** @param {boolean} reportFailure */
  async function checkAuth(reportFailure) {
    let res;
    try {
      res = await fetch(api('nginx/dashboard-auth-check'), { method: 'PATCH', headers: writeHeaders(false) });
    } catch (_err) {
      return false;
    }
    const text = await describe(res);
    if (res.status === 404) {
      setAuth('yes');
      return true;
    }
    if (res.status === 405) {
      setAuth('disabled');
      return false;
    }
    const tried = token !== '';
    forgetToken();
    setAuth('login');
    if (reportFailure || tried) message(text, true);
    return false;
  }

  $('auth-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($('token'));
    const value = input.value.trim();
    if (value === '') return;
    token = value;
    sessionStorage.setItem(TOKEN_KEY, value);
    input.value = '';
    if (await checkAuth(true)) message('signed in: the buttons change the servers', false);
  });
  $('sign-out').addEventListener('click', () => {
    forgetToken();
    message('signed out', false);
    void checkAuth(false);
  });

  /**
   * @param {string} group
   * @param {number} id
   * @param {string} server
   * @param {Record<string, unknown>} body
   * @param {string} done
   */
  async function patchServer(group, id, server, body, done) {
    let res;
    try {
      res = await fetch(api(`http/upstreams/${encodeURIComponent(group)}/servers/${id}`), {
        method: 'PATCH',
        headers: writeHeaders(true),
        body: JSON.stringify(body),
      });
    } catch (err) {
      message(`${server}: ${/** @type {Error} */ (err).message}`, true);
      return;
    }
    if (!res.ok) {
      refused(res.status, `${server}: ${await describe(res)}`);
      return;
    }
    message(`${server}: ${done}`, false);
    refresh();
  }

  // ---- upstream groups -----------------------------------------------------------------

  /** @type {Array<Array<[text: string, span: number, cls?: string]>>} */
  const HEAD = [
    [
      ['Server', 1, 'l'],
      ['State', 1, 'l'],
      ['Weight', 1],
      ['Active', 1],
      ['Requests', 2, 'sep'],
      ['Responses', 5, 'sep'],
      ['Time, ms', 2, 'sep'],
      ['Health checks', 4, 'sep'],
      ['Failures', 3, 'sep'],
      ['', 1, 'act'],
    ],
    [
      ['', 1, 'l'],
      ['', 1, 'l'],
      ['', 1],
      ['', 1],
      ['Total', 1, 'sep'],
      ['Req/s', 1],
      ['1xx', 1, 'sep'],
      ['2xx', 1],
      ['3xx', 1],
      ['4xx', 1],
      ['5xx', 1],
      ['Header', 1, 'sep'],
      ['Response', 1],
      ['Checks', 1, 'sep'],
      ['Fails', 1],
      ['Unhealthy', 1],
      ['Last', 1],
      ['Fails', 1, 'sep'],
      ['Unavail', 1],
      ['Downtime', 1],
      ['Actions', 1, 'act sep'],
    ],
  ];
  const CELLS = [
    'name',
    'state',
    'weight',
    'active',
    'requests',
    'rps',
    'r1',
    'r2',
    'r3',
    'r4',
    'r5',
    'header',
    'response',
    'checks',
    'hcFails',
    'unhealthy',
    'last',
    'fails',
    'unavail',
    'downtime',
    'actions',
  ];
  const SEP = new Set(['requests', 'r1', 'header', 'checks', 'fails', 'actions']);

  /** @type {Map<string, Group>} */
  const groups = new Map();

  /** @param {string} name @returns {Group} */
  function makeGroup(name) {
    const section = el('section', 'group');
    section.dataset.upstream = name;
    const head = el('div', 'group-head');
    head.appendChild(el('h2', '', name));
    const summary = el('span', 'kv');
    const rps = el('span', 'kv');
    const bytes = el('span', 'kv');
    const zombies = el('span', 'kv');
    head.append(summary, rps, bytes, zombies);
    const table = el('table');
    const thead = el('thead');
    /** @type {HTMLElement[]} */
    const actionHeads = [];
    for (const line of HEAD) {
      const tr = el('tr');
      for (const [text, span, cls] of line) {
        const th = el('th', cls || '', text);
        if (span > 1) th.colSpan = span;
        if (cls?.startsWith('act')) actionHeads.push(th);
        tr.appendChild(th);
      }
      thead.appendChild(tr);
    }
    const tbody = el('tbody');
    table.append(thead, tbody);
    const scroll = el('div', 'scroll');
    scroll.appendChild(table);
    section.append(head, scroll);
    const g = { name, section, tbody, rows: new Map(), summary, rps, bytes, zombies, actionHeads };
    renderActions(g);
    return g;
  }

  /** @param {Group} g @param {PeerJson} peer @returns {Row} */
  function makeRow(g, peer) {
    const tr = el('tr');
    tr.dataset.upstream = g.name;
    tr.dataset.serverId = String(peer.id);
    /** @type {Record<string, HTMLElement>} */
    const cells = {};
    for (const key of CELLS) {
      const cls =
        (key === 'name' || key === 'state' ? 'l' : '') +
        (SEP.has(key) ? ' sep' : '') +
        (key === 'name' ? ' name' : '') +
        (key === 'actions' ? ' act' : '');
      const td = el('td', cls.trim());
      cells[key] = td;
      tr.appendChild(td);
    }
    const server = el('span', '', peer.server);
    cells.name.appendChild(server);
    // A server's backup flag never changes (NGINX Plus refuses to PATCH it).
    if (peer.backup) cells.name.appendChild(el('span', 'badge', 'backup'));
    const badge = el('span', 'state');
    cells.state.appendChild(badge);
    return { tr, cells, server, badge, peer, controls: undefined };
  }

  /** Builds or removes a row's buttons as authority comes and goes. */
  /** @param {Group} g @param {Row} row */
  function renderRowActions(g, row) {
    const canWrite = authState === 'yes';
    if (!canWrite) {
      if (row.controls) {
        row.cells.actions.replaceChildren();
        row.controls = undefined;
      }
      return;
    }
    if (row.controls) return;
    const box = el('div', 'actions');
    const weight = el('input');
    weight.type = 'number';
    weight.min = '1';
    weight.step = '1';
    weight.title = 'weight';
    weight.setAttribute('aria-label', 'weight');
    weight.dataset.field = 'weight';
    const setWeight = el('button', '', 'Set');
    setWeight.title = 'set the weight';
    setWeight.type = 'button';
    setWeight.dataset.action = 'weight';
    const drain = el('button');
    drain.type = 'button';
    const down = el('button');
    down.type = 'button';
    box.append(weight, setWeight, drain, down);
    row.cells.actions.replaceChildren(box);
    const controls = { weight, setWeight, drain, down, edited: false };
    row.controls = controls;
    weight.addEventListener('input', () => (controls.edited = true));
    const submitWeight = () => {
      const w = Number(weight.value);
      if (!Number.isInteger(w) || w < 1) {
        message(`${row.peer.server}: the weight is a whole number of 1 or more`, true);
        return;
      }
      controls.edited = false;
      void patchServer(g.name, row.peer.id, row.peer.server, { weight: w }, `weight ${w}`);
    };
    setWeight.addEventListener('click', submitWeight);
    weight.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') submitWeight();
    });
    drain.addEventListener('click', () => {
      const on = drain.dataset.action === 'drain';
      void patchServer(
        g.name,
        row.peer.id,
        row.peer.server,
        { drain: on },
        on ? 'draining' : 'no longer draining',
      );
    });
    down.addEventListener('click', () => {
      const on = down.dataset.action === 'down';
      void patchServer(g.name, row.peer.id, row.peer.server, { down: on }, on ? 'marked down' : 'marked up');
    });
    updateControls(row);
  }

  /** @param {Group} g */
  function renderActions(g) {
    const canWrite = authState === 'yes';
    for (const th of g.actionHeads) th.hidden = !canWrite;
    for (const row of g.rows.values()) {
      row.cells.actions.hidden = !canWrite;
      renderRowActions(g, row);
    }
  }

  /** @param {Row} row */
  function updateControls(row) {
    const c = row.controls;
    if (!c) return;
    const p = row.peer;
    if (!c.edited && document.activeElement !== c.weight && c.weight.value !== String(p.weight)) {
      c.weight.value = String(p.weight);
    }
    const draining = p.state === 'draining';
    c.drain.dataset.action = draining ? 'undrain' : 'drain';
    set(c.drain, draining ? 'Undrain' : 'Drain');
    const isDown = p.state === 'down';
    c.down.dataset.action = isDown ? 'up' : 'down';
    set(c.down, isDown ? 'Up' : 'Down');
    c.down.title = isDown ? 'mark the server up' : 'mark the server down';
    c.drain.title = draining ? 'end draining' : 'drain: bound sessions stay, new ones go elsewhere';
  }

  /** @type {Map<string, { value: number, at: number }>} */
  const previous = new Map();

  /** Per-second rate of a counter since the previous poll; undefined on the first. */
  /** @param {string} key @param {number | undefined} value @param {number} now */
  function perSecond(key, value, now) {
    if (value === undefined) return undefined;
    const before = previous.get(key);
    previous.set(key, { value, at: now });
    if (!before || now <= before.at) return undefined;
    return Math.max(0, value - before.value) / ((now - before.at) / 1000);
  }

  /** @param {Group} g @param {Row} row @param {PeerJson} peer @param {number} now */
  function updateRow(g, row, peer, now) {
    row.peer = peer;
    const c = row.cells;
    const key = `${g.name}\u0000${peer.id}\u0000`;
    set(row.server, peer.server);
    row.tr.dataset.state = peer.state;
    row.badge.dataset.state = peer.state;
    set(row.badge, peer.state);
    set(c.weight, num(peer.weight));
    set(
      c.active,
      (peer.max_conns ?? 0) > 0 ? `${num(peer.active)} / ${num(peer.max_conns)}` : num(peer.active),
    );
    set(c.requests, num(peer.requests));
    const rps = perSecond(`${key}requests`, peer.requests, now);
    set(c.rps, rate(rps));
    /** @type {Record<string, number>} */
    const r = peer.responses || {};
    set(c.r1, num(r['1xx']));
    set(c.r2, num(r['2xx']));
    set(c.r3, num(r['3xx']));
    set(c.r4, num(r['4xx']));
    setClass(c.r4, r['4xx'] > 0 ? 'warn' : '');
    set(c.r5, num(r['5xx']));
    setClass(c.r5, r['5xx'] > 0 ? 'bad' : '');
    set(c.header, num(peer.header_time));
    set(c.response, num(peer.response_time));
    /** @type {HealthChecksJson} */
    const hc = peer.health_checks || {};
    set(c.checks, num(hc.checks));
    set(c.hcFails, num(hc.fails));
    set(c.unhealthy, num(hc.unhealthy));
    set(c.last, hc.last_passed === undefined ? '–' : hc.last_passed ? '✓ passed' : '✗ failed');
    setClass(c.last, hc.last_passed === undefined ? 'dim' : hc.last_passed ? 'good' : 'bad');
    set(c.fails, num(peer.fails));
    set(c.unavail, num(peer.unavail));
    set(c.downtime, duration(peer.downtime));
    updateControls(row);
    return {
      rps,
      sent: perSecond(`${key}sent`, peer.sent, now),
      received: perSecond(`${key}received`, peer.received, now),
    };
  }

  /** @param {Record<string, UpstreamJson>} upstreams @param {number} now */
  function renderGroups(upstreams, now) {
    const box = $('groups');
    const names = Object.keys(upstreams);
    for (const [name, g] of groups) {
      if (!(name in upstreams)) {
        g.section.remove();
        groups.delete(name);
      }
    }
    /** @type {Record<string, number>} */
    const counts = { total: 0 };
    for (const s of STATES) counts[s] = 0;
    names.forEach((name, i) => {
      let g = groups.get(name);
      if (!g) {
        g = makeGroup(name);
        groups.set(name, g);
      }
      if (box.children[i] !== g.section) box.insertBefore(g.section, box.children[i] || null);
      const data = upstreams[name];
      const peers = Array.isArray(data.peers) ? data.peers : [];
      const seen = new Set();
      let groupRps = 0;
      let groupSent = 0;
      let groupReceived = 0;
      let measured = false;
      /** @type {Record<string, number>} */
      const here = {};
      peers.forEach((peer, j) => {
        seen.add(peer.id);
        let row = g.rows.get(peer.id);
        if (!row) {
          row = makeRow(g, peer);
          g.rows.set(peer.id, row);
          row.cells.actions.hidden = authState !== 'yes';
          renderRowActions(g, row);
        }
        if (g.tbody.children[j] !== row.tr) g.tbody.insertBefore(row.tr, g.tbody.children[j] || null);
        const rates = updateRow(g, row, peer, now);
        if (rates.rps !== undefined) {
          groupRps += rates.rps;
          groupSent += rates.sent ?? 0;
          groupReceived += rates.received ?? 0;
          measured = true;
        }
        here[peer.state] = (here[peer.state] || 0) + 1;
        counts[peer.state] = (counts[peer.state] || 0) + 1;
        counts.total++;
      });
      for (const [id, row] of g.rows) {
        if (!seen.has(id)) {
          row.tr.remove();
          g.rows.delete(id);
        }
      }
      g.summary.replaceChildren();
      for (const s of STATES) {
        if (!here[s]) continue;
        const part = el('span', 'part');
        part.append(el('span', `dot ${s === 'up' ? 'up' : BAD.has(s) ? 'bad' : 'other'}`), `${here[s]} ${s}`);
        g.summary.appendChild(part);
      }
      set(g.rps, `${measured ? rate(groupRps) : '–'} req/s`);
      set(g.bytes, measured ? `sent ${byteRate(groupSent)} · received ${byteRate(groupReceived)}` : '');
      set(g.zombies, data.zombies > 0 ? `${num(data.zombies)} zombie${data.zombies === 1 ? '' : 's'}` : '');
    });
    $('no-groups').hidden = names.length > 0;
    set($('peers-up'), num(counts.up));
    set($('peers-total'), `/ ${num(counts.total)} up`);
    const problems = $('peers-problems');
    const parts = [];
    for (const s of STATES) {
      if (s === 'up' || !((counts[s] ?? 0) > 0)) continue;
      if (parts.length > 0) parts.push(' · ');
      parts.push(el('span', BAD.has(s) ? 'bad' : 'warn', `${counts[s]} ${s}`));
    }
    if (parts.length === 0) parts.push('all servers up');
    const text = parts.map((p) => (typeof p === 'string' ? p : p.textContent)).join('');
    if (problems.textContent !== text) problems.replaceChildren(...parts);
  }

  // ---- caches --------------------------------------------------------------------------

  const HIT = ['hit', 'stale', 'updating', 'revalidated'];
  const MISS = ['miss', 'expired', 'bypass'];
  /** A cache zone's count of responses with outcome `k`. */
  const responses = (/** @type {CacheJson} */ z, /** @type {string} */ k) => {
    const outcome = /** @type {{ responses?: unknown } | undefined} */ (z[k]);
    return outcome && typeof outcome.responses === 'number' ? outcome.responses : 0;
  };

  /** @param {Record<string, CacheJson>} caches */
  function renderCaches(caches) {
    const names = Object.keys(caches);
    $('caches').hidden = names.length === 0;
    $('cache-tile').hidden = names.length === 0;
    let allHits = 0;
    let all = 0;
    const rows = names.map((name) => {
      const z = caches[name];
      const hits = HIT.reduce((n, k) => n + responses(z, k), 0);
      const total = hits + MISS.reduce((n, k) => n + responses(z, k), 0);
      allHits += hits;
      all += total;
      const ratio = total === 0 ? undefined : hits / total;
      const tr = el('tr');
      tr.dataset.cache = name;
      tr.appendChild(el('td', 'l name', name));
      tr.appendChild(el('td', 'l', z.cold ? 'cold' : 'warm'));
      tr.appendChild(el('td', '', bytes(z.size)));
      tr.appendChild(el('td', '', z.max_size > 0 ? bytes(z.max_size) : '–'));
      const cell = el('td', 'sep');
      const bar = el('span', 'ratio');
      const fill = el('i');
      fill.style.width = ratio === undefined ? '0' : `${(ratio * 100).toFixed(1)}%`;
      bar.appendChild(fill);
      const value = el('span', 'hit-ratio', pct(ratio));
      cell.append(bar, value);
      tr.appendChild(cell);
      for (const k of HIT.concat(MISS))
        tr.appendChild(el('td', k === 'hit' || k === 'miss' ? 'sep' : '', num(responses(z, k))));
      return tr;
    });
    $('cache-rows').replaceChildren(...rows);
    set($('cache-ratio'), pct(all === 0 ? undefined : allHits / all));
    set($('cache-counts'), `${num(allHits)} of ${num(all)} responses from cache`);
  }

  // ---- limits --------------------------------------------------------------------------

  /** One row per zone: limit_req zones first, then limit_conn (which never delays). */
  /** @param {Record<string, LimitJson>} reqs @param {Record<string, LimitJson>} conns @param {number} now */
  function renderLimits(reqs, conns, now) {
    /** @type {HTMLElement[]} */
    const rows = [];
    /** @param {string} directive @param {string} name @param {LimitJson} z */
    const add = (directive, name, z) => {
      const tr = el('tr');
      tr.dataset.limit = directive;
      tr.dataset.zone = name;
      tr.appendChild(el('td', 'l name', name));
      tr.appendChild(el('td', 'l', directive));
      tr.appendChild(el('td', 'sep', num(z.passed)));
      tr.appendChild(el('td', '', directive === 'limit_req' ? num(z.delayed) : '–'));
      tr.appendChild(el('td', (z.rejected ?? 0) > 0 ? 'warn' : '', num(z.rejected)));
      tr.appendChild(el('td', '', rate(perSecond(`${directive}\u0000${name}`, z.rejected, now))));
      rows.push(tr);
    };
    for (const name of Object.keys(reqs)) add('limit_req', name, reqs[name] || {});
    for (const name of Object.keys(conns)) add('limit_conn', name, conns[name] || {});
    $('limits').hidden = rows.length === 0;
    $('limit-rows').replaceChildren(...rows);
  }

  // ---- the whole page ------------------------------------------------------------------

  /** Requests per second, the last {@link HISTORY} polls. @type {number[]} */
  const history = [];

  function drawSpark() {
    const canvas = /** @type {HTMLCanvasElement} */ ($('spark'));
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
    if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (history.length < 2) return;
    const max = Math.max(1, ...history);
    const step = w / (HISTORY - 1);
    const x0 = w - (history.length - 1) * step;
    ctx.beginPath();
    history.forEach((v, i) => {
      const x = x0 + i * step;
      const y = h - 2 - (v / max) * (h - 4);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.strokeStyle = '#1e9e4a';
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.lineTo(x0 + (history.length - 1) * step, h);
    ctx.lineTo(x0, h);
    ctx.closePath();
    ctx.fillStyle = 'rgba(30, 158, 74, 0.12)';
    ctx.fill();
  }

  /**
   * @param {NginxJson} nginx
   * @param {ConnectionsJson} connections
   * @param {RequestsJson} requests
   * @param {number} now
   */
  function renderTop(nginx, connections, requests, now) {
    const parts = [];
    if (nginx.address) parts.push(nginx.address);
    if (nginx.version) parts.push(`version ${nginx.version}`);
    const up = Date.parse(nginx.timestamp) - Date.parse(nginx.load_timestamp);
    if (Number.isFinite(up)) parts.push(`up ${duration(up)}`);
    parts.push(`pid ${nginx.pid}`);
    set($('meta'), parts.join(' · '));
    set($('conn-active'), num(connections.active));
    set($('conn-idle'), num(connections.idle));
    set($('conn-accepted'), num(connections.accepted));
    set($('conn-rate'), rate(perSecond('connections', connections.accepted, now)));
    set($('conn-dropped'), num(connections.dropped));
    set($('req-total'), num(requests.total));
    set($('req-current'), num(requests.current));
    const rps = perSecond('requests', requests.total, now);
    set($('req-rate'), rate(rps));
    if (rps !== undefined) {
      history.push(rps);
      if (history.length > HISTORY) history.shift();
    }
    drawSpark();
  }

  /** @param {boolean} ok @param {string} text */
  function live(ok, text) {
    const l = $('live');
    setClass(l, ok ? 'live ok' : 'live err');
    set(l, text);
  }

  let timer = 0;
  let busy = false;
  let again = false;
  /** The last poll failed: its error is showing. */
  let unreachable = false;

  async function poll() {
    clearTimeout(timer);
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    const started = performance.now();
    try {
      const results = await Promise.allSettled([
        getJson('nginx'),
        getJson('connections'),
        getJson('http/requests'),
        getJson('http/upstreams'),
        getJson('http/caches'),
        getJson('http/limit_reqs'),
        getJson('http/limit_conns'),
      ]);
      // The first read that failed in this order, not the first to fail in time: the
      // message stays the same from one poll to the next.
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const [nginx, connections, requests, upstreams, caches, limitReqs, limitConns] = results.map(
        (r) => /** @type {PromiseFulfilledResult<any>} */ (r).value,
      );
      const now = performance.now();
      renderTop(nginx, connections, requests, now);
      renderGroups(upstreams, now);
      renderCaches(caches);
      renderLimits(limitReqs, limitConns, now);
      live(true, `live · ${new Date().toLocaleTimeString('en-GB')}`);
      $('main').classList.remove('stale');
      if (unreachable) {
        unreachable = false;
        $('msg').hidden = true;
      }
      if (authState === 'unknown') void checkAuth(false);
    } catch (err) {
      live(false, 'API unreachable');
      $('main').classList.add('stale');
      unreachable = true;
      const e = /** @type {{ message?: unknown } | null | undefined} */ (err);
      message(`Cannot read the API: ${e?.message ? e.message : String(err)}`, true);
    } finally {
      busy = false;
      const wait = again ? 0 : Math.max(0, POLL_MS - (performance.now() - started));
      again = false;
      timer = setTimeout(poll, wait);
    }
  }

  /** Polls now, e.g. right after a change. */
  function refresh() {
    void poll();
  }

  /** @type {HTMLAnchorElement} */ ($('api-link')).href = `${base}api/9/http/upstreams`;
  /** @type {HTMLAnchorElement} */ ($('metrics-link')).href = `${base}metrics`;
  // The metrics are served only when the API was given them: link them once they answer.
  fetch(`${base}metrics`, { method: 'HEAD' }).then(
    (r) => {
      $('metrics-part').hidden = !r.ok;
    },
    () => {},
  );
  void poll();
})();
