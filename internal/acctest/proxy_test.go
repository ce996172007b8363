package acctest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProxyCountsAndCuts(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	p := NewProxy(t, backend.URL)

	do := func(method, path string) int {
		t.Helper()
		req, err := http.NewRequest(method, p.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	if got := do(http.MethodGet, "/v1/a"); got != http.StatusOK {
		t.Fatalf("unarmed proxy: status %d, want 200", got)
	}
	p.FailAfter(1)
	if got := do(http.MethodGet, "/v1/b"); got != http.StatusOK {
		t.Fatalf("first request after FailAfter(1): status %d, want 200", got)
	}
	if got := do("LIST", "/v1/c"); got != http.StatusServiceUnavailable {
		t.Fatalf("second request after FailAfter(1): status %d, want 503", got)
	}
	if failed := p.Heal(); failed != 1 {
		t.Fatalf("Heal() = %d failed requests, want 1", failed)
	}

	p.FailAfterFirstWrite(0)
	if got := do(http.MethodGet, "/v1/d"); got != http.StatusOK {
		t.Fatalf("a read before the first write: status %d, want 200", got)
	}
	if got := do(http.MethodPost, "/v1/e"); got != http.StatusServiceUnavailable {
		t.Fatalf("the first write with FailAfterFirstWrite(0): status %d, want 503", got)
	}
	if got := do(http.MethodGet, "/v1/f"); got != http.StatusServiceUnavailable {
		t.Fatalf("a read after the outage started: status %d, want 503", got)
	}
	if failed := p.Heal(); failed != 2 {
		t.Fatalf("Heal() = %d failed requests, want 2", failed)
	}

	reqs := p.Requests()
	if len(reqs) != 6 || reqs[2] != (Request{Method: "LIST", Path: "/v1/c"}) || reqs[2].Write() || !reqs[4].Write() {
		t.Fatalf("Requests() = %v, want the six requests in order with LIST a read and POST a write", reqs)
	}
	p.Reset()
	if n := len(p.Requests()); n != 0 {
		t.Fatalf("after Reset: %d requests, want 0", n)
	}
}
