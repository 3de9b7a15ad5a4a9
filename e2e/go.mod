module github.com/sluicehq/sluice/e2e

go 1.25.0

replace github.com/sluicehq/sluice/testkit => ../testkit

replace github.com/sluicehq/sluice/core => ../core

replace github.com/sluicehq/sluice/client => ../client

replace github.com/sluicehq/sluice/adapters/nethttp => ../adapters/nethttp

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/sluicehq/sluice/client v0.9.0
	github.com/sluicehq/sluice/testkit v0.9.0
	github.com/tsenart/vegeta/v12 v12.13.0
)

require (
	github.com/dunglas/httpsfv v1.1.2 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/influxdata/tdigest v0.0.1 // indirect
	github.com/josharian/intern v1.0.0 // indirect
	github.com/mailru/easyjson v0.7.7 // indirect
	github.com/rs/dnscache v0.0.0-20230804202142-fc85eb664529 // indirect
	github.com/sluicehq/sluice/core v0.9.0 // indirect
	golang.org/x/net v0.27.0 // indirect
	golang.org/x/sync v0.7.0 // indirect
	golang.org/x/text v0.16.0 // indirect
)
