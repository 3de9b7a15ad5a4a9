-- fixed_window.lua: algo.Fixed over every window. Each key holds
-- "end count period": the end of the window the count belongs to, the
-- count, and the window's length; it expires at that end.

local c, peek = ARGV[4] + 0, false
if c <= 0 then c, peek = 1, true end

-- fixed reads window i and returns whether it admits the request, its
-- result before the charge (remaining, reset_after, retry_after,
-- next_after), then, when it admits the request: its remaining,
-- reset_after and next_after (the window's end) after the charge, and the
-- value to store.
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
    local sp2 = string.find(v, ' ', sp + 1, true)
    local su, sn = parse_time(v, sp - 1)
    local sc = string.sub(v, sp + 1, sp2 - 1) + 0
    if string.sub(v, sp2 + 1) + 0 ~= period then
      -- Written under another period (a reload changed the limit): the
      -- count of a window still open is kept in the current window.
      if su > now_u or (su == now_u and sn > now_n) then count = sc end
    elseif su > eu or (su == eu and sn >= en) then
      -- Windows never move backwards: a later window, written by a
      -- caller whose clock runs ahead, is the current one.
      rel, eu, en, count = (su - now_u) * 1000 + (sn - now_n), su, sn, sc
    end
  end
  local remaining, reset = 0, 0
  if limit > count then remaining = limit - count end
  if count > 0 then reset = rel end
  -- Units come back when the window ends.
  local next = reset
  if limit <= 0 then next = period end
  if c > limit then return false, remaining, reset, period, next end
  if count + c > limit then return false, remaining, reset, rel, next end
  if peek then return true, remaining, reset, 0, next end
  local val = format_time(eu, en) .. string.format(' %.0f %.0f', count + c, period)
  return true, remaining, reset, 0, next, limit - count - c, rel, rel, val
end

return charge_windows(fixed, peek)
