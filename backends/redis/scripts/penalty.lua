-- penalty.lua: one progressive-penalty call (backend.Penalizer). KEYS[1]
-- holds "start count until level last": when the denial window opened, the
-- denials in it, when the last block ends, k (blocks since the client last
-- behaved for decay) and the last block's length in nanoseconds. It expires
-- when the window, the block and the decay have all ended, after which the
-- state would read as a client with no history anyway.
--
-- ARGV: now_u now_n slack (as for every script), then record (1 to count a
-- denial, 0 to check), threshold, window, base, multiplier, max, decay;
-- durations in nanoseconds. Returns {blocked, blocked_for, denials, level}.

local key = KEYS[1]
local record = ARGV[4] == '1'
local threshold, window, base = ARGV[5] + 0, ARGV[6] + 0, ARGV[7] + 0
local mult, maxb, decay = ARGV[8] + 0, ARGV[9] + 0, ARGV[10] + 0

local su, sn, count, uu, un, level, last = 0, 0, 0, 0, 0, 0, 0
local v = redis.call('GET', key)
if v then
  local s1, c, s2, l, b = string.match(v, '^(%d+) (%d+) (%d+) (%d+) (%d+)$')
  if s1 then
    su, sn = parse_time(s1)
    uu, un = parse_time(s2)
    count, level, last = c + 0, l + 0, b + 0
  end
end

-- A client inside a block is told the time left, and nothing is counted.
local until_rel = (uu - now_u) * 1000 + (un - now_n)
if uu > now_u or (uu == now_u and un > now_n) then
  return {1, until_rel, count, level}
end

local since_start = (now_u - su) * 1000 + (now_n - sn)
local open = count > 0 and since_start < window
local decayed = -until_rel >= decay

if not record then
  local d, k = 0, 0
  if open then d = count end
  if not decayed then k = level end
  return {0, 0, d, k}
end

if decayed then level = 0 end
if not open then su, sn, count, since_start = now_u, now_n, 0, 0 end
count = count + 1
local blocked, left = 0, 0
if count >= threshold then
  -- backend.Penalty.NextBlock, step for step in doubles.
  local block
  if level <= 0 then
    block = math.min(base, maxb)
  else
    local f = last * mult
    if f < maxb then block = math.floor(f) else block = maxb end
  end
  uu, un = add(now_u, now_n, block)
  until_rel = (uu - now_u) * 1000 + (un - now_n)
  count, last, level = 0, block, level + 1
  blocked, left = 1, block
end

local live = window - since_start
if level > 0 and until_rel + decay > live then live = until_rel + decay end
if live < 1 then live = 1 end
local val = string.format('%s %.0f %s %.0f %.0f', format_time(su, sn), count, format_time(uu, un), level, last)
redis.call('SET', key, val, 'PX', ttl(live))
return {blocked, left, count, level}
