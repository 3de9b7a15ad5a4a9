package sluiceconfig_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/core"
)

// writeFile writes a configuration file into a new directory and returns
// its path and a function that removes the directory.
func writeFile(text string) (string, func()) {
	dir, _ := os.MkdirTemp("", "sluice")
	path := filepath.Join(dir, "sluice.toml")
	os.WriteFile(path, []byte(text), 0o600)
	return path, func() { os.RemoveAll(dir) }
}

func ExampleNew() {
	path, cleanup := writeFile(`
[[rules]]
name = "login"
path = "/login"
windows = ["2/minute"]
`)
	defer cleanup()

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

func ExampleLoad() {
	path, cleanup := writeFile(`
[[rules]]
windows = ["10/x"]
algoritm = "fixed_window"
`)
	defer cleanup()

	_, err := sluiceconfig.Load(path)
	fmt.Println(err)
	var ce *core.ConfigError
	if errors.As(err, &ce) {
		fmt.Printf("first: %s\n", ce.Path)
	}
	// Output:
	// sluiceconfig: 2 invalid setting(s):
	// 	rules[0].algoritm: unknown key
	// 	rules[0].windows[0]: "10/x": unknown unit "x"
	// first: rules[0].algoritm
}

func ExampleService_Reload() {
	rules := func(limit string) string { return "[[rules]]\nname = \"api\"\nwindows = [\"" + limit + "\"]\n" }
	path, cleanup := writeFile(rules("100/minute"))
	defer cleanup()
	svc, err := sluiceconfig.New(path, sluiceconfig.WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()

	os.WriteFile(path, []byte(rules("50/minute")), 0o600)
	fmt.Println(svc.Reload(), svc.Limiter.Rules()[0].Limits[0])
	os.WriteFile(path, []byte("[failure]\nmode = \"closed\"\n"+rules("10/minute")), 0o600)
	err = svc.Reload() // rejected, and logged to slog.Default(): the file has no [logging]
	fmt.Println(errors.Is(err, sluiceconfig.ErrRestartRequired), svc.Limiter.Rules()[0].Limits[0])
	// Output:
	// <nil> 50/m
	// true 50/m
}

func ExampleService_Watch() {
	rules := func(limit string) string { return "[[rules]]\nname = \"api\"\nwindows = [\"" + limit + "\"]\n" }
	path, cleanup := writeFile(rules("100/minute"))
	defer cleanup()
	reloads := make(chan error, 10)
	svc, err := sluiceconfig.New(path, sluiceconfig.WithRegisterer(prometheus.NewRegistry()),
		sluiceconfig.WithReloadObserver(func(err error) { reloads <- err }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close() // stops watching too
	if err := svc.Watch(); err != nil {
		fmt.Println(err)
		return
	}

	// Replace the file, as editors and configuration managers do.
	os.WriteFile(path+".new", []byte(rules("50/minute")), 0o600)
	os.Rename(path+".new", path)
	fmt.Println(<-reloads, svc.Limiter.Rules()[0].Limits[0])
	// Output:
	// <nil> 50/m
}
