// Package acctest holds the test server that the provider's and the engines' tests share: a
// proxy that stands between a test and a Vault server to count its requests or cut it off.
// Only tests import it. (The acceptance tests' HCL fixtures live beside them, in
// internal/provider/fixtures_test.go.)
package acctest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Request is one request that went through a Proxy.
type Request struct {
	Method string
	Path   string
}

// Write reports whether the request changes something (anything but a GET or a LIST).
func (r Request) Write() bool {
	return r.Method != http.MethodGet && r.Method != "LIST"
}

// Proxy forwards every request to a server and records it. Told to fail, it passes a number of
// further requests and then answers 503 to every request until healed: an outage at a chosen
// point, which a test moves along to cut a multi-request operation after each of its requests.
type Proxy struct {
	*httptest.Server
	mu        sync.Mutex
	requests  []Request
	left      int  // requests still passed before the outage; -1 passes all
	waitWrite bool // the countdown starts at the first write (an apply; plans only read)
	failed    int
	before    func(Request)
}

// NewProxy starts a proxy in front of target (a base address such as VAULT_ADDR); the test's
// cleanup stops it.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(strings.TrimSuffix(target, "/"))
	if err != nil || u.Host == "" {
		t.Fatalf("acctest.NewProxy: target %q is not a server address", target)
	}
	p := &Proxy{left: -1}
	forward := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := Request{Method: r.Method, Path: r.URL.Path}
		p.mu.Lock()
		before := p.before
		p.mu.Unlock()
		if before != nil {
			before(req)
		}
		if p.record(req) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"errors":["outage injected by the test"]}`))
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// record counts one request and reports whether to fail it.
func (p *Proxy) record(r Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, r)
	if p.left < 0 || (p.waitWrite && !r.Write()) {
		return false
	}
	p.waitWrite = false
	if p.left == 0 {
		p.failed++
		return true
	}
	p.left--
	return false
}

// FailAfter passes the next n requests and fails every one after them until Heal.
func (p *Proxy) FailAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.left, p.waitWrite, p.failed = n, false, 0
}

// FailAfterFirstWrite passes requests until the first write, then n requests counting that
// write, and fails every one after them until Heal.
func (p *Proxy) FailAfterFirstWrite(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.left, p.waitWrite, p.failed = n, true, 0
}

// Before runs fn on each request before the proxy forwards it, so that a test can make another
// client act at a chosen point of a multi-request operation (a race, made deterministic); nil
// stops it.
func (p *Proxy) Before(fn func(Request)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before = fn
}

// Heal ends the outage and returns how many requests it failed.
func (p *Proxy) Heal() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.left, p.waitWrite = -1, false
	return p.failed
}

// Requests returns the requests recorded since the proxy started or since Reset.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.requests...)
}

// Reset forgets the recorded requests.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}
