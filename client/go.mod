module github.com/sluicehq/sluice/client

go 1.25

require (
	github.com/dunglas/httpsfv v1.1.2
	github.com/sluicehq/sluice/adapters/nethttp v0.9.0
	github.com/sluicehq/sluice/core v0.9.0
	go.uber.org/goleak v1.3.0
)

replace (
	github.com/sluicehq/sluice/adapters/nethttp => ../adapters/nethttp
	github.com/sluicehq/sluice/core => ../core
	github.com/sluicehq/sluice/testkit => ../testkit
)
