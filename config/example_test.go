package sluiceconfig_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/core"
)

func ExampleNew() {
	dir, _ := os.MkdirTemp("", "sluice")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sluice.toml")
	os.WriteFile(path, []byte(`
[[rules]]
name = "login"
path = "/login"
windows = ["2/minute"]
`), 0o600)

	svc, err := sluiceconfig.New(path, sluiceconfig.WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()
	for range 3 {
		d, _ := svc.Limiter.Decide(context.Background(), core.Request{Method: "POST", Path: "/login", RemoteAddr: "192.0.2.1:1234"})
		fmt.Println(d.Rule, d.Outcome)
	}
	// Output:
	// login allowed
	// login allowed
	// login denied
}

func ExampleLoad_errors() {
	dir, _ := os.MkdirTemp("", "sluice")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sluice.toml")
	os.WriteFile(path, []byte(`
[[rules]]
windows = ["10/x"]
algoritm = "fixed_window"
`), 0o600)

	_, err := sluiceconfig.Load(path)
	fmt.Println(err)
	// Output:
	// sluiceconfig: 2 invalid setting(s):
	// 	rules[0].algoritm: unknown key
	// 	rules[0].windows[0]: "10/x": unknown unit "x"
}
