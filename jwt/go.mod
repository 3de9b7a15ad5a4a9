module github.com/sluicehq/sluice/jwt

go 1.25

require (
	github.com/MicahParks/jwkset v0.11.4
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/sluicehq/sluice/core v0.9.0
)

require golang.org/x/time v0.9.0 // indirect

replace (
	github.com/sluicehq/sluice/core => ../core
	github.com/sluicehq/sluice/testkit => ../testkit
)
