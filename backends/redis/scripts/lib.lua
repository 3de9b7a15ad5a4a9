-- lib.lua is the library of every Sluice script. The Go side (loadScript)
-- runs one algorithm's file after the prelude below and only the sections
-- of this file that the script uses: a section starts with a line "--@"
-- naming what it defines, and is included when the algorithm's file or an
-- included section names one of those. The whole file is also valid Lua.
--
-- The arithmetic is that of github.com/sluicehq/sluice/core/internal/algo,
-- integer-exact, in nanoseconds.
--
-- Lua numbers are doubles, exact for integers below 2^53. Unix nanoseconds
-- are larger, so an absolute time is a pair (u, n): u whole microseconds
-- (below 2^53 until the year 2255) and n nanoseconds, 0 to 999. Redis stores
-- it as its decimal nanosecond string. A duration is a plain number of
-- nanoseconds, exact below 2^53 ns (104 days); the caller's now is the
-- origin of every relative time. Products of a count and a duration, which
-- exceed 2^53 for long windows with large limits, go through muldiv.
--
-- ARGV: now_u now_n slack cost extra, then limit period burst per window
-- (window i at ARGV[3*i + 3]). now_u is empty to read the server's clock.
-- slack is milliseconds added to every expiry (0 in production; tests on a
-- frozen clock set it). extra is the token bucket's max delay or the
-- concurrency lease. KEYS: one key per window.
--
-- Every script returns {allowed, delay, then remaining, reset_after,
-- retry_after, next_after per window}, durations in nanoseconds; the token
-- bucket's adds a refund total per window when one has one.
--
-- Numeric arguments and replies are read as s + 0, Lua's own coercion of a
-- decimal string, which is tonumber without the cost of a function call.
--
-- Redis runs the whole chunk on every call, so every function defined here
-- is a closure allocated per call: the scripts inline their hot path's
-- arithmetic, keep per-window results in locals rather than tables when
-- there is one window, and call these helpers off it.

if redis.replicate_commands then redis.replicate_commands() end

--@ BIG
local BIG = 9007199254740992 -- 2^53

--@ fmod
local fmod = math.fmod

--@ mulsmall
-- mulsmall returns q and r with x*y = q*d + r, for 0 <= x, y < d < 2^53:
-- binary long multiplication that keeps every intermediate below 2^53.
local function mulsmall(x, y, d)
  if x * y < BIG then
    local p = x * y
    local r = fmod(p, d)
    return (p - r) / d, r
  end
  local bits, nb = {}, 0
  while y > 0 do
    local bit = fmod(y, 2)
    nb = nb + 1
    bits[nb] = bit
    y = (y - bit) / 2
  end
  local q, r = 0, 0
  for i = nb, 1, -1 do
    q = q * 2
    if r >= d - r then r, q = r - (d - r), q + 1 else r = r + r end
    if bits[i] == 1 then
      if r >= d - x then r, q = r - (d - x), q + 1 else r = r + x end
    end
  end
  return q, r
end

--@ muldiv
-- muldiv returns floor(a*b/d) and whether the division leaves a remainder,
-- for integers 0 <= a, b < 2^53 and 0 < d < 2^53. A quotient of 2^53 or more
-- is returned as BIG.
local function muldiv(a, b, d)
  local p = a * b
  if p < BIG then -- the product is exact
    local r = fmod(p, d)
    return (p - r) / d, r > 0
  end
  local ra, rb = fmod(a, d), fmod(b, d)
  local qa, qb = (a - ra) / d, (b - rb) / d
  -- a*b = d*(qa*b + ra*qb) + ra*rb
  local q = qa * b + ra * qb
  if q >= BIG then return BIG, true end
  local q2, r = mulsmall(ra, rb, d)
  q = q + q2
  if q >= BIG then return BIG, true end
  return q, r > 0
end

--@ ceil_muldiv
-- ceil_muldiv returns ceil(a*b/d), saturating at BIG.
local function ceil_muldiv(a, b, d)
  local q, rem = muldiv(a, b, d)
  if rem and q < BIG then q = q + 1 end
  return q
end

--@ time_mod
-- time_mod returns (u*1000 + n) mod p for a time (u, n) and 0 < p < 2^53.
local function time_mod(u, n, p)
  local a = fmod(u, p) * 1000
  local r
  if a < BIG then
    r = fmod(a, p)
  else
    local _
    _, r = mulsmall(fmod(u, p), fmod(1000, p), p)
  end
  r = fmod(r + n, p)
  if r < 0 then r = r + p end
  return r
end

--@ parse_time
-- parse_time reads the time whose decimal nanoseconds are the first j bytes
-- of s (all of s by default).
local function parse_time(s, j)
  j = j or #s
  if j <= 3 then return 0, string.sub(s, 1, j) + 0 end
  -- The last three digits by their bytes ('0' is 48; 48*111 = 5328).
  local a, b, c = string.byte(s, j - 2, j)
  return string.sub(s, 1, j - 3) + 0, a * 100 + b * 10 + c - 5328
end

--@ format_time
-- format_time writes a time as its decimal nanoseconds. Whole numbers that
-- may exceed 2^31 are written with %.0f: %d, though faster, casts to a C
-- long, which is 32 bits on some platforms Redis builds for.
local function format_time(u, n)
  if u == 0 then return string.format('%d', n) end
  return string.format('%.0f%03d', u, n)
end

--@ add
-- add returns the time d nanoseconds after (u, n).
local function add(u, n, d)
  local t = n + d
  local r = fmod(t, 1000)
  if r < 0 then r = r + 1000 end
  return u + (t - r) / 1000, r
end

--@ parse_entry
-- parse_entry reads "time" or "time:count" (a count of 1 is left out). It
-- is parse_time inlined: a script calls it once per lease or log entry.
local function parse_entry(s)
  local i = string.find(s, ':', 1, true)
  local j, count = #s, 1
  if i then j, count = i - 1, string.sub(s, i + 1) + 0 end
  if j <= 3 then return 0, string.sub(s, 1, j) + 0, count end
  local a, b, c = string.byte(s, j - 2, j)
  return string.sub(s, 1, j - 3) + 0, a * 100 + b * 10 + c - 5328, count
end

--@ format_entry
local function format_entry(u, n, count)
  if count == 1 then return format_time(u, n) end
  if u == 0 then return string.format('%d:%.0f', n, count) end
  return string.format('%.0f%03d:%.0f', u, n, count)
end

--@ read_now
-- read_now returns the caller's time, or the server's when ARGV[1] is
-- empty, as (micros, nanos).
local function read_now()
  if ARGV[1] == '' then
    local t = redis.call('TIME')
    return t[1] * 1000000 + t[2], 0
  end
  return ARGV[1] + 0, ARGV[2] + 0
end

--@ now_u now_n
local now_u, now_n = read_now()

--@ slack
local slack = ARGV[3] + 0

--@ ttl
-- ttl returns the milliseconds a key must live to outlast d nanoseconds.
local function ttl(d)
  local r = fmod(d, 1000000)
  if r < 0 then r = r + 1000000 end
  if r > 0 then return (d - r) / 1000000 + 1 + slack end
  return (d - r) / 1000000 + slack
end

--@ charge_windows
-- charge_windows answers for a script whose window i is decided by f(i),
-- which returns ok, remaining, reset, retry and next before the charge,
-- then left, rel, lnext and val after it: the count left, the nanoseconds
-- until the window is empty, until it has one unit more, and the value to
-- store. The request is admitted when every window admits it; unless it is
-- a peek, each key is then set to its val for ttl(rel). One window, the
-- common case, builds no table but the reply.
local function charge_windows(f, peek)
  local nk = #KEYS
  if nk == 1 then
    local ok, remaining, reset, retry, next, left, rel, lnext, val = f(1)
    if not ok then return {0, 0, remaining, reset, retry, next} end
    if peek then return {1, 0, remaining, reset, 0, next} end
    redis.call('SET', KEYS[1], val, 'PX', ttl(rel))
    return {1, 0, left, rel, 0, lnext}
  end
  -- Several windows: out holds the results before the charge, st the
  -- charged state of each window.
  local out, st = {0, 0}, {}
  local ok = true
  for i = 1, nk do
    local oki, remaining, reset, retry, next, left, rel, lnext, val = f(i)
    local o = 4 * i - 1
    out[o], out[o + 1], out[o + 2], out[o + 3] = remaining, reset, retry, next
    if not oki then ok = false end
    local j = 4 * i
    st[j - 3], st[j - 2], st[j - 1], st[j] = left, rel, lnext, val
  end
  if not ok then return out end
  out[1] = 1
  if peek then return out end
  for i = 1, nk do
    local j = 4 * i
    redis.call('SET', KEYS[i], st[j], 'PX', ttl(st[j - 2]))
    local o = 4 * i - 1
    out[o], out[o + 1], out[o + 2], out[o + 3] = st[j - 3], st[j - 2], 0, st[j - 1]
  end
  return out
end

--@ del_many
-- del_many deletes members or fields in batches below Lua's unpack limit.
local function del_many(cmd, key, list)
  for i = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end
