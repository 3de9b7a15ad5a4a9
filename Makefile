# Sluice: every target loops over every module of the workspace.
# `make test` is what CI runs (see .ci/run); `make help` lists the targets.

SHELL      := bash
.SHELLFLAGS := -eu -o pipefail -c
# bench/envoycompare is not in go.work (it builds envoyproxy/ratelimit, whose
# dependencies must not reach the workspace): make bench-envoy runs it.
MODULES    := $(shell find . -name go.mod -not -path './tools/*' -not -path './bin/*' -not -path './bench/envoycompare/*' -printf '%h\n' | sort)
BIN        := $(CURDIR)/bin
FUZZTIME   ?= 10s
BENCHTIME  ?= 1s
BENCHCOUNT ?= 6
BENCH      ?= .
COMPARE_BENCHTIME ?= 300ms

.PHONY: help test test-workspace test-gowork-off test-tools vet lint fmt staticcheck tidy release-verify api api-update count outside fuzz bench bench-compare bench-lease bench-envoy run docs generate tools clean e2e

help:
	@echo "make test     vet + go test -race on every module, in the workspace and with GOWORK=off, TEST_JOBS (3) at a time"
	@echo "make lint     gofmt, go vet, staticcheck, go mod tidy -diff on every module, and make release-verify"
	@echo "make release-verify  versions.yaml lists every go.mod and every sibling require is at its version"
	@echo "make api      every published module's API against its baseline (api/*.txt, apidiff); fails on any change"
	@echo "make api-update  rewrite the API baseline; commit it saying which names changed and why"
	@echo "make count    exported names per package (package core may have at most 60)"
	@echo "make outside  go get of each adapter from a module proxy, from a fresh module outside the repository"
	@echo "make fuzz     every fuzz target for FUZZTIME (default $(FUZZTIME))"
	@echo "make bench    every benchmark, BENCHCOUNT runs, into bench/out/new.txt, compared with benchstat"
	@echo "make bench-compare  Sluice against the other Go limiters (bench/), BENCHCOUNT interleaved runs of"
	@echo "               COMPARE_BENCHTIME (default $(COMPARE_BENCHTIME)), medians by benchstat, into docs/performance.md and .png"
	@echo "make bench-envoy  Sluice's Envoy rate limit service beside envoyproxy/ratelimit (bench/envoycompare):"
	@echo "               decisions and req/s with p50/p99 at 1-256 callers, into bench/out/envoy.md"
	@echo "make e2e      end to end: Redis Cluster + standalone, 7 example servers and 2 gRPC ones, load, faults, clients, the sluice command (e2e/)"
	@echo "               E2E_BREAK=<mutation> breaks one property on purpose; the report is in e2e/out/report.md"
	@echo "make run      the example server on the in-memory backend (:8080)"
	@echo "make docs     refresh the docs' Go snippets from their compiled sources and the pictures in docs/img"
	@echo "make generate regenerate the Go code of the .proto files (examples/grpc) with buf and the pinned plugins"

# The modules' tests run TEST_JOBS at a time (most of a module's test time
# is waiting on Redis, sockets and real timeouts, not CPU), each module's
# output printed whole when it ends; TEST_JOBS=1 runs them one by one. The
# modules of ALONE run after the others, one at a time: their fault tests
# measure how fast decisions are exact again after Redis returns, which
# other modules' load on the same cores would slow.
TEST_JOBS ?= 3
ALONE     := ./backends/redis
WS_TESTS  := $(addprefix test-workspace/,$(MODULES))
OFF_TESTS := $(addprefix test-gowork-off/,$(MODULES))
SHARED    := $(filter-out $(addprefix test-workspace/,$(ALONE)) $(addprefix test-gowork-off/,$(ALONE)),$(WS_TESTS) $(OFF_TESTS))
.PHONY: $(WS_TESTS) $(OFF_TESTS)

test: vet
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target $(SHARED) test-tools
	@$(MAKE) --no-print-directory -j1 $(addprefix test-workspace/,$(ALONE)) $(addprefix test-gowork-off/,$(ALONE))

vet:
	@for m in $(MODULES); do echo "== go vet $$m"; (cd $$m && go vet ./...); done

test-workspace: $(WS_TESTS)
$(WS_TESTS): test-workspace/%:
	@echo "== go test -race $*"; cd $* && go test -race -count=1 ./...

# What a user gets: each module on its own, resolving siblings through its
# relative replace directives.
test-gowork-off: $(OFF_TESTS)
$(OFF_TESTS): test-gowork-off/%:
	@echo "== GOWORK=off go test $*"; cd $* && GOWORK=off go test -count=1 ./...

# The tools module (Go 1.26, outside the workspace): the release command
# and its tests, among them the module-cycle check. The tests that go get
# Sluice from a module proxy run in make outside.
test-tools:
	@echo "== go vet, go test tools"; cd tools && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...

# The end-to-end run (module e2e): a Redis Cluster and a standalone Redis,
# seven example servers from one configuration file and two of the gRPC
# example, real load, real faults, real clients (sluiceclient among them),
# the sluice command and leasing.
# E2E_BREAK=<mutation> breaks one property on purpose, to show the scenario
# guarding it fails (the list is in e2e/harness_test.go).
e2e:
	cd e2e && SLUICE_E2E=1 go test -count=1 -timeout 10m -run '^TestE2E$$' -v . $(if $(E2E_BREAK),-args -e2e.break=$(E2E_BREAK))

lint: fmt vet staticcheck tidy release-verify

fmt:
	@out=$$(gofmt -l $(MODULES) tools); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

staticcheck: tools
	@for m in $(MODULES); do echo "== staticcheck $$m"; (cd $$m && $(BIN)/staticcheck ./...); done
	@echo "== staticcheck tools"; cd tools && GOWORK=off $(BIN)/staticcheck ./...

tidy:
	@for m in $(MODULES) tools; do echo "== go mod tidy -diff $$m"; (cd $$m && GOWORK=off go mod tidy -diff); done

# versions.yaml lists every go.mod (in the module set "sluice" or among the
# excluded modules), every require of a sibling is at the set's version and
# has its relative replace, go.work uses every published module, and no
# modules form a cycle. A new release: $(BIN)/release prepare vX.Y.Z, commit,
# then $(BIN)/release tag (see docs/releasing.md).
release-verify: tools
	$(BIN)/release verify

# The API freeze. api/<module dir>.txt lists each published module's
# exported API (make count shows the exported names per package); make api
# fails on any difference between the code and those listings, and apidiff,
# given the source of the last commit that changed api/ as its baseline,
# reports which changes are incompatible. A deliberate change: run
# make api-update and commit api/ with the code, saying in the commit
# message which names changed (make api-update prints them) and why.
api: tools
	$(BIN)/release api -apidiff $(BIN)/apidiff

api-update: tools
	$(BIN)/release api-update

count: tools
	$(BIN)/release count

# From outside the repository: every published module packed at its
# versions.yaml version into a file module proxy; in fresh modules, go get
# of each adapter brings no other Sluice module nor their heavy
# dependencies, and a user's module runs a server per framework and
# testkit's backend suite on its own backend (tools/internal/outside).
# Third-party modules come from the module cache or the real proxy.
outside:
	cd tools && SLUICE_OUTSIDE=1 GOWORK=off go test -count=1 -v -run '^(TestAdapterGraphs|TestAdapterRequiringTestkitFails|TestOutside)$$' ./internal/outside/

# Always rebuilt: go build is quick when nothing changed, and the release
# command changes with tools/.
tools:
	cd tools && GOWORK=off go build -o $(BIN)/ honnef.co/go/tools/cmd/staticcheck golang.org/x/perf/cmd/benchstat golang.org/x/exp/cmd/apidiff ./cmd/release

# Go before 1.27 can fail a fuzz target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is busy (golang/go#75804): no
# input fails and none is written. Such a run is tried once more; a failing
# input, or any other failure, fails at once.
fuzz:
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for m in $(MODULES); do \
		for pkg in $$(cd $$m && go list ./...); do \
			for f in $$(cd $$m && go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
				for try in 1 2; do \
					echo "== fuzz $$pkg $$f ($(FUZZTIME))"; \
					if (cd $$m && go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg) >$$log 2>&1; then cat $$log; break; fi; \
					cat $$log; \
					if grep -q 'Failing input written' $$log || ! grep -q 'context deadline exceeded' $$log || [ $$try = 2 ]; then exit 1; fi; \
					echo "== $$f: the fuzz engine's deadline race (golang/go#75804), no failing input: once more"; \
				done; \
			done; \
		done; \
	done

bench: tools
	@mkdir -p bench/out
	@[ ! -f bench/out/new.txt ] || mv bench/out/new.txt bench/out/old.txt
	@for m in $(MODULES); do (cd $$m && go test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./...); done | tee bench/out/new.txt
	@if [ -f bench/out/old.txt ]; then $(BIN)/benchstat bench/out/old.txt bench/out/new.txt; else $(BIN)/benchstat bench/out/new.txt; fi

# The comparison with the other Go rate limiters (module bench/): the
# throughput workloads for COMPARE_BENCHTIME each, the memory and accuracy
# workloads once per run (each iteration is a whole measurement). The test
# binary is built once and run BENCHCOUNT times, each run running every
# benchmark once, so that load from other work on a shared machine falls on
# every library alike rather than on the runs of one; benchstat's summary
# goes to bench/out/compare.benchstat.txt and cmd/report writes
# docs/performance.md and docs/performance.png.
bench-compare: tools
	@mkdir -p bench/out
	@start=$$(date +%s); cd bench; \
	go test -c -o out/bench.test .; \
	: >out/compare.txt; \
	for i in $$(seq $(BENCHCOUNT)); do \
		echo "== run $$i of $(BENCHCOUNT)"; \
		out/bench.test -test.run '^$$' -test.timeout 60m -test.bench '^Benchmark(HotKeySerial|HotKeyParallel|100kKeysParallel|100kKeysInOrder|Shape|RedisDecisions)$$' \
			-test.benchtime $(COMPARE_BENCHTIME) -test.count 1 | tee -a out/compare.txt; \
		out/bench.test -test.run '^$$' -test.timeout 60m -test.bench '^Benchmark(BytesPerKey|Accuracy|RedisAccuracy)$$' \
			-test.benchtime 1x -test.count 1 | tee -a out/compare.txt; \
	done; \
	$(BIN)/benchstat out/compare.txt | tee out/compare.benchstat.txt; \
	$(MAKE) -C .. --no-print-directory bench-lease bench-envoy; \
	go run ./cmd/report -in out/compare.txt -md ../docs/performance.md -png ../docs/performance.png -started $$start -benchtime $(COMPARE_BENCHTIME) \
		-append out/lease.md -append out/envoy.md; \
	echo "== wrote docs/performance.md and docs/performance.png in $$(( $$(date +%s) - start ))s"

# One hot key on three instances sharing a redis-server, with leasing
# (Rule.Prefetch) and with one Redis call per decision: decisions/s and
# admitted/s, every run checked against the limit, into bench/out/lease.md.
bench-lease: tools
	@mkdir -p bench/out
	cd backends/redis && go test -run '^$$' -bench '^BenchmarkHotKeyThreeInstances$$' -benchtime 1s -count $(BENCHCOUNT) . | tee ../../bench/out/lease.txt
	@{ echo "## One hot key on three instances: leasing"; echo; \
	  echo "\`make bench-lease\` (\`BenchmarkHotKeyThreeInstances\` in backends/redis): three Limiters, each on its own go-redis client, 48 callers, one key, one local redis-server on its own clock; \`per-call\` makes one Redis call per decision, \`prefetch\` sets \`Rule.Prefetch\` to 100ms (see [redis.md](redis.md#one-hot-key-beyond-one-shard-leasing)). Every run checks the decisions admitted against the limit. Medians of $(BENCHCOUNT) runs of 1s by benchstat:"; echo; \
	  echo '```'; $(BIN)/benchstat bench/out/lease.txt; echo '```'; } > bench/out/lease.md
	@echo "== wrote bench/out/lease.md"

# Sluice's Envoy rate limit service (envoy/) and envoyproxy/ratelimit side by
# side on one redis-server (module bench/envoycompare, outside the workspace):
# the same configuration and requests; decisions must agree; req/s, p50, p99
# and CPU per request at 1, 16, 64 and 256 callers, into bench/out/envoy.md.
bench-envoy:
	@mkdir -p bench/out
	cd bench/envoycompare && GOWORK=off go run . -md ../out/envoy.md

run:
	go run ./examples/nethttp

# docs/gen (its own module, so plotting never reaches library users) rewrites
# every Go code block of docs/*.md and README.md from the compiled file
# region its <!-- snippet: FILE#REGION --> marker names (docs/gen/snippets.go),
# and draws the pictures of docs/algorithms.md from real runs on a fake clock.
# The output is byte-for-byte deterministic; docs/gen's tests fail when a
# block or docs/img is stale.
docs:
	cd docs/gen && go run .

# The Go code of examples/grpc's .proto files, committed: buf (pinned in
# tools/buf/go.mod, a module of its own so that its dependencies never move
# staticcheck's) runs protoc-gen-go and protoc-gen-go-grpc (pinned in
# tools/go.mod) as Go tools, so nothing is installed and the output is the
# same on every machine.
generate:
	cd examples/grpc && GOWORK=off go tool -modfile=../../tools/buf/go.mod buf generate

clean:
	rm -rf $(BIN) bench/out
