package sluiceredis

import (
	"strings"
	"testing"
)

// TestCompose checks that a script carries the library sections it names,
// directly or through another section, and no other: a name in a comment
// does not count, nor does a name inside a longer word.
func TestCompose(t *testing.T) {
	const lib = "-- prelude\n" +
		"--@ a\nlocal function a() return 1 end\n" +
		"--@ b bb\nlocal function b() return a() end\n" +
		"--@ c\nlocal function c() return 3 end\n"
	for _, tc := range []struct {
		body string
		want []string // section bodies expected in the script
	}{
		{"return b()\n", []string{"function a(", "function b("}},
		{"return bb\n", []string{"function a(", "function b("}},
		{"return c() + a()\n", []string{"function a(", "function c("}},
		{"-- b c\nreturn 1\n", nil},
		{"return cab\n", nil},
	} {
		got := compose(lib, tc.body)
		if !strings.HasPrefix(got, "-- prelude\n") || !strings.HasSuffix(got, tc.body) {
			t.Errorf("compose(%q) = %q: want the prelude first and the body last", tc.body, got)
		}
		for _, f := range []string{"function a(", "function b(", "function c("} {
			want := false
			for _, w := range tc.want {
				want = want || w == f
			}
			if strings.Contains(got, f) != want {
				t.Errorf("compose(%q): has %q = %v, want %v", tc.body, f, !want, want)
			}
		}
	}
}
