-- settle_sliding_window.lua: algo.SlidingSettle over every window, with the
-- values of sliding_window.lua. ARGV as for settle_token_bucket.lua; a
-- window's reset_after is the time from the charge to the start of its
-- window plus two periods.

local cost, charged, elapsed = ARGV[4] + 0, ARGV[6] + 0, ARGV[7] + 0

for i = 1, #KEYS do
  local a = 5 * i + 3
  local p, after = ARGV[a + 1] + 0, ARGV[a + 3] + 0
  local half = (p - fmod(p, 2)) / 2
  local v = redis.call('GET', KEYS[i])
  -- The stored window: its start relative to now, and its counts.
  local start, curr, prev
  if v then
    local s1 = string.find(v, ' ', 1, true)
    local s2 = string.find(v, ' ', s1 + 1, true)
    local vu, vn = parse_time(v, s1 - 1)
    start = (vu - now_u) * 1000 + (vn - now_n)
    curr, prev = string.sub(v, s1 + 1, s2 - 1) + 0, string.sub(v, s2 + 1) + 0
  end
  local changed = false
  if cost > charged then
    -- The extra counts in the window current now, as sliding_window.lua
    -- finds it.
    local aligned = -time_mod(now_u, now_n, p)
    if not v or start < aligned - p then
      start, curr, prev = aligned, 0, 0
    elseif start < aligned then
      start, curr, prev = aligned, 0, curr
    end
    curr = curr + cost - charged
    changed = true
  elseif v then
    -- A refund, to the charge's window: still the current one stored, or
    -- the previous.
    local cs = after - elapsed - 2 * p
    local refund = charged - cost
    local d1, d2 = start - cs, start - cs - p
    if d1 < 0 then d1 = -d1 end
    if d2 < 0 then d2 = -d2 end
    if d1 <= half then
      curr, changed = curr - refund, true
      if curr < 0 then curr = 0 end
    elseif d2 <= half then
      prev, changed = prev - refund, true
      if prev < 0 then prev = 0 end
    end
  end
  if changed and start + 2 * p > 0 then
    local su, sn = add(now_u, now_n, start)
    redis.call('SET', KEYS[i], format_time(su, sn) .. string.format(' %.0f %.0f', curr, prev), 'PX', ttl(start + 2 * p))
  end
end
return 1
