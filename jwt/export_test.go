package sluicejwt

import "context"

// Token returns the token a request carries, for tests.
var Token = (*Verifier).token

// Verify verifies a token, for tests that need the reason it was refused.
func Verify(v *Verifier, token string) error {
	_, err := v.verify(context.Background(), token)
	return err
}

// WaitJWKS waits for the JWKS fetches in flight to end, and returns the
// number of fetches started so far.
func WaitJWKS(v *Verifier) int {
	n := 0
	for _, r := range v.remotes {
		r.mu.Lock()
		done := r.inflight
		r.mu.Unlock()
		if done != nil {
			<-done
		}
		r.mu.Lock()
		n += r.fetches
		r.mu.Unlock()
	}
	return n
}
