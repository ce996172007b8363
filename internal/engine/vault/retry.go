package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// DefaultRetryWindow is how long the engine keeps retrying a request that Vault could not
// take (connection refused, a standby without a leader, 429, 502, 503): long enough for a
// Raft leader election, which takes seconds.
const DefaultRetryWindow = 30 * time.Second

// Backoff between the attempts of one request: doubling from retryFirstBackoff up to
// retryMaxBackoff, within the retry window.
const (
	retryFirstBackoff = 100 * time.Millisecond
	retryMaxBackoff   = 2 * time.Second
)

// retryTransport rides through a leader election and short outages. It sits below the Vault
// client (whose own retries are off), so every request of the engine, KV ones included, goes
// through it. A retry goes to the addresses the user configured, in turn, never to the
// address a standby redirected the request to, which may be the dead leader.
//
// Only failures that prove Vault did not carry the request out are retried, so a write is
// never applied twice: a refused connection (nothing was sent), 429, 502 and 503 (refused
// before handling), and a 500 from a standby that has no active node to forward to. Reads and
// look-ups sent as writes (readOnly) are also retried after any transport error. A write whose response was lost after it was sent is
// not retried: the error reaches the caller, and the engine's create-adopt design makes the
// next apply converge.
type retryTransport struct {
	next   http.RoundTripper
	addrs  []*url.URL
	window time.Duration
	logf   func(msg string, fields map[string]any)
}

// addressList is Address followed by the other Addresses, each once.
func (c *Config) addressList() ([]*url.URL, error) {
	var out []*url.URL
	seen := map[string]bool{}
	for _, a := range append([]string{c.Address}, c.Addresses...) {
		u, err := url.Parse(a)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("vault address %q: want http(s)://host:port: %w", a, engine.ErrInvalid)
		}
		if !seen[u.Host] {
			seen[u.Host] = true
			out = append(out, u)
		}
	}
	return out, nil
}

type idempotentKey struct{}

// idempotent marks ctx as carrying a request that has the same effect however often it is sent:
// one that changes nothing although it is sent as a write (a token look-up), or a write that
// sets a whole object to given values (a role's settings, an entity by name). retryTransport
// retries it after any transport error, like a read: a connection reset by a leader killed
// mid-request leaves its outcome unknown, and sending it again settles it.
func idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

type onePassKey struct{}

// onePass marks ctx so that its requests try each configured address once, without backoff:
// Open's first request, where a refused connection much more likely means a wrong address
// than an election, and should say so at once.
func onePass(ctx context.Context) context.Context { return context.WithValue(ctx, onePassKey{}, true) }

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	single := ctx.Value(onePassKey{}) != nil
	start := time.Now()
	backoff := retryFirstBackoff
	r := req
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(r)
		why := retryReason(req.Method == http.MethodGet || req.Method == "LIST" || ctx.Value(idempotentKey{}) != nil, resp, err)
		if why == "" && attempt > 1 && resp != nil {
			// A request already failing over is retried on answers that mean "not yet": a
			// standby that still redirects to the dead leader (the client follows only the
			// first redirect), and a node that has just become active and answers 404 until it
			// has mounted everything again. Outside a failover both are answers (a 404 from a
			// mount that does not exist yet, say), and after the window they still are.
			switch {
			case resp.StatusCode >= 300 && resp.StatusCode < 400:
				why = resp.Status + " to " + resp.Header.Get("Location") + " from a standby during the election"
			case resp.StatusCode == http.StatusNotFound && bodyContains(resp, "no handler for route"):
				why = "404 from a node still taking over"
			}
		}
		if why == "" {
			return resp, err
		}
		next := t.addrs[attempt%len(t.addrs)]
		exhausted := time.Since(start)+backoff > t.window
		if single {
			exhausted = attempt >= len(t.addrs)
		}
		if exhausted || (req.Body != nil && req.GetBody == nil) {
			if err != nil {
				return nil, fmt.Errorf("%w (%d attempts over %s against %s; the vault block's retry_window is %s)",
					err, attempt, time.Since(start).Round(time.Millisecond), t.addrList(), t.window)
			}
			return resp, nil
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			_ = resp.Body.Close()
		}
		t.logf("retrying a Vault request", map[string]any{"reason": why, "attempt": attempt, "address": next.Host, "path": req.URL.Path})
		if !single {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, retryMaxBackoff)
		}
		r = req.Clone(ctx)
		r.URL.Scheme, r.URL.Host, r.Host = next.Scheme, next.Host, ""
		if req.GetBody != nil {
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

func (t *retryTransport) addrList() string {
	hosts := make([]string, len(t.addrs))
	for i, a := range t.addrs {
		hosts[i] = a.Scheme + "://" + a.Host
	}
	return strings.Join(hosts, ", ")
}

// retryReason says why the outcome of one attempt is worth another, or is empty.
func retryReason(read bool, resp *http.Response, err error) string {
	if err != nil {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return ""
		case dialFailed(err):
			return "cannot connect: " + err.Error()
		case read:
			return "read failed: " + err.Error()
		}
		return ""
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
		return resp.Status
	case http.StatusInternalServerError:
		// A standby whose leader is gone: "local node not active but active cluster node not
		// found" (or similar). Any other 500 may have been carried out in part.
		if bodyContains(resp, "not active", "standby") {
			return resp.Status + " from a standby without a leader"
		}
	}
	return ""
}

// dialFailed reports whether err is a failure to connect, before anything was sent.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

// bodyContains reports whether the first 64 KiB of resp's body contain any of words, leaving
// the whole body readable again (what was read, then the rest).
func bodyContains(resp *http.Response, words ...string) bool {
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	for _, w := range words {
		if strings.Contains(string(head), w) {
			return true
		}
	}
	return false
}
