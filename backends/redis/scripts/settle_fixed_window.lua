-- settle_fixed_window.lua: algo.FixedSettle over every window, with the
-- values of fixed_window.lua. ARGV as for settle_token_bucket.lua; a
-- window's reset_after is the time from the charge to the end of the
-- window it went into.

local cost, charged, elapsed = ARGV[4] + 0, ARGV[6] + 0, ARGV[7] + 0

for i = 1, #KEYS do
  local a = 5 * i + 3
  local period, after = ARGV[a + 1] + 0, ARGV[a + 3] + 0
  local half = (period - fmod(period, 2)) / 2
  local v = redis.call('GET', KEYS[i])
  local su, sn, sc, sp, srel
  if v then
    local p1 = string.find(v, ' ', 1, true)
    local p2 = string.find(v, ' ', p1 + 1, true)
    su, sn = parse_time(v, p1 - 1)
    sc, sp = string.sub(v, p1 + 1, p2 - 1) + 0, string.sub(v, p2 + 1) + 0
    srel = (su - now_u) * 1000 + (sn - now_n)
  end
  if cost > charged then
    -- The extra counts in the window current now, as fixed_window.lua
    -- finds it.
    local rel = period - time_mod(now_u, now_n, period)
    local eu, en = add(now_u, now_n, rel)
    local count = 0
    if v then
      if sp ~= period then
        if srel > 0 then count = sc end
      elseif srel >= rel then
        rel, eu, en, count = srel, su, sn, sc
      end
    end
    count = count + cost - charged
    redis.call('SET', KEYS[i], format_time(eu, en) .. string.format(' %.0f %.0f', count, period), 'PX', ttl(rel))
  elseif v and sp == period and srel > 0 then
    -- A refund, while the charge's window is still the one stored.
    local d = srel - (after - elapsed)
    if d < 0 then d = -d end
    if d <= half then
      local count = sc - (charged - cost)
      if count < 0 then count = 0 end
      redis.call('SET', KEYS[i], format_time(su, sn) .. string.format(' %.0f %.0f', count, period), 'PX', ttl(srel))
    end
  end
end
return 1
