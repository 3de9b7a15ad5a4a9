module github.com/sluicehq/sluice/client

go 1.25

require github.com/dunglas/httpsfv v1.1.2

replace (
	github.com/sluicehq/sluice/adapters/nethttp => ../adapters/nethttp
	github.com/sluicehq/sluice/core => ../core
	github.com/sluicehq/sluice/testkit => ../testkit
)
