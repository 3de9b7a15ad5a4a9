module github.com/sluicehq/sluice/admin

go 1.25.0

require (
	github.com/sluicehq/sluice/backends/redis v0.9.0
	github.com/sluicehq/sluice/core v0.9.0
	github.com/sluicehq/sluice/testkit v0.9.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/redis/go-redis/v9 v9.22.0 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/sluicehq/sluice/backends/redis => ../backends/redis
	github.com/sluicehq/sluice/core => ../core
	github.com/sluicehq/sluice/testkit => ../testkit
)
