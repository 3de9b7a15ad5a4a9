// Command sluice-ratelimit serves Envoy's rate limit service from a
// configuration file, with Sluice deciding: on Redis (standalone, Sentinel
// or Cluster) when --redis-url is set, so that any number of instances
// share their limits, and in memory otherwise.
//
//	sluice-ratelimit --config ratelimit.yaml --redis-url redis://localhost:6379
//	sluice-ratelimit --config /data/ratelimit/config --format envoy   # envoyproxy/ratelimit's files
//
// gRPC (the rate limit service and grpc.health.v1) listens on --grpc-addr,
// and HTTP on --http-addr serves /metrics (Prometheus) and /healthz. The
// configuration is reloaded when its file changes and on SIGHUP; a file
// that does not load keeps the running configuration. SIGINT and SIGTERM
// stop it gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
	sluiceenvoy "github.com/sluicehq/sluice/envoy"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sluice-ratelimit:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("sluice-ratelimit", flag.ContinueOnError)
	var (
		cfgPath  = fs.String("config", "", "the configuration `file` (or, for --format envoy, a directory of them); required")
		format   = fs.String("format", "sluice", `the configuration's format: "sluice" (Sluice's YAML) or "envoy" (envoyproxy/ratelimit's YAML)`)
		grpcAddr = fs.String("grpc-addr", ":8081", "the gRPC `address` of the rate limit service")
		httpAddr = fs.String("http-addr", ":8080", `the HTTP address of /metrics and /healthz; "" for none`)
		redisURL = fs.String("redis-url", "", "a sluiceredis `URL` (redis://, rediss://, redis+sentinel://, redis+cluster://); empty keeps counters in memory, in this process only")
		failure  = fs.String("failure", "open", `what a decision is when Redis fails: "open", "closed" or "local"`)
		timeout  = fs.Duration("timeout", 10*time.Millisecond, "the longest a decision waits for Redis before its failure mode answers")
		divisor  = fs.Int("local-divisor", 1, `with --failure local, divide every limit by this (the number of instances)`)
		logLevel = fs.String("log-level", "info", "debug, info, warn or error")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return errors.New("--config is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	load := sluiceenvoy.Load
	switch *format {
	case "sluice":
	case "envoy":
		load = sluiceenvoy.Import
	default:
		return fmt.Errorf(`--format %q: want "sluice" or "envoy"`, *format)
	}
	cfg, err := load(*cfgPath)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := sluiceprom.New(reg)
	if err != nil {
		return err
	}
	lopts := []core.Option{
		core.WithObserver(metrics),
		core.WithFailure(core.Failure{Mode: *failure, Timeout: *timeout, LocalDivisor: *divisor}),
	}
	var ping func(context.Context) error
	if *redisURL != "" {
		b, err := sluiceredis.NewFromURL(*redisURL)
		if err != nil {
			return err
		}
		defer b.Close()
		lopts = append(lopts, core.WithBackend(b))
		ping = b.Ping
	}
	srv, err := sluiceenvoy.New(cfg,
		sluiceenvoy.WithLimiterOptions(lopts...),
		sluiceenvoy.WithLogger(log),
		sluiceenvoy.WithReloadHook(metrics.ConfigReloaded),
	)
	if err != nil {
		return err
	}
	defer srv.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Watch(ctx, *cfgPath, load); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			err := reload(srv, *cfgPath, load)
			metrics.ConfigReloaded(err)
			if err != nil {
				log.Error("sluice-ratelimit: reload on SIGHUP rejected; the running configuration stays", "error", err)
			} else {
				log.Info("sluice-ratelimit: configuration reloaded on SIGHUP")
			}
		}
	}()

	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		return err
	}
	// Workers serve the calls, rather than a new goroutine per call: a
	// worker's stack has grown to what a decision needs once, not once
	// per call. Past them, calls get goroutines of their own.
	gs := grpc.NewServer(grpc.NumStreamWorkers(uint32(8 * runtime.GOMAXPROCS(0))))
	srv.Register(gs)
	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(gl) }()

	var hs *http.Server
	if *httpAddr != "" {
		hl, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			// Serving even when Redis is down: the failure modes answer.
			// The body says how Redis is.
			if ping == nil {
				fmt.Fprintln(w, "ok")
				return
			}
			pctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := ping(pctx); err != nil {
				fmt.Fprintln(w, "ok; redis unreachable, decisions follow --failure", *failure)
				return
			}
			fmt.Fprintln(w, "ok; redis ok")
		})
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- hs.Serve(hl) }()
		log.Info("sluice-ratelimit: serving", "grpc", gl.Addr().String(), "http", hl.Addr().String())
	} else {
		log.Info("sluice-ratelimit: serving", "grpc", gl.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	log.Info("sluice-ratelimit: stopping")
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		gs.Stop()
	}
	if hs != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}
	return nil
}

func reload(srv *sluiceenvoy.Server, path string, load func(string) (*sluiceenvoy.Config, error)) error {
	cfg, err := load(path)
	if err != nil {
		return err
	}
	return srv.SetConfig(cfg)
}
