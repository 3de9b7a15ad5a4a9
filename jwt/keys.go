package sluicejwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/MicahParks/jwkset"
)

// key is one verification key with the algorithms it may verify.
type key struct {
	kid  string
	algs []string
	pub  any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

var (
	hmacAlgs  = []string{"HS256", "HS384", "HS512"}
	rsaAlgs   = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	eddsaAlgs = []string{"EdDSA"}
	// asymmetricAlgs are the algorithms of public keys: those a key set
	// fetched from a URL can verify.
	asymmetricAlgs = slices.Concat(rsaAlgs, []string{"ES256", "ES384", "ES512"}, eddsaAlgs)
)

// minHMACSecret is the shortest HMAC secret accepted: 256 bits, as RFC 7518
// requires for HS256.
const minHMACSecret = 32

// newKey returns a key for pub, restricted to alg when alg is not empty.
func newKey(kid, alg string, pub any) (key, error) {
	var algs []string
	switch k := pub.(type) {
	case []byte:
		if len(k) < minHMACSecret {
			return key{}, fmt.Errorf("an HMAC secret must be at least %d bytes, got %d", minHMACSecret, len(k))
		}
		algs = hmacAlgs
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return key{}, fmt.Errorf("an RSA key must be at least 2048 bits, got %d", k.N.BitLen())
		}
		algs = rsaAlgs
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			algs = []string{"ES256"}
		case elliptic.P384():
			algs = []string{"ES384"}
		case elliptic.P521():
			algs = []string{"ES512"}
		default:
			return key{}, errors.New("unsupported elliptic curve")
		}
	case ed25519.PublicKey:
		algs = eddsaAlgs
	default:
		return key{}, fmt.Errorf("unsupported key type %T", pub)
	}
	if alg != "" {
		if !slices.Contains(algs, alg) {
			return key{}, fmt.Errorf("key %q is marked for %q, which a %T cannot verify", kid, alg, pub)
		}
		algs = []string{alg}
	}
	return key{kid: kid, algs: algs, pub: pub}, nil
}

// parsePEM reads every public key in PEM data: PKIX public keys, PKCS #1
// RSA public keys and certificates.
func parsePEM(data []byte) ([]any, error) {
	var keys []any
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM public key: %w", err)
			}
			keys = append(keys, k)
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM RSA public key: %w", err)
			}
			keys = append(keys, k)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM certificate: %w", err)
			}
			keys = append(keys, c.PublicKey)
		default:
			return nil, fmt.Errorf("PEM block %q: want a public key or a certificate (never a private key)", b.Type)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return keys, nil
}

// parseJWKS reads a JSON Web Key Set (RFC 7517) with jwkset: public RSA,
// EC and OKP (Ed25519) keys, and symmetric ("oct") keys for HMAC. Keys for
// encryption ("use": "enc") are skipped; a key's "alg" restricts it. No key
// may make the parser fetch anything ("x5u").
//
// A set from a file is all or nothing: any invalid key is an error. A set
// fetched from a URL (remote) keeps its usable keys and skips the others,
// symmetric keys included (a shared secret published at a URL is no
// secret), and is an error only when no usable key is left.
func parseJWKS(data []byte, remote bool) ([]key, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var keys []key
	var skipped error
	for i, m := range set.Keys {
		k, err := jwkKey(m, remote)
		switch {
		case err == nil && k.pub != nil:
			keys = append(keys, k)
		case err != nil && !remote:
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		case err != nil && skipped == nil:
			skipped = fmt.Errorf("key %d: %w", i, err)
		}
	}
	if len(keys) == 0 {
		if skipped != nil {
			return nil, fmt.Errorf("JWKS: no usable signature verification key (%w)", skipped)
		}
		return nil, errors.New("JWKS: no signature verification key")
	}
	return keys, nil
}

// jwkKey returns the key of one JWK; a key to skip has a nil pub.
func jwkKey(m jwkset.JWKMarshal, remote bool) (key, error) {
	if m.USE == jwkset.UseEnc {
		return key{}, nil
	}
	if m.X5U != "" {
		return key{}, errors.New("x5u is not supported: keys are never fetched")
	}
	if remote && m.KTY == jwkset.KtyOct {
		return key{}, errors.New(`a symmetric ("oct") key from a URL is no secret`)
	}
	j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{
		GetX5U: func(*url.URL) ([]*x509.Certificate, error) { return nil, errors.New("x5u is not supported") },
	})
	if err != nil {
		return key{}, err
	}
	pub := j.Key()
	switch k := pub.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	case ed25519.PrivateKey:
		pub = k.Public()
	}
	return newKey(m.KID, string(m.ALG), pub)
}
