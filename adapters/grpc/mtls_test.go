package sluicegrpc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	"github.com/sluicehq/sluice/core"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// testCA issues certificates for the mutual-TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a certificate for subject, for a server (with the SAN
// localhost) or a client.
func (ca *testCA) issue(t *testing.T, subject pkix.Name, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage, tmpl.DNSNames = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestClientCertIdentity(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	serverCert := ca.issue(t, pkix.Name{CommonName: "server"}, true)
	clientA := ca.issue(t, pkix.Name{CommonName: "client-a", Organization: []string{"Acme"}}, false)
	clientB := ca.issue(t, pkix.Name{CommonName: "client-b", Organization: []string{"Acme"}}, false)

	// serve starts a TLS server limited to 1 call a minute per client and
	// returns a function that dials it with a client certificate (or none).
	serve := func(t *testing.T, auth tls.ClientAuthType, opts ...sluicegrpc.Option) func(cert *tls.Certificate) *grpc.ClientConn {
		lim, err := core.New(core.WithDefault(core.PerMinute(1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lim.Close() })
		srv := grpc.NewServer(
			grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: auth, ClientCAs: ca.pool})),
			grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim, opts...)))
		srv.RegisterService(&echoDesc, nil)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		return func(cert *tls.Certificate) *grpc.ClientConn {
			cfg := &tls.Config{RootCAs: ca.pool, ServerName: "localhost"}
			if cert != nil {
				cfg.Certificates = []tls.Certificate{*cert}
			}
			cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cc.Close() })
			return cc
		}
	}
	subject := func(err error) string {
		for _, d := range status.Convert(err).Details() {
			if qf, ok := d.(*errdetails.QuotaFailure); ok && len(qf.GetViolations()) > 0 {
				return qf.GetViolations()[0].GetSubject()
			}
		}
		return ""
	}

	t.Run("each certificate its own counter", func(t *testing.T) {
		t.Parallel()
		dial := serve(t, tls.RequireAndVerifyClientCert, sluicegrpc.WithClientCertIdentity())
		a, b := dial(&clientA), dial(&clientB)
		if err := say(t.Context(), a); err != nil {
			t.Fatalf("client A: %v", err)
		}
		err := say(t.Context(), a)
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("client A again: %v, want RESOURCE_EXHAUSTED", err)
		}
		if got, want := subject(err), "user:CN=client-a,O=Acme"; got != want {
			t.Errorf("client A's denial names %q, want %q", got, want)
		}
		if err := say(t.Context(), b); err != nil {
			t.Errorf("client B, from the same address: %v, want its own counter", err)
		}
	})
	t.Run("without the option the address", func(t *testing.T) {
		t.Parallel()
		dial := serve(t, tls.RequireAndVerifyClientCert)
		say(t.Context(), dial(&clientA))
		if err := say(t.Context(), dial(&clientB)); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("client B, from client A's address: %v, want RESOURCE_EXHAUSTED", err)
		}
	})
	t.Run("no certificate: the address", func(t *testing.T) {
		t.Parallel()
		dial := serve(t, tls.VerifyClientCertIfGiven, sluicegrpc.WithClientCertIdentity())
		say(t.Context(), dial(nil))
		err := say(t.Context(), dial(nil))
		if got := subject(err); got != "ip:127.0.0.1" {
			t.Errorf("a client without a certificate counted as %q (%v), want ip:127.0.0.1", got, err)
		}
	})
	t.Run("an unverified certificate: the address", func(t *testing.T) {
		t.Parallel()
		// RequestClientCert asks for a certificate without verifying it:
		// anyone can present any subject, so it must not count.
		dial := serve(t, tls.RequestClientCert, sluicegrpc.WithClientCertIdentity())
		forged := newTestCA(t).issue(t, pkix.Name{CommonName: "client-a", Organization: []string{"Acme"}}, false)
		say(t.Context(), dial(&forged))
		err := say(t.Context(), dial(&forged))
		if got := subject(err); got != "ip:127.0.0.1" {
			t.Errorf("an unverified certificate counted as %q (%v), want ip:127.0.0.1", got, err)
		}
	})
}
