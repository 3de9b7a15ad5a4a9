module github.com/sluicehq/sluice/core

go 1.25

require (
	github.com/dunglas/httpsfv v1.1.2
	go.uber.org/goleak v1.3.0
)
