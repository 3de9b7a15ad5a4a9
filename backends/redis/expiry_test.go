package sluiceredis

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// TestExpiry checks on the server's clock that every key expires when its
// window has fully reset: its PTTL right after a charge is the window's
// ResetAfter, rounded up to a millisecond; that peeks and denials create no
// key; that releasing the last lease deletes the concurrency key; and that
// keys of short windows really disappear.
func TestExpiry(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	b := New(client)
	windows := []backend.Window{{Limit: 10, Period: time.Second, Burst: 5}, {Limit: 100, Period: time.Minute}, {Limit: 1000, Period: time.Hour}}
	for _, alg := range allAlgorithms {
		t.Run(alg.String(), func(t *testing.T) {
			w := windows
			switch alg {
			case backend.Concurrency:
				w = []backend.Window{{Limit: 10, Period: 30 * time.Second}}
			case backend.TokenBucket:
			default:
				w = []backend.Window{{Limit: 10, Period: time.Second}, windows[1], windows[2]}
			}
			req := backend.Request{Namespace: "expiry", Key: "k", Algorithm: alg, Windows: w, Lease: 1}
			keys := b.keys(req.Namespace, req.Key, alg, len(w))

			// A peek of an unknown key stores nothing.
			if _, err := b.Apply(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			if n := client.Exists(t.Context(), keys...).Val(); n != 0 {
				t.Errorf("a peek created %d keys", n)
			}
			// A denial stores nothing.
			req.Cost = 1000
			if res, err := b.Apply(t.Context(), req); err != nil || res.Allowed {
				t.Fatalf("Apply(cost 1000) = %+v, %v, want a denial", res, err)
			}
			if n := client.Exists(t.Context(), keys...).Val(); n != 0 {
				t.Errorf("a denial created %d keys", n)
			}

			req.Cost = 3
			begin := time.Now()
			res, err := b.Apply(t.Context(), req)
			if err != nil || !res.Allowed {
				t.Fatalf("Apply = %+v, %v", res, err)
			}
			for i, k := range keys {
				pttl, err := client.PTTL(t.Context(), k).Result()
				if err != nil {
					t.Fatal(err)
				}
				elapsed := time.Since(begin)
				want := res.Windows[i].ResetAfter.Round(0)
				hi := (want + time.Millisecond - 1).Truncate(time.Millisecond)
				if pttl > hi || pttl < want-elapsed-time.Millisecond {
					t.Errorf("window %d: PTTL = %v, want the ResetAfter %v (rounded up to ms, less the %v since)", i, pttl, want, elapsed)
				}
			}
			if alg == backend.Concurrency {
				if err := b.Release(t.Context(), req); err != nil {
					t.Fatal(err)
				}
				if n := client.Exists(t.Context(), keys...).Val(); n != 0 {
					t.Errorf("releasing the last lease left the key")
				}
			}
		})
	}
	t.Run("disappear", func(t *testing.T) {
		w := []backend.Window{{Limit: 5, Period: 20 * time.Millisecond}}
		for _, alg := range allAlgorithms {
			req := backend.Request{Namespace: "disappear", Key: "k", Algorithm: alg, Windows: w, Cost: 1, Lease: 1}
			if _, err := b.Apply(t.Context(), req); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := 0
			for _, alg := range allAlgorithms {
				n += int(client.Exists(t.Context(), b.keys("disappear", "k", alg, 1)...).Val())
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d keys of 20ms windows still exist after 5s", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestLuaMulDiv checks the scripts' exact 106-bit arithmetic against
// math/big on random operands below 2^53.
func TestLuaMulDiv(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	lib, err := scriptFS.ReadFile("scripts/lib.lua")
	if err != nil {
		t.Fatal(err)
	}
	fn := redis.NewScript(string(lib) + `
local out = {}
for i = 4, #ARGV, 3 do
  local a, b, d = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local q, rem = muldiv(a, b, d)
  local tq, tr = mulsmall(math.fmod(a, d), math.fmod(b, d), d)
  out[#out + 1] = string.format('%.0f', q)
  out[#out + 1] = rem and 1 or 0
  out[#out + 1] = string.format('%.0f', tr)
  out[#out + 1] = string.format('%.0f', time_mod(a, 0, d))
end
return out
`)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	args := []any{"", 0, 0}
	type in struct{ a, b, d int64 }
	ins := make([]in, n)
	for i := range ins {
		bits := func() int64 { return rng.Int64N(1 << (1 + rng.IntN(53))) }
		x := in{bits(), bits(), 1 + bits()}
		if x.d >= 1<<53 {
			x.d = 1<<53 - 1
		}
		if x.a >= 1<<53 {
			x.a = 1<<53 - 1
		}
		ins[i] = x
		args = append(args, x.a, x.b, x.d)
	}
	vals, err := fn.Run(t.Context(), client, nil, args...).Slice()
	if err != nil {
		t.Fatal(err)
	}
	big53 := new(big.Int).Lsh(big.NewInt(1), 53)
	for i, x := range ins {
		p := new(big.Int).Mul(big.NewInt(x.a), big.NewInt(x.b))
		q, r := new(big.Int).QuoRem(p, big.NewInt(x.d), new(big.Int))
		wantQ := q.String()
		if q.Cmp(big53) >= 0 {
			wantQ = big53.String()
		}
		wantRem := int64(0)
		if r.Sign() > 0 {
			wantRem = 1
		}
		if got := vals[4*i].(string); got != wantQ || vals[4*i+1].(int64) != wantRem && q.Cmp(big53) < 0 {
			t.Errorf("muldiv(%d, %d, %d) = %s, %v, want %s, %d", x.a, x.b, x.d, got, vals[4*i+1], wantQ, wantRem)
		}
		// mulsmall's remainder is (a mod d)(b mod d) mod d = a*b mod d.
		if got := vals[4*i+2].(string); got != r.String() {
			t.Errorf("mulsmall remainder of %d*%d mod %d = %s, want %s", x.a, x.b, x.d, got, r.String())
		}
		// time_mod(a, 0, d) is (a*1000) mod d.
		tm := new(big.Int).Mod(new(big.Int).Mul(big.NewInt(x.a), big.NewInt(1000)), big.NewInt(x.d))
		if got := vals[4*i+3].(string); got != tm.String() {
			t.Errorf("time_mod(%d, 0, %d) = %s, want %s", x.a, x.d, got, tm.String())
		}
	}
}
