-- sliding_log.lua: algo.Log over every window. Each key is a sorted set of
-- the admitted requests still in the window: member "time" or "time:cost"
-- (the exact nanosecond time), score the time in whole microseconds. One
-- more member, SUM, holds the total cost as its score -(total+1), below every
-- entry. The key expires when its newest entry leaves the window.

local SUM = '#'
local c, peek = unit(tonumber(ARGV[4]))
local ok = true
local before, after, store = {}, {}, {}

for i = 1, #KEYS do
  local key = KEYS[i]
  local limit, p = window(i)
  -- The log is evaluated at now, or at its newest entry if that is later
  -- (a caller whose clock runs ahead wrote it), so it stays ordered.
  -- Durations are reported from the caller's now.
  local at, au, an = 0, now_u, now_n
  local newest, nu, nn, ncost
  local top = redis.call('ZREVRANGE', key, 0, 0)
  if top[1] and top[1] ~= SUM then
    newest = top[1]
    nu, nn, ncost = parse_entry(newest)
    local rel = since(nu, nn, now_u, now_n)
    if rel > 0 then at, au, an = rel, nu, nn end
  end

  -- Prune the entries that have left the window: time + p <= at.
  local sum = 0
  local s = redis.call('ZSCORE', key, SUM)
  if s then sum = -tonumber(s) - 1 end
  local left = newest ~= nil
  if newest then
    local cu, cn = add(au, an, -p)
    local dead = {}
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, 0, cu)) do
      local eu, en, ec = parse_entry(m)
      if not later(eu, en, cu, cn) then
        dead[#dead + 1] = m
        sum = sum - ec
        if m == newest then left = false end
      end
    end
    if not left then
      redis.call('DEL', key)
      sum = 0
    elseif #dead > 0 then
      del_many('ZREM', key, dead)
      redis.call('ZADD', key, -sum - 1, SUM)
    end
  end

  local remaining, reset = math.max(0, limit - sum), 0
  if left then reset = since(nu, nn, now_u, now_n) + p end
  if c > limit then
    before[i] = {remaining, reset, p}
    ok = false
  elseif sum + c > limit then
    -- Wait until the oldest entries holding sum+c-limit units have left.
    local need, acc, wait = sum + c - limit, 0, p
    local off = 0
    while acc < need do
      local batch = redis.call('ZRANGEBYSCORE', key, 0, '+inf', 'LIMIT', off, 100)
      if #batch == 0 then break end
      for _, m in ipairs(batch) do
        local eu, en, ec = parse_entry(m)
        acc = acc + ec
        if acc >= need then
          wait = since(eu, en, now_u, now_n) + p
          break
        end
      end
      off = off + #batch
    end
    before[i] = {remaining, reset, wait}
    ok = false
  else
    before[i] = {remaining, reset, 0}
  end
  after[i] = before[i]
  if not peek then
    after[i] = {remaining - c, p + at, 0}
    -- Entries at the same time merge.
    local merge = left and same_time(nu, nn, au, an)
    store[i] = {merge, au, an, sum + c, p + at}
    if merge then store[i][6], store[i][7] = newest, ncost end
  end
end

if ok and not peek then
  for i = 1, #KEYS do
    local key, st = KEYS[i], store[i]
    local cost = c
    if st[1] then
      redis.call('ZREM', key, st[6])
      cost = cost + st[7]
    end
    redis.call('ZADD', key, st[2], format_entry(st[2], st[3], cost), -st[4] - 1, SUM)
    redis.call('PEXPIRE', key, ttl(st[5]))
  end
end
return reply(ok, 0, before, after)
