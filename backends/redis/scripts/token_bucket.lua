-- token_bucket.lua: algo.GCRA over every window. Each key holds "tat tag",
-- or "tat tag refunded" once settle_token_bucket.lua has given units back:
-- the window's theoretical arrival time, the tag of the limit it was
-- written under (algo.GCRATag: the emission interval and tau+max_delay),
-- and the refund total. It expires at tat, when the bucket is full again,
-- or, with a refund total, that much later, up to a day
-- (algo.GCRAExpiry): the total must outlive the charges it moved.
--
-- The reply is extended with one refund total per window when any window
-- has one.

local c, peek = ARGV[4] + 0, false
if c <= 0 then c, peek = 1, true end
local max_delay = ARGV[5] + 0
local rf -- the refund total of each window that has one; nil when none does
local MEM = 86400000000000 -- algo.RefundMemory, a day

-- keep returns how much longer than its tat window i's state must live.
local function keep(i)
  local r = rf and rf[i]
  if not r then return 0 end
  r = r + 0
  if r > MEM then return MEM end
  return r
end

-- gcra reads window i and returns whether it admits the request, its
-- result before the charge (remaining, reset_after, retry_after,
-- next_after), then, when it admits a charge: the wait, its remaining,
-- tat and next_after after the charge, and that tat as an absolute time.
local function gcra(i)
  local a = 3 * i + 3
  local limit, period, burst = ARGV[a] + 0, ARGV[a + 1] + 0, ARGV[a + 2] + 0
  -- tat relative to now, never before it, and as an absolute time.
  local tat, tu, tn = 0, now_u, now_n
  local v = redis.call('GET', KEYS[i])
  local stag
  if v then
    local sp = string.find(v, ' ', 1, true) or #v + 1
    local u, n = parse_time(v, sp - 1)
    local rel = (u - now_u) * 1000 + (n - now_n)
    local sp2 = string.find(v, ' ', sp + 1, true)
    if sp2 then -- a refund total, kept even once tat has passed
      rf = rf or {}
      rf[i] = string.sub(v, sp2 + 1)
    end
    if rel > 0 then
      tat, tu, tn = rel, u, n
      if sp2 then stag = string.sub(v, sp + 1, sp2 - 1) else stag = string.sub(v, sp + 1) end
    end
  end
  if limit <= 0 then return false, 0, 0, period, period end
  -- t, the emission interval, is ceil(period/limit).
  local r = fmod(period, limit)
  local t = (period - r) / limit
  if r > 0 then t = t + 1 end
  local capacity = limit
  if burst > 0 then capacity = burst end
  local tau = capacity * t
  local most = tau + max_delay
  -- Any deterministic tag will do: it is only compared with itself.
  local tag = string.format('%.0f', fmod(t * 1000003 + most, 2147483647))
  if tat > 0 and stag ~= tag then
    -- Written under another limit, before a reload (algo.Reconfigured):
    -- a tat beyond what this limit allows reads as an empty bucket. It is
    -- stored with the new tag even for a denial, or every request would
    -- reconfigure the old tat again and wait for the old limit after all.
    if tat > most then tat, tu, tn = most, add(now_u, now_n, most) end
    if not peek then redis.call('SET', KEYS[i], format_time(tu, tn) .. ' ' .. tag .. (rf and rf[i] and ' ' .. rf[i] or ''), 'PX', ttl(tat + keep(i))) end
  end
  -- remaining is max(0, floor((tau-tat)/t)), and next_after the wait for
  -- one unit more: for a cost of remaining+1 to conform.
  local remaining, next = 0, 0
  if tau > tat then
    local d = tau - tat
    remaining = (d - fmod(d, t)) / t
  end
  if remaining < capacity then next = tat - tau + (remaining + 1) * t end
  if c > capacity then return false, remaining, tat, period, next end
  local ct = c * t
  local new = tat + ct
  local wait = new - tau
  if peek then
    if wait <= 0 then return true, remaining, tat, 0, next end
    return false, remaining, tat, wait, next
  end
  if wait > max_delay then return false, remaining, tat, wait, next end
  local left, lnext = 0, 0
  if tau > new then
    local d = tau - new
    left = (d - fmod(d, t)) / t
  end
  if left < capacity then lnext = new - tau + (left + 1) * t end
  -- The new tat as an absolute time: add(tu, tn, ct) for ct >= 0.
  local nt = tn + ct
  local nn = fmod(nt, 1000)
  return true, remaining, tat, 0, next, wait, left, new, lnext, tu + (nt - nn) / 1000, nn, tag
end

local nk = #KEYS
if nk == 1 then
  local ok, remaining, reset, retry, next, wait, left, new, lnext, nu, nn, tag = gcra(1)
  -- The refund total is kept as the string it was stored as, and only
  -- replied as a number.
  local r = rf and rf[1]
  local rn = r and r + 0
  if not ok then return {0, 0, remaining, reset, retry, next, rn} end
  if peek then return {1, 0, remaining, reset, retry, next, rn} end
  redis.call('SET', KEYS[1], format_time(nu, nn) .. ' ' .. tag .. (r and ' ' .. r or ''), 'PX', ttl(new + keep(1)))
  if wait < 0 then wait = 0 end
  return {1, wait, left, new, 0, lnext, rn}
end

-- with_refunds appends the refund totals to a reply when a window has one.
local function with_refunds(out)
  if rf then
    for i = 1, nk do out[2 + 4 * nk + i] = (rf[i] or 0) + 0 end
  end
  return out
end

-- Several windows: out holds the results before the charge, st the
-- charged state of each window.
local out, st = {0, 0}, {}
local ok, delay = true, 0
for i = 1, nk do
  local oki, remaining, reset, retry, next, wait, left, new, lnext, nu, nn, tag = gcra(i)
  local o = 4 * i - 1
  out[o], out[o + 1], out[o + 2], out[o + 3] = remaining, reset, retry, next
  if not oki then
    ok = false
  elseif not peek then
    if wait > delay then delay = wait end
    local j = 6 * i
    st[j - 5], st[j - 4], st[j - 3], st[j - 2], st[j - 1], st[j] = left, new, lnext, nu, nn, tag
  end
end
if not ok then return with_refunds(out) end
out[1] = 1
if peek then return with_refunds(out) end
out[2] = delay
for i = 1, nk do
  local j = 6 * i
  redis.call('SET', KEYS[i], format_time(st[j - 2], st[j - 1]) .. ' ' .. st[j] .. (rf and rf[i] and ' ' .. rf[i] or ''), 'PX', ttl(st[j - 4] + keep(i)))
  local o = 4 * i - 1
  out[o], out[o + 1], out[o + 2], out[o + 3] = st[j - 5], st[j - 4], 0, st[j - 3]
end
return with_refunds(out)
