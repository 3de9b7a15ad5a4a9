-- sliding_window.lua: algo.Sliding over every window. Each key holds
-- "start curr prev": the start of the current fixed window and the counts
-- of it and the previous one. It expires at start + 2*period, when both
-- counts have left the sliding window.

local c, peek = unit(tonumber(ARGV[4]))
local ok = true
local before, after, store = {}, {}, {}

for i = 1, #KEYS do
  local limit, p = window(i)
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
    local s, vc, vp = string.match(v, '^(%d+) (%d+) (%d+)$')
    local vu, vn = parse_time(s)
    if later(vu, vn, su, sn) then
      start = since(vu, vn, now_u, now_n)
      at, su, sn = start, vu, vn
      curr, prev = tonumber(vc), tonumber(vp)
    elseif same_time(vu, vn, su, sn) then
      curr, prev = tonumber(vc), tonumber(vp)
    else
      local pu, pn = add(su, sn, -p)
      if same_time(vu, vn, pu, pn) then prev = tonumber(vc) end
    end
  end
  local rem = p - (at - start) -- the previous window's weight, in (0, p]
  -- The previous window's count still inside the sliding window, rounded
  -- up: prev*rem + (curr+c)*p <= limit*p exactly when curr+c+decayed <= limit.
  local decayed = 0
  if prev > 0 then decayed = ceil_muldiv(prev, rem, p) end

  local function reset_after(cu)
    if cu > 0 then return start + 2 * p end
    if prev > 0 then return start + p end
    return 0
  end
  -- earliest returns the elapsed time into a window with counts pv and cu
  -- at which pv*(p-e) <= (limit-cu-c)*p.
  local function earliest(pv, cu)
    if pv == 0 then return 0 end
    local q = muldiv(limit - cu - c, p, pv)
    if q >= p then return 0 end
    return p - q
  end

  local remaining = math.max(0, limit - curr - decayed)
  if c > limit then
    before[i] = {remaining, reset_after(curr), p}
    ok = false
  elseif limit - curr - c < decayed then
    local wait
    if curr + c <= limit then
      local e = earliest(prev, curr)
      if start + e > at then wait = start + e end
    end
    if not wait then
      -- The previous count never decays enough within this window: wait
      -- for the next one, where this window's count becomes the previous.
      wait = start + p + earliest(curr, 0)
    end
    before[i] = {remaining, reset_after(curr), wait}
    ok = false
  else
    before[i] = {remaining, reset_after(curr), 0}
  end
  after[i] = before[i]
  if not peek then
    after[i] = {math.max(0, limit - curr - c - decayed), reset_after(curr + c), 0}
    store[i] = {
      format_time(su, sn) .. ' ' .. string.format('%.0f', curr + c) .. ' ' .. string.format('%.0f', prev),
      start + 2 * p,
    }
  end
end

if ok and not peek then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], store[i][1], 'PX', ttl(store[i][2]))
  end
end
return reply(ok, 0, before, after)
