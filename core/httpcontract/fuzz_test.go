package httpcontract

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dunglas/httpsfv"
)

// jsonSeeds are strings that exercise every branch of appendJSONString.
var jsonSeeds = []string{
	"", "api-s", `a"b\c`, "a\nb\tc\x00\x1f\x7f", "<script>&amp;</script>",
	"café ☕ 𝄞", "a\u2028b\u2029c", "a\xffb", "caf\xc3", "\xed\xa0\x80", "\ufffd", "\xf4\x90\x80\x80",
}

// FuzzAppendJSONString checks that appendJSONString always produces one valid
// JSON string that decodes to the input, except that each byte of invalid
// UTF-8 decodes to U+FFFD (which is also what converting the input to
// []rune does), and that the escaped characters never appear raw.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefix := []byte("x")
		out := appendJSONString(prefix, s)
		if string(out[:1]) != "x" {
			t.Fatalf("appendJSONString overwrote the buffer it appends to: %q", out)
		}
		enc := out[1:]
		if !json.Valid(enc) {
			t.Fatalf("appendJSONString(%q) = %s: not valid JSON", s, enc)
		}
		if !utf8.Valid(enc) {
			t.Errorf("appendJSONString(%q) = %q: not valid UTF-8", s, enc)
		}
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not a JSON string: %v", s, enc, err)
		}
		if want := string([]rune(s)); got != want {
			t.Errorf("appendJSONString(%q) = %s decodes to %q, want %q", s, enc, got, want)
		}
		if utf8.ValidString(s) && got != s {
			t.Errorf("valid UTF-8 %q does not round-trip: got %q", s, got)
		}
		inner := string(enc[1 : len(enc)-1])
		if i := strings.IndexAny(inner, "<>&\x7f\u2028\u2029"); i >= 0 {
			t.Errorf("appendJSONString(%q) = %s: %q is not escaped", s, enc, inner[i])
		}
		for i := 0; i < len(inner); i++ {
			if inner[i] < 0x20 {
				t.Errorf("appendJSONString(%q) = %q: raw control byte %#x", s, enc, inner[i])
			}
		}
	})
}

// sfSafe is what appendSFString promises to carry: s with every byte outside
// printable ASCII replaced by '_'.
func sfSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '_'
		}
	}
	return string(b)
}

// FuzzAppendSFString checks that appendSFString always produces a
// structured-field string item (RFC 9651) that a real parser reads back as
// the input, with bytes outside printable ASCII replaced by '_', and that it
// works as a list member with parameters, as RateLimit and RateLimit-Policy
// use it.
func FuzzAppendSFString(f *testing.F) {
	for _, s := range []string{"", "api-s", `a"b\c`, `\"`, "a b", "a\nb\x7f", "café", "\x00\xff", `"`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(appendSFString([]byte("x"), s))
		if out[0] != 'x' {
			t.Fatalf("appendSFString overwrote the buffer it appends to: %q", out)
		}
		enc := out[1:]
		item, err := httpsfv.UnmarshalItem([]string{enc})
		if err != nil {
			t.Fatalf("appendSFString(%q) = %s: not a structured-field item: %v", s, enc, err)
		}
		got, ok := item.Value.(string)
		if !ok {
			t.Fatalf("appendSFString(%q) = %s: parsed as %T, want a string", s, enc, item.Value)
		}
		if want := sfSafe(s); got != want {
			t.Errorf("appendSFString(%q) = %s parses as %q, want %q", s, enc, got, want)
		}
		if sfSafe(s) == s && got != s {
			t.Errorf("printable ASCII %q does not round-trip: got %q", s, got)
		}

		field := enc + ";r=1;t=2, " + enc + ";q=3"
		list, err := httpsfv.UnmarshalList([]string{field})
		if err != nil {
			t.Fatalf("%s: not a structured-field list: %v", field, err)
		}
		if len(list) != 2 {
			t.Fatalf("%s: %d members, want 2", field, len(list))
		}
		for i, m := range list {
			if it, ok := m.(httpsfv.Item); !ok || it.Value != sfSafe(s) {
				t.Errorf("%s: member %d = %#v, want the item %q", field, i, m, sfSafe(s))
			}
		}
	})
}

// FuzzRouteTemplate checks that RouteTemplate never panics, is idempotent,
// leaves brace-syntax routes alone, and turns every ":name" and "*name"
// segment into braces.
func FuzzRouteTemplate(f *testing.F) {
	for _, s := range []string{
		"", "/", "/users/:id", "/files/*path", "/*", "/static/*", "/users/{id}", "/a/:", "/v1/items:batch",
		"/a/b*c", ":id", "*", "/:a:b", "/**", "//:x//", "/:a/*b/:c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, route string) {
		got := RouteTemplate(route)
		if again := RouteTemplate(route); again != got {
			t.Errorf("RouteTemplate(%q) = %q, then %q from the cache", route, got, again)
		}
		if twice := RouteTemplate(got); twice != got {
			t.Errorf("RouteTemplate(%q) = %q, RouteTemplate of that = %q: not idempotent", route, got, twice)
		}
		if !strings.ContainsAny(route, ":*") && got != route {
			t.Errorf("RouteTemplate(%q) = %q: a route without ':' or '*' must be unchanged", route, got)
		}
		if strings.Count(got, "/") != strings.Count(route, "/") {
			t.Errorf("RouteTemplate(%q) = %q: segments changed", route, got)
		}
		for _, seg := range strings.Split(got, "/") {
			if len(seg) > 1 && (seg[0] == ':' || seg[0] == '*') {
				t.Errorf("RouteTemplate(%q) = %q: segment %q left in colon/star syntax", route, got, seg)
			}
		}
	})
}
