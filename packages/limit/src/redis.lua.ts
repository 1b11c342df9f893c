/**
 * The Lua scripts of the Redis stores: each check runs whole inside Redis, atomically, in
 * one round trip (`EVALSHA`). Numbers travel as decimal strings; every value is an
 * integer (excess in thousandths of a request, time in ms, rate in thousandths of a
 * request per second), so Lua's doubles compute nginx's integer arithmetic exactly.
 */

/**
 * nginx's `limit_req` over several zones: `ngx_http_limit_req_handler` with
 * `ngx_http_limit_req_lookup` and `ngx_http_limit_req_account` (nginx 1.22).
 *
 * - `KEYS[i]`: zone i's key, holding `"<excess>:<last>"`.
 * - `ARGV[1]`: now in ms, or `''` for Redis's clock (`TIME`, shared by every process).
 * - `ARGV[2]`: ms a key outlives its drain time.
 * - `ARGV[3i]`, `ARGV[3i+1]`, `ARGV[3i+2]`: zone i's rate, burst and delay, thousandths.
 *
 * Replies `{1, zone, excess}` when a zone refused (nothing written), or
 * `{0, delayMs, zone, excess}` once every zone is stored.
 */
export const RATE_SCRIPT = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local margin = tonumber(ARGV[2])
local n = #KEYS
local excess, last = {}, {}
-- lookup: every zone in order; the first over its burst refuses and nothing is written.
for i = 1, n do
  local rate = tonumber(ARGV[3 * i])
  local e, l = 0, now
  local stored = redis.call('GET', KEYS[i])
  if stored then
    local sep = string.find(stored, ':', 1, true)
    local se = tonumber(string.sub(stored, 1, sep - 1))
    local sl = tonumber(string.sub(stored, sep + 1))
    -- a clock that went back up to a minute drains nothing; further back, 1 ms.
    local ms = now - sl
    if ms < -60000 then ms = 1 elseif ms < 0 then ms = 0 end
    e = se - math.floor(rate * ms / 1000) + 1000
    if e < 0 then e = 0 end
    if e > tonumber(ARGV[3 * i + 1]) then return {1, i - 1, e} end
    -- if (ms) lr->last = now;
    if ms == 0 then l = sl end
  end
  excess[i], last[i] = e, l
end
-- account: every zone stored; the longest delay wins, the last zone's first, then from
-- the end, a tie keeping the later zone (delay > max_delay).
local delayMs, zone, out = 0, -1, excess[n]
for i = n, 1, -1 do
  local rate = tonumber(ARGV[3 * i])
  local delay = tonumber(ARGV[3 * i + 2])
  local e = excess[i]
  -- Once (e + 1000) * 1000 / rate ms pass, the key drains to what a new one would be.
  local ttl = math.floor((e + 1000) * 1000 / rate) + 1 + margin
  redis.call('SET', KEYS[i], string.format('%.0f:%.0f', e, last[i]), 'PX', string.format('%.0f', ttl))
  if e > delay then
    local d = math.floor((e - delay) * 1000 / rate)
    if d > delayMs then delayMs, zone, out = d, i - 1, e end
  end
end
return {0, delayMs, zone, out}
`;

/**
 * nginx's `limit_conn` acquire (`ngx_http_limit_conn_handler`): one slot per zone in
 * order; the first full zone gives back the slots taken (`ngx_http_limit_conn_cleanup_all`).
 *
 * - `KEYS[i]`: zone i's counter.
 * - `ARGV[1]`: the counters' TTL, ms, refreshed on each acquire.
 * - `ARGV[i+1]`: zone i's max.
 *
 * Replies the 0-based index of the full zone, or -1.
 */
export const ACQUIRE_SCRIPT = `
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) > tonumber(ARGV[i + 1]) then
    for j = i, 1, -1 do
      if redis.call('DECR', KEYS[j]) <= 0 then redis.call('DEL', KEYS[j]) end
    end
    return i - 1
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return -1
`;

/**
 * nginx's `limit_conn` release (`ngx_http_limit_conn_cleanup`): one slot back per zone; a
 * counter at 0 (or below, when its TTL had removed it) is deleted. Replies 0.
 */
export const RELEASE_SCRIPT = `
for i = 1, #KEYS do
  if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return 0
`;

/**
 * `limit_req` and then, unless a zone refused, `limit_conn`'s acquire, in one round trip:
 * the two scripts above as functions over their own `KEYS` and `ARGV`.
 *
 * - `ARGV[1]`: how many of `KEYS` are the rate script's (the rest are the acquire's).
 * - `ARGV[2]`: how many of the following `ARGV` are the rate script's (the rest the acquire's).
 *
 * Replies the rate script's reply; when it passed, with the acquire's reply appended.
 */
export const RATE_ACQUIRE_SCRIPT = `
local function rate(KEYS, ARGV)
${RATE_SCRIPT}
end
local function acquire(KEYS, ARGV)
${ACQUIRE_SCRIPT}
end
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local rk, ra, ck, ca = {}, {}, {}, {}
for i = 1, #KEYS do
  if i <= nk then rk[#rk + 1] = KEYS[i] else ck[#ck + 1] = KEYS[i] end
end
for i = 3, #ARGV do
  if i - 2 <= na then ra[#ra + 1] = ARGV[i] else ca[#ca + 1] = ARGV[i] end
end
local r = rate(rk, ra)
if r[1] == 1 then return r end
r[#r + 1] = acquire(ck, ca)
return r
`;
