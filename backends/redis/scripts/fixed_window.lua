-- fixed_window.lua: algo.Fixed over every window. Each key holds
-- "end count": the end of the window the count belongs to, and expires at
-- that end.

local c, peek = unit(tonumber(ARGV[4]))
local ok = true
local before, after, store = {}, {}, {}

for i = 1, #KEYS do
  local limit, period = window(i)
  -- The current window ends at the next multiple of period.
  local rel = period - time_mod(now_u, now_n, period)
  local eu, en = add(now_u, now_n, rel)
  local count = 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local s, sc = string.match(v, '^(%d+) (%d+)$')
    local su, sn = parse_time(s)
    -- Windows never move backwards: a later window, written by a caller
    -- whose clock runs ahead, is the current one.
    if not later(eu, en, su, sn) then
      rel, eu, en, count = since(su, sn, now_u, now_n), su, sn, tonumber(sc)
    end
  end
  local remaining, reset = math.max(0, limit - count), 0
  if count > 0 then reset = rel end
  if c > limit then
    before[i] = {remaining, reset, period}
    ok = false
  elseif count + c > limit then
    before[i] = {remaining, reset, rel}
    ok = false
  else
    before[i] = {remaining, reset, 0}
  end
  after[i] = before[i]
  if not peek then
    after[i] = {limit - count - c, rel, 0}
    store[i] = {format_time(eu, en) .. ' ' .. string.format('%.0f', count + c), rel}
  end
end

if ok and not peek then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], store[i][1], 'PX', ttl(store[i][2]))
  end
end
return reply(ok, 0, before, after)
