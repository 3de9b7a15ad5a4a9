module github.com/sluicehq/sluice/cmd/sluice

go 1.25.0

require (
	github.com/sluicehq/sluice/admin v0.9.0
	github.com/sluicehq/sluice/config v0.9.0
	github.com/sluicehq/sluice/core v0.9.0
	github.com/sluicehq/sluice/testkit v0.9.0
	github.com/spf13/cobra v1.10.2
)

require (
	github.com/MicahParks/jwkset v0.11.4 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/fsnotify/fsnotify v1.9.0 // indirect
	github.com/go-viper/mapstructure/v2 v2.4.0 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pelletier/go-toml/v2 v2.2.4 // indirect
	github.com/prometheus/client_golang v1.24.1 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.70.1 // indirect
	github.com/prometheus/procfs v0.21.1 // indirect
	github.com/redis/go-redis/v9 v9.22.0 // indirect
	github.com/sagikazarmark/locafero v0.11.0 // indirect
	github.com/sluicehq/sluice/backends/redis v0.9.0 // indirect
	github.com/sluicehq/sluice/jwt v0.9.0 // indirect
	github.com/sluicehq/sluice/metrics v0.9.0 // indirect
	github.com/sourcegraph/conc v0.3.1-0.20240121214520-5f936abd7ae8 // indirect
	github.com/spf13/afero v1.15.0 // indirect
	github.com/spf13/cast v1.10.0 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	github.com/spf13/viper v1.21.0 // indirect
	github.com/subosito/gotenv v1.6.0 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	golang.org/x/time v0.9.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	github.com/sluicehq/sluice/adapters/nethttp => ../../adapters/nethttp
	github.com/sluicehq/sluice/admin => ../../admin
	github.com/sluicehq/sluice/backends/redis => ../../backends/redis
	github.com/sluicehq/sluice/config => ../../config
	github.com/sluicehq/sluice/core => ../../core
	github.com/sluicehq/sluice/jwt => ../../jwt
	github.com/sluicehq/sluice/metrics => ../../metrics
	github.com/sluicehq/sluice/testkit => ../../testkit
)
