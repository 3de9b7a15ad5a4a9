-- settle_token_bucket.lua: algo.GCRASettle over every window, with the
-- values of token_bucket.lua. ARGV after the time and slack: the real
-- cost, the max delay, the cost charged and the nanoseconds since the
-- charge, then per window (window i at ARGV[5*i + 3]) its limit, period
-- and burst, and the charge's reset_after and refund total.

local cost, max_delay, charged, elapsed = ARGV[4] + 0, ARGV[5] + 0, ARGV[6] + 0, ARGV[7] + 0
local MOD = 4503599627370496 -- 2^52, algo.RefundMod
local DEBT = 9007199254740992 -- 2^53, algo.MaxDebt
local MEM = 86400000000000 -- algo.RefundMemory, a day

for i = 1, #KEYS do
  local a = 5 * i + 3
  local limit, period, burst = ARGV[a] + 0, ARGV[a + 1] + 0, ARGV[a + 2] + 0
  local after, refunded_at = ARGV[a + 3] + 0, ARGV[a + 4] + 0
  if limit > 0 then
    local r = fmod(period, limit)
    local t = (period - r) / limit
    if r > 0 then t = t + 1 end
    local capacity = limit
    if burst > 0 then capacity = burst end
    local most = capacity * t + max_delay
    local tag = string.format('%.0f', fmod(t * 1000003 + most, 2147483647))
    -- The stored tat relative to now (0 when there is none or it has
    -- passed), and the refund total, which outlives it.
    local tat, refunded = 0, 0
    local v = redis.call('GET', KEYS[i])
    if v then
      local sp = string.find(v, ' ', 1, true) or #v + 1
      local u, n = parse_time(v, sp - 1)
      local rel = (u - now_u) * 1000 + (n - now_n)
      local sp2 = string.find(v, ' ', sp + 1, true)
      local stag
      if sp2 then
        stag, refunded = string.sub(v, sp + 1, sp2 - 1), string.sub(v, sp2 + 1) + 0
      else
        stag = string.sub(v, sp + 1)
      end
      if rel > 0 then
        tat = rel
        -- Written under another limit (algo.Reconfigured).
        if stag ~= tag and tat > most then tat = most end
      end
    end
    local new, total = tat, refunded
    if cost > charged then
      -- An extra charge, from now if the bucket is full, up to DEBT.
      local extra = cost - charged
      if tat >= DEBT or extra > (DEBT - tat) / t then
        if tat < DEBT then new = DEBT end
      else
        new = tat + extra * t
      end
    elseif tat > 0 then
      -- A refund of what is left of the charge: its units ended at
      -- after - elapsed from now, earlier by what refunds moved them since.
      local shift = fmod(refunded - refunded_at, MOD)
      if shift < 0 then shift = shift + MOD end
      local left = after - elapsed - shift
      if left > 0 then
        local units = charged - cost
        if units > capacity then units = capacity end
        local give = units * t
        if left < give then give = left end
        if tat < give then give = tat end
        new, total = tat - give, fmod(refunded + give, MOD)
      end
    end
    -- The state lives until algo.GCRAExpiry.
    local life = new
    if total > MEM then life = new + MEM else life = new + total end
    if life > 0 then
      local nu, nn = add(now_u, now_n, new)
      local val = format_time(nu, nn) .. ' ' .. tag
      if total ~= 0 then val = val .. string.format(' %.0f', total) end
      redis.call('SET', KEYS[i], val, 'PX', ttl(life))
    elseif v then
      redis.call('DEL', KEYS[i]) -- full again: nothing to keep
    end
  end
end
return 1
