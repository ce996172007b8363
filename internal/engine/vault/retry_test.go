package vault

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// fakeVault answers Open's two requests, and hands every request to path to answer.
func fakeVault(t *testing.T, path string, answer func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/sys/seal-status":
			_, _ = w.Write([]byte(`{"initialized":true,"sealed":false,"t":1,"n":1,"progress":0}`))
		case "/v1/auth/token/lookup-self":
			_, _ = w.Write([]byte(`{"data":{}}`))
		case "/v1/" + path:
			answer(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// deadAddress is an address where nothing listens.
func deadAddress() string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func openFake(t *testing.T, cfg Config) *Engine {
	t.Helper()
	cfg.Token = "t"
	e, err := Open(context.Background(), cfg, nil, nil)
	must(t, err)
	return e
}

// TestRetryRedirectToDeadLeader: a standby redirects to the old leader, which is dead; the
// retry goes to the configured address (the standby, now leader), not to the dead one.
func TestRetryRedirectToDeadLeader(t *testing.T) {
	dead := deadAddress()
	var calls atomic.Int32
	srv := fakeVault(t, "nhi/config", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Location", dead+r.URL.RequestURI())
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		_, _ = w.Write([]byte(`{"data":{"max_versions":0}}`))
	})
	e := openFake(t, Config{Address: srv.URL})
	if _, err := e.read(context.Background(), "nhi/config"); err != nil {
		t.Fatalf("read after a redirect to a dead leader: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("the configured address saw %d requests, want 2 (the redirect, then the retry)", n)
	}
}

// TestRetryAnswers: which answers are retried. Refusals that prove Vault did not act (503,
// 429, a standby's 500) are retried until they pass; any other 500 on a write is not, since
// it may have been carried out.
func TestRetryAnswers(t *testing.T) {
	for _, c := range []struct {
		name      string
		code      int
		body      string
		wantCalls int32
		wantErr   bool
	}{
		{"standby 503", 503, `{"errors":["Vault is sealed"]}`, 3, false},
		{"rate limited", 429, `{"errors":["rate limit quota exceeded"]}`, 3, false},
		{"standby without leader", 500, `{"errors":["local node not active but active cluster node not found"]}`, 3, false},
		{"other 500", 500, `{"errors":["internal error"]}`, 1, true},
	} {
		var calls atomic.Int32
		srv := fakeVault(t, "nhi/data/x", func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) < 3 {
				w.WriteHeader(c.code)
				_, _ = w.Write([]byte(c.body))
				return
			}
			_, _ = w.Write([]byte(`{"data":{}}`))
		})
		e := openFake(t, Config{Address: srv.URL})
		e.mountsReady = true
		_, err := e.write(context.Background(), "nhi/data/x", map[string]any{"data": map[string]any{"k": "v"}})
		if (err != nil) != c.wantErr || calls.Load() != c.wantCalls {
			t.Errorf("%s: error %v and %d attempts, want error %v and %d attempts", c.name, err, calls.Load(), c.wantErr, c.wantCalls)
		}
	}
}

// TestRetryWindowExhausted: a Vault that never recovers fails the request once the retry
// window is over, and the error says so.
func TestRetryWindowExhausted(t *testing.T) {
	var calls atomic.Int32
	srv := fakeVault(t, "nhi/config", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"errors":["no leader"]}`))
	})
	e := openFake(t, Config{Address: srv.URL, RetryWindow: 500 * time.Millisecond})
	_, err := e.read(context.Background(), "nhi/config")
	if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), "retry window, 500ms") {
		t.Fatalf("error = %v, want ErrUnavailable naming the retry window", err)
	}
	if calls.Load() < 2 {
		t.Fatalf("%d attempts, want retries within the window", calls.Load())
	}
}

// TestRetryAddresses: with the first configured node down, Open and requests go to the next
// one; with every node down, Open fails at once naming them all.
func TestRetryAddresses(t *testing.T) {
	var calls atomic.Int32
	srv := fakeVault(t, "nhi/config", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte(`{"data":{}}`))
	})
	dead := deadAddress()
	e := openFake(t, Config{Address: dead, Addresses: []string{srv.URL}})
	if _, err := e.read(context.Background(), "nhi/config"); err != nil || calls.Load() != 1 {
		t.Fatalf("read with the first node down: error %v, %d requests on the second node", err, calls.Load())
	}
	other := deadAddress()
	_, err := Open(context.Background(), Config{Address: dead, Addresses: []string{other}, Token: "t"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "2 attempts") || !strings.Contains(err.Error(), other) {
		t.Fatalf("Open with every node down: error = %v, want one attempt per address, naming them", err)
	}
}
