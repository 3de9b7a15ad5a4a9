module github.com/sluicehq/sluice/core

go 1.25

require github.com/sluicehq/sluice/testkit v0.0.0

require (
	github.com/sony/gobreaker/v2 v2.4.0
	go.uber.org/goleak v1.3.0
)

require github.com/dunglas/httpsfv v1.1.2

replace github.com/sluicehq/sluice/testkit => ../testkit
