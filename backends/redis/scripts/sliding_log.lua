-- sliding_log.lua: algo.Log over every window. Each key is a sorted set of
-- the admitted requests still in the window: member "time" or "time:cost"
-- (the exact nanosecond time), score the time in whole microseconds. One
-- more member, SUM, holds the total cost as its score -(total+1), below every
-- entry. The key expires when its newest entry leaves the window.

local SUM = '#'
local c, peek = ARGV[4] + 0, false
if c <= 0 then c, peek = 1, true end
-- ARGV[5] is '1' to charge whatever the limit says: a settlement's extra
-- charge, for work that was done.
local force = ARGV[5] == '1'

-- evaluate reads window i, prunes the entries that have left it, and
-- returns whether it admits the request, its result before the charge
-- (remaining, reset_after, retry_after, next_after), whether SUM must still be written
-- and the sum, then, unless the request is a peek: the time of the new
-- entry, the key's lifetime, and whether the entry merges with the newest
-- one, the newest and its cost, and next_after after the charge.
local function evaluate(i)
  local key = KEYS[i]
  local a = 3 * i + 3
  local limit, p = ARGV[a] + 0, ARGV[a + 1] + 0
  -- The log is evaluated at now, or at its newest entry if that is later
  -- (a caller whose clock runs ahead wrote it), so it stays ordered.
  -- Durations are reported from the caller's now.
  local at, au, an = 0, now_u, now_n
  local newest, nu, nn, ncost
  local sum, dirty = 0, false
  local top = redis.call('ZREVRANGE', key, 0, 0)[1]
  if top == SUM then
    sum = -redis.call('ZSCORE', key, SUM) - 1
  elseif top then
    newest = top
    nu, nn, ncost = parse_entry(newest)
    local rel = (nu - now_u) * 1000 + (nn - now_n)
    if rel > 0 then at, au, an = rel, nu, nn end
  end

  -- Prune the entries that have left the window: time + p <= at. SUM,
  -- scored below every entry, comes first.
  local left = newest ~= nil
  if newest then
    local cu, cn = add(au, an, -p)
    local res, j = {}, 1
    if cu >= 0 then
      res = redis.call('ZRANGEBYSCORE', key, '-inf', cu, 'WITHSCORES')
      if res[1] == SUM then
        sum = -res[2] - 1
        j = 3
      end
    else -- before 1970: no entry has left, and SUM may be above cu
      local s = redis.call('ZSCORE', key, SUM)
      if s then sum = -s - 1 end
    end
    local dead, nd = nil, 0
    for k = j, #res, 2 do
      local m = res[k]
      local eu, en, ec = parse_entry(m)
      if eu < cu or (eu == cu and en <= cn) then
        if nd == 0 then dead = {} end
        nd = nd + 1
        dead[nd] = m
        sum = sum - ec
        if m == newest then left = false end
      end
    end
    if not left then
      redis.call('DEL', key)
      sum = 0
    elseif nd > 0 then
      del_many('ZREM', key, dead)
      -- SUM is written with the charge, or at the end without one.
      dirty = true
    end
  end

  local remaining, reset = 0, 0
  if limit > sum then remaining = limit - sum end
  if left then reset = (nu - now_u) * 1000 + (nn - now_n) + p end
  -- until returns the wait until the oldest entries holding need units
  -- have left, counting extra units charged now as the newest entry.
  local function until_left(need, extra)
    if left then
      local acc, off = 0, 0
      while acc < need do
        local batch = redis.call('ZRANGEBYSCORE', key, 0, '+inf', 'LIMIT', off, 100)
        if #batch == 0 then break end
        for _, m in ipairs(batch) do
          local eu, en, ec = parse_entry(m)
          acc = acc + ec
          if acc >= need then return (eu - now_u) * 1000 + (en - now_n) + p end
        end
        off = off + #batch
      end
      need = need - acc
    end
    if extra > 0 and extra >= need then return p + at end
    return p
  end
  -- next_after is the wait for one unit more than remaining: for the
  -- entries holding sum-limit+remaining+1 units to leave.
  local next = 0
  if limit <= 0 then next = p
  elseif remaining < limit then next = until_left(sum - limit + remaining + 1, 0) end
  local ok, retry = true, 0
  if c > limit then
    ok, retry = false, p
  elseif sum + c > limit then
    ok, retry = false, until_left(sum + c - limit, 0)
  end
  if force then ok, retry = true, 0 end
  if peek then return ok, remaining, reset, retry, next, dirty, sum end
  local lnext = 0
  if remaining - c < limit then lnext = until_left(sum + c - limit + remaining - c + 1, c) end
  -- Entries at the same time merge.
  local merge = left and nu == au and nn == an
  return ok, remaining, reset, retry, next, dirty, sum, au, an, p + at, merge, newest, ncost, lnext
end

-- charge adds the request to the log of key: entry (au, an), the key
-- living life nanoseconds.
local function charge(key, sum, au, an, life, merge, newest, ncost)
  local cost = c
  if merge then
    redis.call('ZREM', key, newest)
    cost = cost + ncost
  end
  redis.call('ZADD', key, au, format_entry(au, an, cost), -(sum + c) - 1, SUM)
  redis.call('PEXPIRE', key, ttl(life))
end

local nk = #KEYS
if nk == 1 then
  local ok, remaining, reset, retry, next, dirty, sum, au, an, life, merge, newest, ncost, lnext = evaluate(1)
  if ok and not peek then
    charge(KEYS[1], sum, au, an, life, merge, newest, ncost)
    return {1, 0, remaining - c, life, 0, lnext}
  end
  if dirty then redis.call('ZADD', KEYS[1], -sum - 1, SUM) end
  if ok then return {1, 0, remaining, reset, retry, next} end
  return {0, 0, remaining, reset, retry, next}
end

-- Several windows (distinct keys): out holds the results before the
-- charge, st the state of each window.
local out, st = {0, 0}, {}
local ok = true
for i = 1, nk do
  local oki, remaining, reset, retry, next, dirty, sum, au, an, life, merge, newest, ncost, lnext = evaluate(i)
  local o = 4 * i - 1
  out[o], out[o + 1], out[o + 2], out[o + 3] = remaining, reset, retry, next
  if not oki then ok = false end
  st[i] = {dirty, sum, au, an, life, merge, newest, ncost, remaining, lnext}
end
if ok and not peek then
  out[1] = 1
  for i = 1, nk do
    local s = st[i]
    charge(KEYS[i], s[2], s[3], s[4], s[5], s[6], s[7], s[8])
    local o = 4 * i - 1
    out[o], out[o + 1], out[o + 2], out[o + 3] = s[9] - c, s[5], 0, s[10]
  end
  return out
end
for i = 1, nk do
  if st[i][1] then redis.call('ZADD', KEYS[i], -st[i][2] - 1, SUM) end
end
if ok then out[1] = 1 end
return out
