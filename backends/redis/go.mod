module github.com/sluicehq/sluice/backends/redis

go 1.25

require (
	github.com/redis/go-redis/v9 v9.22.0
	github.com/sluicehq/sluice/core v0.9.0
	github.com/sluicehq/sluice/testkit v0.9.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dunglas/httpsfv v1.1.2 // indirect
	github.com/stretchr/testify v1.8.4 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
)

replace (
	github.com/sluicehq/sluice/core => ../../core
	github.com/sluicehq/sluice/testkit => ../../testkit
)
