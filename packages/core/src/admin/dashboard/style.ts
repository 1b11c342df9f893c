/**
 * The dashboard's stylesheet. Peer state colours: up green, unhealthy and unavail red,
 * draining amber, down grey, checking blue.
 */
export const DASHBOARD_CSS = `
:root {
  --bg: #f3f5f7; --card: #fff; --ink: #1d2329; --muted: #68717c; --line: #e1e5ea;
  --head: #1f2a33; --head-ink: #e9eef2; --accent: #159650;
  --up: #1e9e4a; --bad: #d4333b; --drain: #e08600; --down: #7c848e; --checking: #2d7dd2;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
.top {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px 20px;
  padding: 10px 20px; background: var(--head); color: var(--head-ink);
}
.brand { font-size: 17px; font-weight: 600; letter-spacing: .02em; display: flex; align-items: center; gap: 8px; }
.logo { width: 14px; height: 14px; border-radius: 3px; background: var(--accent); box-shadow: 5px 5px 0 -1px #0b5c30; }
.meta { color: #a9b4be; font-size: 12px; }
.grow { flex: 1; }
.live { font-size: 12px; padding: 2px 9px; border-radius: 10px; background: #37424c; white-space: nowrap; }
.live.ok { background: #14532d; color: #c9f5d9; }
.live.err { background: #7f1d1d; color: #fde2e2; }
.auth { display: flex; align-items: center; gap: 6px; font-size: 12px; }
.auth input { width: 190px; padding: 4px 7px; border: 1px solid #4b5866; border-radius: 4px; background: #2b3741; color: var(--head-ink); }
.auth-note { color: #a9b4be; font-size: 12px; }
button {
  font: inherit; font-size: 12px; padding: 2px 8px; border-radius: 4px; cursor: pointer;
  border: 1px solid #b9c1ca; background: #fff; color: var(--ink);
}
button:hover { border-color: #7d8895; }
button:disabled { opacity: .5; cursor: default; }
.top button { background: #2f3b46; color: var(--head-ink); border-color: #4b5866; }
.msg { padding: 7px 20px; font-size: 12px; border-bottom: 1px solid var(--line); background: #eef8f1; color: #0f5a2c; }
.msg.err { background: #fdecec; color: #8c1d23; }
main { padding: 16px 20px 8px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; margin-bottom: 16px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; position: relative; }
.tile h3 { margin: 0 0 4px; font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); font-weight: 600; }
.big { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.big small { font-size: 12px; font-weight: 400; color: var(--muted); margin-left: 4px; }
.kv { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.kv b { color: var(--ink); font-weight: 600; }
canvas.spark { position: absolute; right: 12px; top: 12px; width: 110px; height: 34px; }
.group, .caches, .limits { background: var(--card); border: 1px solid var(--line); border-radius: 6px; margin-bottom: 16px; }
.group-head { display: flex; align-items: baseline; flex-wrap: wrap; gap: 6px 16px; padding: 10px 14px; border-bottom: 1px solid var(--line); }
.group-head h2, .caches h2, .limits h2 { margin: 0; font-size: 15px; }
.caches h2, .limits h2 { padding: 10px 14px; border-bottom: 1px solid var(--line); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 4px; text-align: right; white-space: nowrap; border-bottom: 1px solid var(--line); }
th:first-child, td:first-child { padding-left: 10px; }
th:last-child, td:last-child { padding-right: 10px; }
th { font-size: 11px; font-weight: 600; color: var(--muted); background: #fafbfc; }
thead tr:first-child th { border-bottom: 0; padding-bottom: 0; }
th.sep, td.sep { border-left: 1px solid var(--line); }
th.l, td.l { text-align: left; }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:hover td { background: #f8fafb; }
td.name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.badge { display: inline-block; margin-left: 6px; padding: 0 5px; border-radius: 3px; font: 10px/16px system-ui, sans-serif; background: #e8ebef; color: var(--muted); text-transform: uppercase; }
.state { display: inline-block; min-width: 64px; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 11px; font-weight: 600; text-align: center; background: var(--down); }
.state[data-state="up"] { background: var(--up); }
.state[data-state="unhealthy"], .state[data-state="unavail"] { background: var(--bad); }
.state[data-state="draining"] { background: var(--drain); }
.state[data-state="down"] { background: var(--down); }
.state[data-state="checking"] { background: var(--checking); }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 4px; background: var(--down); }
.dot.up { background: var(--up); } .dot.bad { background: var(--bad); } .dot.other { background: var(--drain); }
.warn { color: #b45f00; font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.good { color: var(--up); }
.dim { color: var(--muted); }
.actions { display: flex; gap: 4px; justify-content: flex-end; align-items: center; }
.actions button { padding: 2px 6px; }
.actions button[data-action="drain"], .actions button[data-action="undrain"] { min-width: 60px; }
.actions button[data-action="down"], .actions button[data-action="up"] { min-width: 46px; }
.actions input { width: 44px; padding: 2px 4px; border: 1px solid #b9c1ca; border-radius: 4px; font: inherit; font-size: 12px; text-align: right; }
.ratio { display: inline-block; width: 90px; height: 8px; border-radius: 4px; background: #eceff2; vertical-align: middle; margin-right: 6px; overflow: hidden; }
.ratio i { display: block; height: 100%; background: var(--up); }
.part { margin-right: 12px; }
main.stale { opacity: .55; }
.empty { padding: 30px; text-align: center; color: var(--muted); }
footer { padding: 4px 20px 16px; color: var(--muted); font-size: 12px; }
footer a { color: inherit; }
[hidden] { display: none !important; }
`;
