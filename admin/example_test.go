package sluiceadmin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	sluiceadmin "github.com/sluicehq/sluice/admin"
	"github.com/sluicehq/sluice/core"
)

func ExampleHandler() {
	denials := sluiceadmin.NewDenials(0) // remembers whom the Limiter denied
	lim, err := core.New(core.WithObserver(denials), core.WithDefault(core.PerMinute(1)))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	admin, err := sluiceadmin.Handler(lim, sluiceadmin.BearerToken("s3cret"), sluiceadmin.WithDenials(denials))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/sluice/", http.StripPrefix("/admin/sluice", admin))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for range 2 { // the second request is denied
		lim.Decide(context.Background(), core.Request{Path: "/", RemoteAddr: "203.0.113.7:5000"})
	}
	do := func(method, path, body string) {
		req, _ := http.NewRequest(method, srv.URL+"/admin/sluice"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Printf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	do("POST", "/reset", `{"kind": "ip", "key": "203.0.113.7"}`)
	do("GET", "/denied", "")
	// Output:
	// POST /reset: 200 {
	//   "client": {
	//     "kind": "ip",
	//     "key": "203.0.113.7"
	//   },
	//   "rules": [
	//     "default"
	//   ]
	// }
	// GET /denied: 200 {
	//   "clients": [],
	//   "dropped": 0
	// }
}

func ExampleBearerToken() {
	auth := sluiceadmin.BearerToken("s3cret")
	r := httptest.NewRequest("POST", "/reset", nil)
	fmt.Println(auth(r, "reset"))
	r.Header.Set("Authorization", "Bearer s3cret")
	fmt.Println(auth(r, "reset"))
	// Output:
	// false
	// true
}

// An Authorizer of your own: support staff may read, only admins may
// change anything.
func ExampleAuthorizer() {
	role := func(r *http.Request) string { return r.Header.Get("X-Role") } // set by your auth middleware
	var auth sluiceadmin.Authorizer = func(r *http.Request, op string) bool {
		switch op {
		case "rules", "peek", "denied":
			return role(r) == "support" || role(r) == "admin"
		case "reset", "unblock":
			return role(r) == "admin"
		}
		return false // an op this code does not know
	}
	r := httptest.NewRequest("POST", "/reset", nil)
	r.Header.Set("X-Role", "support")
	fmt.Println(auth(r, "peek"), auth(r, "reset"))
	// Output: true false
}

func ExampleNewDenials() {
	denials := sluiceadmin.NewDenials(10_000) // a bound for a large flood
	lim, err := core.New(core.WithObserver(denials), core.WithDefault(core.PerMinute(100)))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	_, err = sluiceadmin.Handler(lim, sluiceadmin.BearerToken("s3cret"), sluiceadmin.WithDenials(denials))
	fmt.Println(err)
	// Output: <nil>
}
