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
local threshold, window, base = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local mult, maxb, decay = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])

local su, sn, count, uu, un, level, last = 0, 0, 0, 0, 0, 0, 0
local v = redis.call('GET', key)
if v then
  local s1, c, s2, l, b = string.match(v, '^(%d+) (%d+) (%d+) (%d+) (%d+)$')
  if s1 then
    su, sn = parse_time(s1)
    uu, un = parse_time(s2)
    count, level, last = tonumber(c), tonumber(l), tonumber(b)
  end
end

-- A client inside a block is told the time left, and nothing is counted.
if later(uu, un, now_u, now_n) then
  return {1, since(uu, un, now_u, now_n), count, level}
end

local open = count > 0 and since(now_u, now_n, su, sn) < window
local decayed = since(now_u, now_n, uu, un) >= decay

if not record then
  local d, k = 0, 0
  if open then d = count end
  if not decayed then k = level end
  return {0, 0, d, k}
end

if decayed then level = 0 end
if not open then su, sn, count = now_u, now_n, 0 end
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
  count, last, level = 0, block, level + 1
  blocked, left = 1, block
end

local live = window - since(now_u, now_n, su, sn)
if level > 0 then live = math.max(live, since(uu, un, now_u, now_n) + decay) end
redis.call('SET', key,
  format_time(su, sn) .. ' ' .. string.format('%.0f', count) .. ' ' .. format_time(uu, un) .. ' ' ..
  string.format('%.0f', level) .. ' ' .. string.format('%.0f', last),
  'PX', ttl(math.max(live, 1)))
return {blocked, left, count, level}
