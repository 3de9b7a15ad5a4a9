module github.com/sluicehq/sluice/examples/grpc

go 1.26.0

require (
	github.com/sluicehq/sluice/adapters/grpc v0.9.0
	github.com/sluicehq/sluice/backends/redis v0.9.0
	github.com/sluicehq/sluice/core v0.9.0
	github.com/sluicehq/sluice/testkit v0.9.0
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/redis/go-redis/v9 v9.22.0 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/sluicehq/sluice/adapters/grpc => ../../adapters/grpc
	github.com/sluicehq/sluice/backends/redis => ../../backends/redis
	github.com/sluicehq/sluice/core => ../../core
	github.com/sluicehq/sluice/testkit => ../../testkit
)
