package sluiceechov5_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"
	sluiceechov5 "github.com/sluicehq/sluice/adapters/echov5"
	"github.com/sluicehq/sluice/core"
)

// TestHandlerError checks that an error the handler returns reaches echo's
// error handler, and that the response keeps the rate-limit fields set
// before the handler ran.
func TestHandlerError(t *testing.T) {
	lim, err := core.New(core.WithDefault(core.PerMinute(2)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	e := echo.New()
	e.Use(sluiceechov5.Middleware(lim))
	e.GET("/teapot", func(c *echo.Context) error { return echo.NewHTTPError(http.StatusTeapot, "short and stout") })
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/teapot", nil))
	if got, want := w.Code, http.StatusTeapot; got != want {
		t.Errorf("status %d, want %d", got, want)
	}
	if got, want := w.Header().Get("RateLimit"), `"default";r=1;t=30`; got != want {
		t.Errorf("RateLimit = %q, want %q", got, want)
	}
}
