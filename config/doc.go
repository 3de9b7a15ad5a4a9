// Package sluiceconfig configures Sluice from a file and the environment,
// and reloads the rules while the service runs. Import it as
//
//	import sluiceconfig "github.com/sluicehq/sluice/config"
//
// The file is TOML (the documented format, see config.example.toml), YAML
// or JSON, read with github.com/spf13/viper. Every key can be overridden by
// an environment variable named SLUICE_ and the key's path in upper case
// joined by "_": backend.redis.url is SLUICE_BACKEND_REDIS_URL, and an
// element of an array of tables is reached by its index: rules[0].windows
// is SLUICE_RULES_0_WINDOWS. Lists from the environment are comma-separated.
//
//	svc, err := sluiceconfig.New("sluice.toml") // load, validate, build
//	if err != nil {
//		log.Fatal(err) // lists every problem
//	}
//	defer svc.Close()
//	if err := svc.Watch(); err != nil { // reload on change and SIGHUP
//		log.Fatal(err)
//	}
//	handler := sluicehttp.Middleware(svc.Limiter, svc.HTTP...)(mux)
//
// New builds a Service: the Limiter, the adapter options of the headers
// section, and the Prometheus metrics when the file turns them on. Load
// only reads and validates a file, for a configuration check.
//
// Validation collects every problem, each a *core.ConfigError with its
// path and bad value ("rules[2].windows[0]: "10/x": unknown unit "x""),
// including unknown keys in the file and SLUICE_ variables that name no
// key, so a typo cannot silently disable a limit. See Service.Reload for
// what a reload can change. docs/configuration.md is the reference.
package sluiceconfig
