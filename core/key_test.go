package core

import (
	"strings"
	"testing"
)

func TestClientKey(t *testing.T) {
	long := strings.Repeat("a", maxKeptKey)
	for _, tc := range []struct {
		in   string
		kept bool
	}{
		{"203.0.113.7", true},
		{"2001:db8:1:2::/64", true},
		{"alice@example.com", true},
		{"3f2b-11ee_x.y~z+w=", true},
		{long, true},
		{long + "a", false},
		{"", false},
		{"a b", false},
		{"a{b}", false},
		{"#abc", false},
		{"a\x00", false},
		{"é", false},
		{"a,b", false},
	} {
		got := clientKey(tc.in)
		if kept := got == tc.in; kept != tc.kept {
			t.Errorf("clientKey(%q) = %q: kept %v, want %v", tc.in, got, kept, tc.kept)
		}
		if !tc.kept && (!strings.HasPrefix(got, "#") || len(got) != 44) {
			t.Errorf("clientKey(%q) = %q, want # and a 43-character digest", tc.in, got)
		}
		if !tc.kept && clientKey(got) == got {
			t.Errorf("clientKey keeps the digest form %q: a client could spell another's key", got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { clientKey("203.0.113.7") }); n != 0 {
		t.Errorf("clientKey allocates %v times for a kept value", n)
	}
}

func TestEscapeName(t *testing.T) {
	for in, want := range map[string]string{
		"api":      "api",
		"/login":   "/login",
		"a:b":      "a%3Ab",
		"{a}":      "%7Ba%7D",
		"a%3Ab":    "a%253Ab",
		"x=y":      "x%3Dy",
		"two word": "two%20word",
	} {
		if got := escapeName(in); got != want {
			t.Errorf("escapeName(%q) = %q, want %q", in, got, want)
		}
	}
}
