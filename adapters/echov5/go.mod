module github.com/sluicehq/sluice/adapters/echov5

go 1.25.0

require (
	github.com/labstack/echo/v5 v5.4.6
	github.com/sluicehq/sluice/core v0.9.0
)

replace github.com/sluicehq/sluice/core => ../../core
