package sluiceconfig

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
)

// logger returns the logger the section describes, writing to w, or nil
// when logging is off.
func (l *loggingConfig) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	switch l.Level {
	case "", "off":
		return nil
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	ho := &slog.HandlerOptions{Level: level}
	if l.HashKeys {
		secret := []byte(l.HashSecret)
		if len(secret) == 0 {
			secret = make([]byte, 32)
			rand.Read(secret) // never fails (crypto/rand)
		}
		ho.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == "client" && a.Value.Kind() == slog.KindString {
				a.Value = slog.StringValue(hashClient(secret, a.Value.String()))
			}
			return a
		}
	}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// hashClient replaces the value of a client as logs show it, "kind:value",
// with the first 16 hex digits of its HMAC-SHA-256 under secret: the kind
// stays readable, and one client's lines still match one another (and
// another instance's, with the same secret), but the log holds no IP
// address, user ID or key.
func hashClient(secret []byte, client string) string {
	kind, _, ok := strings.Cut(client, ":")
	if !ok {
		kind = ""
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(client))
	return kind + ":" + hex.EncodeToString(mac.Sum(nil)[:8])
}
