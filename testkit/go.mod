module github.com/sluicehq/sluice/testkit

go 1.25

require github.com/sluicehq/sluice/core v0.9.0

require github.com/dunglas/httpsfv v1.1.2

replace github.com/sluicehq/sluice/core => ../core
