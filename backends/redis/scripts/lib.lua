-- lib.lua is the prelude of every Sluice script: the Go side runs it
-- followed by one algorithm's file, as one script.
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
-- ARGV: now_u now_n slack cost extra, then limit period burst per window.
-- now_u is empty to read the server's clock. slack is milliseconds added to
-- every expiry (0 in production; tests on a frozen clock set it). extra is
-- the token bucket's max delay or the concurrency lease. KEYS: one key per
-- window.
--
-- Every script returns {allowed, delay, then remaining, reset_after,
-- retry_after per window}, durations in nanoseconds.

if redis.replicate_commands then redis.replicate_commands() end

local BIG = 9007199254740992 -- 2^53

local function fmod_pos(a, b)
  local r = math.fmod(a, b)
  if r < 0 then r = r + b end
  return r
end

local function floordiv(a, b)
  local r = fmod_pos(a, b)
  return (a - r) / b
end

local function ceildiv(a, b)
  local r = fmod_pos(a, b)
  local q = (a - r) / b
  if r > 0 then q = q + 1 end
  return q
end

-- mulsmall returns q and r with x*y = q*d + r, for 0 <= x, y < d < 2^53:
-- binary long multiplication that keeps every intermediate below 2^53.
local function mulsmall(x, y, d)
  if x * y < BIG then
    local p = x * y
    local r = math.fmod(p, d)
    return (p - r) / d, r
  end
  local bits, nb = {}, 0
  while y > 0 do
    local bit = math.fmod(y, 2)
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

-- muldiv returns floor(a*b/d) and whether the division leaves a remainder,
-- for integers 0 <= a, b < 2^53 and 0 < d < 2^53. A quotient of 2^53 or more
-- is returned as BIG.
local function muldiv(a, b, d)
  local p = a * b
  if p < BIG then -- the product is exact
    local r = math.fmod(p, d)
    return (p - r) / d, r > 0
  end
  local ra, rb = math.fmod(a, d), math.fmod(b, d)
  local qa, qb = (a - ra) / d, (b - rb) / d
  -- a*b = d*(qa*b + ra*qb) + ra*rb
  local q = qa * b + ra * qb
  if q >= BIG then return BIG, true end
  local q2, r = mulsmall(ra, rb, d)
  q = q + q2
  if q >= BIG then return BIG, true end
  return q, r > 0
end

-- ceil_muldiv returns ceil(a*b/d), saturating at BIG.
local function ceil_muldiv(a, b, d)
  local q, rem = muldiv(a, b, d)
  if rem and q < BIG then q = q + 1 end
  return q
end

-- time_mod returns (u*1000 + n) mod p for a time (u, n) and 0 < p < 2^53.
local function time_mod(u, n, p)
  local a = math.fmod(u, p)
  local r
  if a * 1000 < BIG then
    r = math.fmod(a * 1000, p)
  else
    local _
    _, r = mulsmall(a, math.fmod(1000, p), p)
  end
  return fmod_pos(r + n, p)
end

local function parse_time(s)
  local len = #s
  if len <= 3 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, len - 3)), tonumber(string.sub(s, len - 2))
end

local function format_time(u, n)
  if u == 0 then return string.format('%d', n) end
  return string.format('%.0f%03d', u, n)
end

-- since returns the time from (nu, nn) to (u, n) in nanoseconds.
local function since(u, n, nu, nn)
  return (u - nu) * 1000 + (n - nn)
end

-- add returns the time d nanoseconds after (u, n).
local function add(u, n, d)
  local t = n + d
  local r = fmod_pos(t, 1000)
  return u + (t - r) / 1000, r
end

local function same_time(u1, n1, u2, n2)
  return u1 == u2 and n1 == n2
end

local function later(u1, n1, u2, n2)
  return u1 > u2 or (u1 == u2 and n1 > n2)
end

-- parse_entry reads "time" or "time:count" (a count of 1 is left out).
local function parse_entry(s)
  local i = string.find(s, ':', 1, true)
  if not i then
    local u, n = parse_time(s)
    return u, n, 1
  end
  local u, n = parse_time(string.sub(s, 1, i - 1))
  return u, n, tonumber(string.sub(s, i + 1))
end

local function format_entry(u, n, count)
  if count == 1 then return format_time(u, n) end
  return format_time(u, n) .. ':' .. string.format('%.0f', count)
end

local now_u, now_n
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now_u, now_n = tonumber(t[1]) * 1000000 + tonumber(t[2]), 0
else
  now_u, now_n = tonumber(ARGV[1]), tonumber(ARGV[2])
end
local slack = tonumber(ARGV[3])

-- ttl returns the milliseconds a key must live to outlast d nanoseconds.
local function ttl(d)
  return ceildiv(d, 1000000) + slack
end

-- unit returns the cost to evaluate and whether the request is a peek.
local function unit(cost)
  if cost <= 0 then return 1, true end
  return cost, false
end

local function window(i)
  local a = 5 + 3 * (i - 1)
  return tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
end

-- reply builds the script's answer from each window's result before and
-- after the charge: the after results when allowed, the before results
-- (the unchanged state) when denied.
local function reply(ok, delay, before, after)
  local out = {0, 0}
  local res = before
  if ok then
    out[1], out[2], res = 1, delay, after
  end
  for i = 1, #res do
    local r = res[i]
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
    out[#out + 1] = r[3]
  end
  return out
end

-- del_many deletes members or fields in batches below Lua's unpack limit.
local function del_many(cmd, key, list)
  for i = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end
