-- sliding_window.lua: algo.Sliding over every window. Each key holds
-- "start curr prev": the start of the current fixed window and the counts
-- of it and the previous one. It expires at start + 2*period, when both
-- counts have left the sliding window.

local c, peek = ARGV[4] + 0, false
if c <= 0 then c, peek = 1, true end

-- earliest returns the elapsed time into a window of period p with counts
-- pv and cu at which pv*(p-e) <= (limit-cu-k)*p.
local function earliest(limit, p, pv, cu, k)
  if pv == 0 then return 0 end
  local q = muldiv(limit - cu - k, p, pv)
  if q >= p then return 0 end
  return p - q
end

-- wait returns, relative to now, when a cost k (at most limit) fits in a
-- window starting at start (relative to now) evaluated at at, with counts
-- prev and curr (algo's slidingWait).
local function wait(limit, p, start, at, prev, curr, k)
  if curr + k <= limit then
    local e = earliest(limit, p, prev, curr, k)
    if start + e > at then return start + e end
  end
  -- The previous count never decays enough within this window: wait for
  -- the next one, where this window's count becomes the previous.
  return start + p + earliest(limit, p, curr, 0, k)
end

-- sliding reads window i and returns whether it admits the request, its
-- result before the charge (remaining, reset_after, retry_after,
-- next_after), then, when it admits a charge: its remaining, reset_after
-- and next_after after it, and the value to store (the window's start and
-- counts).
local function sliding(i)
  local a = 3 * i + 3
  local limit, p = ARGV[a] + 0, ARGV[a + 1] + 0
  -- Times relative to the caller's now: the current window's start, and
  -- the time it is evaluated at (later than now only when a caller whose
  -- clock runs ahead moved the window on). Durations are reported from the
  -- caller's now, so they include that lag.
  local start = -time_mod(now_u, now_n, p)
  local su, sn = add(now_u, now_n, start)
  local at = 0
  local curr, prev = 0, 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local s1 = string.find(v, ' ', 1, true)
    local s2 = string.find(v, ' ', s1 + 1, true)
    local vu, vn = parse_time(v, s1 - 1)
    local vc, vp = string.sub(v, s1 + 1, s2 - 1), string.sub(v, s2 + 1)
    if vu > su or (vu == su and vn > sn) then
      start = (vu - now_u) * 1000 + (vn - now_n)
      at, su, sn = start, vu, vn
      curr, prev = vc + 0, vp + 0
    elseif vu == su and vn == sn then
      curr, prev = vc + 0, vp + 0
    else
      local pu, pn = add(su, sn, -p)
      if vu == pu and vn == pn then prev = vc + 0 end
    end
  end
  local rem = p - (at - start) -- the previous window's weight, in (0, p]
  -- The previous window's count still inside the sliding window, rounded
  -- up: prev*rem + (curr+c)*p <= limit*p exactly when curr+c+decayed <= limit.
  local decayed, reset = 0, 0
  if prev > 0 then
    decayed = ceil_muldiv(prev, rem, p)
    reset = start + p
  end
  if curr > 0 then reset = start + 2 * p end
  local remaining = limit - curr - decayed
  if remaining < 0 then remaining = 0 end
  -- next_after is the wait for one unit more than remaining: for a cost of
  -- remaining+1, which fits exactly when remaining has grown by one.
  local next = 0
  if limit <= 0 then next = p
  elseif remaining < limit then next = wait(limit, p, start, at, prev, curr, remaining + 1) end
  local ok, retry = true, 0
  if c > limit then
    ok, retry = false, p
  elseif limit - curr - c < decayed then
    ok, retry = false, wait(limit, p, start, at, prev, curr, c)
  end
  if peek then return ok, remaining, reset, retry, next end
  local left = limit - curr - c - decayed
  if left < 0 then left = 0 end
  local lnext = 0
  if left < limit then lnext = wait(limit, p, start, at, prev, curr + c, left + 1) end
  local val
  if su == 0 then val = string.format('%d %.0f %.0f', sn, curr + c, prev)
  else val = string.format('%.0f%03d %.0f %.0f', su, sn, curr + c, prev) end
  return ok, remaining, reset, retry, next, left, start + 2 * p, lnext, val
end

return charge_windows(sliding, peek)
