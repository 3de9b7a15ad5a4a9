module github.com/sluicehq/sluice/adapters/echov5

go 1.25.0

require (
	github.com/labstack/echo/v5 v5.4.6
	github.com/sluicehq/sluice/core v0.0.0
	github.com/sluicehq/sluice/testkit v0.0.0
)

require github.com/dunglas/httpsfv v1.1.2 // indirect

replace (
	github.com/sluicehq/sluice/core => ../../core
	github.com/sluicehq/sluice/testkit => ../../testkit
)
