// Command server is what a Sluice user writes: one server per framework,
// each limited by one line of registration, built from the modules as
// go get downloads them. The outside test runs it.
//
//	server <nethttp|chi|gin|echo|echov5>
//
// It listens on a free loopback port, prints "listening on ADDR", and
// limits every client to 1 request a minute.
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"
	sluicechi "github.com/sluicehq/sluice/adapters/chi"
	sluiceecho "github.com/sluicehq/sluice/adapters/echo"
	sluiceechov5 "github.com/sluicehq/sluice/adapters/echov5"
	sluicegin "github.com/sluicehq/sluice/adapters/gin"
	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: server <nethttp|chi|gin|echo|echov5>")
	}
	lim, err := core.New(core.WithDefault(core.PerMinute(1)))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	hello := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") }

	var h http.Handler
	switch os.Args[1] {
	case "nethttp":
		mux := http.NewServeMux()
		mux.HandleFunc("GET /hello", hello)
		h = sluicehttp.Middleware(lim)(mux)
	case "chi":
		r := chi.NewRouter()
		r.Use(sluicechi.Middleware(lim))
		r.Get("/hello", hello)
		h = r
	case "gin":
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.Use(sluicegin.Middleware(lim))
		r.GET("/hello", gin.WrapF(hello))
		h = r
	case "echo":
		e := echo.New()
		e.Use(sluiceecho.Middleware(lim))
		e.GET("/hello", echo.WrapHandler(http.HandlerFunc(hello)))
		h = e
	case "echov5":
		e := echov5.New()
		e.Use(sluiceechov5.Middleware(lim))
		e.GET("/hello", echov5.WrapHandler(http.HandlerFunc(hello)))
		h = e
	default:
		log.Fatalf("unknown framework %q", os.Args[1])
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, h))
}
