-- token_bucket.lua: algo.GCRA over every window. Each key holds the
-- window's theoretical arrival time (tat), and expires at it: a bucket is
-- full again once tat has passed.

local c, peek = unit(tonumber(ARGV[4]))
local max_delay = tonumber(ARGV[5])
local ok, delay = true, 0
local before, after, store = {}, {}, {}

for i = 1, #KEYS do
  local limit, period, burst = window(i)
  -- tat relative to now, never before it, and as an absolute time.
  local tat, tu, tn = 0, now_u, now_n
  local v = redis.call('GET', KEYS[i])
  if v then
    local u, n = parse_time(v)
    local rel = since(u, n, now_u, now_n)
    if rel > 0 then tat, tu, tn = rel, u, n end
  end
  if limit <= 0 then
    before[i] = {0, 0, period}
    after[i] = before[i]
    ok = false
  else
    local t = ceildiv(period, limit) -- the emission interval, rounded up
    local capacity = limit
    if burst > 0 then capacity = burst end
    local tau = capacity * t
    local remaining = math.max(0, floordiv(tau - tat, t))
    if c > capacity then
      before[i] = {remaining, tat, period}
      after[i] = before[i]
      ok = false
    else
      local new = tat + c * t
      local wait = new - tau
      if peek then
        before[i] = {remaining, tat, math.max(0, wait)}
        after[i] = before[i]
        ok = ok and wait <= 0
      elseif wait <= max_delay then
        delay = math.max(delay, wait)
        before[i] = {remaining, tat, 0}
        after[i] = {math.max(0, floordiv(tau - new, t)), new, 0}
        local nu, nn = add(tu, tn, c * t)
        store[i] = {format_time(nu, nn), new}
      else
        before[i] = {remaining, tat, wait}
        after[i] = before[i]
        ok = false
      end
    end
  end
end

if ok and not peek then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], store[i][1], 'PX', ttl(store[i][2]))
  end
end
return reply(ok, delay, before, after)
