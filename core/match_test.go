package core

import (
	"path"
	"testing"
)

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "", "/a/b", "/a/b/", "//a", "/a/./b", "/a/../b", "a", "/..", "/.", "/a/b/..", "/a//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := cleanPath(p)
		want := path.Clean("/" + p)
		if p != "" && p[0] == '/' {
			want = path.Clean(p)
		}
		if got != want {
			t.Fatalf("cleanPath(%q) = %q, want %q", p, got, want)
		}
		if isCleanPath(p) && got != p {
			t.Fatalf("isCleanPath(%q) but Clean gives %q", p, got)
		}
	})
}
