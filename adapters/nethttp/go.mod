module github.com/sluicehq/sluice/adapters/nethttp

go 1.25

require github.com/sluicehq/sluice/core v0.9.0

replace github.com/sluicehq/sluice/core => ../../core
