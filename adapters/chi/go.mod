module github.com/sluicehq/sluice/adapters/chi

go 1.25

require github.com/sluicehq/sluice/core v0.9.0

require github.com/go-chi/chi/v5 v5.5.0

replace github.com/sluicehq/sluice/core => ../../core
