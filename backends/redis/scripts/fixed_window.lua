-- fixed_window.lua: algo.Fixed over every window. Each key holds
-- "end count": the end of the window the count belongs to, and expires at
-- that end.

local c, peek = ARGV[4] + 0, false
if c <= 0 then c, peek = 1, true end

-- fixed reads window i and returns whether it admits the request, its
-- result before the charge (remaining, reset_after, retry_after), then,
-- when it admits the request: its remaining and reset_after (the window's
-- end) after the charge, and the value to store.
local function fixed(i)
  local a = 3 * i + 3
  local limit, period = ARGV[a] + 0, ARGV[a + 1] + 0
  -- The current window ends at the next multiple of period.
  local rel = period - time_mod(now_u, now_n, period)
  local eu, en = add(now_u, now_n, rel)
  local count = 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local sp = string.find(v, ' ', 1, true)
    local su, sn = parse_time(v, sp - 1)
    -- Windows never move backwards: a later window, written by a caller
    -- whose clock runs ahead, is the current one.
    if su > eu or (su == eu and sn >= en) then
      rel, eu, en, count = (su - now_u) * 1000 + (sn - now_n), su, sn, string.sub(v, sp + 1) + 0
    end
  end
  local remaining, reset = 0, 0
  if limit > count then remaining = limit - count end
  if count > 0 then reset = rel end
  if c > limit then return false, remaining, reset, period end
  if count + c > limit then return false, remaining, reset, rel end
  if peek then return true, remaining, reset, 0 end
  local val
  if eu == 0 then val = string.format('%d %.0f', en, count + c)
  else val = string.format('%.0f%03d %.0f', eu, en, count + c) end
  return true, remaining, reset, 0, limit - count - c, rel, val
end

return charge_windows(fixed, peek)
