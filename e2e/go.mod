module github.com/sluicehq/sluice/e2e

go 1.26.0

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
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c
	google.golang.org/grpc v1.85.0
)

require (
	golang.org/x/sys v0.48.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

require (
	github.com/dunglas/httpsfv v1.1.2 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/influxdata/tdigest v0.0.1 // indirect
	github.com/josharian/intern v1.0.0 // indirect
	github.com/mailru/easyjson v0.7.7 // indirect
	github.com/rs/dnscache v0.0.0-20230804202142-fc85eb664529 // indirect
	github.com/sluicehq/sluice/core v0.9.0 // indirect
	github.com/sluicehq/sluice/examples/grpc v0.9.0
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

replace github.com/sluicehq/sluice/examples/grpc => ../examples/grpc

replace github.com/sluicehq/sluice/adapters/grpc => ../adapters/grpc

replace github.com/sluicehq/sluice/backends/redis => ../backends/redis
