package vault

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Benchmarks of refresh on Vault (`make bench` runs them against a dev server): wall time and
// requests per identity, as the request budgets count them (TestRefreshRequestBudget,
// TestRefreshFlatInHistory), and of nhi_credential's open + close
// (TestCredentialRequestBudget). Sizes come from NHI_BENCH_N (identities, default 1000) and
// NHI_BENCH_HISTORY (ended credentials of one identity, default 10000).

func benchSize(b *testing.B, env string, def int) int {
	b.Helper()
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive integer", env, v)
		}
		return n
	}
	return def
}

// refreshAll refreshes names once each, as nhi_identity's Read does, through a new engine
// (a new provider process) behind a counting proxy, and reports wall time and requests per
// identity.
func refreshAll(b *testing.B, direct *Engine, clk clock.Clock, names []string) {
	b.Helper()
	ctx := context.Background()
	var requests int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, proxy := openThroughProxy(b, direct)
		b.StartTimer()
		for _, name := range names {
			if _, err := engine.ReadObserved(ctx, e, name, clk.Now()); err != nil {
				b.Fatal(err)
			}
		}
		requests += len(proxy.Requests())
	}
	b.StopTimer()
	b.ReportMetric(float64(requests)/float64(b.N*len(names)), "requests/identity")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*len(names)), "ms/identity")
}

// BenchmarkRefreshFleet refreshes NHI_BENCH_N ephemeral identities, governance reads included.
func BenchmarkRefreshFleet(b *testing.B) {
	n := benchSize(b, "NHI_BENCH_N", 1000)
	direct, clk := openTestNow(b)
	ctx := context.Background()
	must(b, direct.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}))
	must(b, direct.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "p", Class: "ci", TTL: 10 * time.Minute, MaxLifetime: time.Hour}))
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ci-%d", i)
		_, err := direct.CreateIdentity(ctx, policy.Identity{Name: names[i], Class: "ci", TTLPolicy: "p"})
		must(b, err)
	}
	b.Run(fmt.Sprintf("identities=%d", n), func(b *testing.B) { refreshAll(b, direct, clk, names) })
}

// BenchmarkRefreshHistory refreshes one identity with no ended credential and one with
// NHI_BENCH_HISTORY of them (issued and revoked through the engine), each with one live
// credential: the two should cost the same.
func BenchmarkRefreshHistory(b *testing.B) {
	ended := benchSize(b, "NHI_BENCH_HISTORY", 10000)
	direct, clk := openTestNow(b)
	ctx := context.Background()
	p := policy.TTLPolicy{Name: "p", Class: "ci", TTL: 10 * time.Minute, MaxLifetime: time.Hour}
	setupIdentity(b, direct, p, "ci-fresh")
	_, err := direct.CreateIdentity(ctx, policy.Identity{Name: "ci-busy", Class: "ci", Owner: "team-test", TTLPolicy: p.Name, Scopes: []string{"default"}})
	must(b, err)
	start := time.Now()
	for range ended {
		c, _, err := direct.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-busy", Requester: "pipeline"})
		must(b, err)
		must(b, direct.RevokeCredential(ctx, c.ID))
	}
	for _, name := range []string{"ci-fresh", "ci-busy"} {
		_, _, err := direct.IssueCredential(ctx, engine.CredentialRequest{Identity: name, Requester: "pipeline"})
		must(b, err)
	}
	b.Logf("setup: %d credentials issued and revoked in %s", ended, time.Since(start).Round(time.Millisecond))
	b.Run("ended=0", func(b *testing.B) { refreshAll(b, direct, clk, []string{"ci-fresh"}) })
	b.Run(fmt.Sprintf("ended=%d", ended), func(b *testing.B) { refreshAll(b, direct, clk, []string{"ci-busy"}) })
}

// BenchmarkRefreshPersistent refreshes NHI_BENCH_N persistent identities, each with a rotation
// schedule and a rotated secret, governance reads included.
func BenchmarkRefreshPersistent(b *testing.B) {
	n := benchSize(b, "NHI_BENCH_N", 1000)
	direct, clk := openTestNow(b)
	ctx := context.Background()
	must(b, direct.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%d", i)
		_, err := direct.CreateIdentity(ctx, policy.Identity{Name: names[i], Class: "svc"})
		must(b, err)
		must(b, direct.PutRotationSchedule(ctx, policy.RotationSchedule{Identity: names[i], Interval: 24 * time.Hour, KeepVersions: 2, SecretLength: 32}))
		v, _, err := direct.StageSecret(ctx, names[i], 32)
		must(b, err)
		_, err = direct.PromoteSecret(ctx, names[i], v.Version, engine.PromoteOptions{})
		must(b, err)
	}
	b.Run(fmt.Sprintf("identities=%d", n), func(b *testing.B) { refreshAll(b, direct, clk, names) })
}

// BenchmarkCredentialOpenClose opens and closes credentials of one identity as nhi_credential
// does (IssueCredential, then RevokeCredentialOf naming the identity), 100 per iteration,
// through a counting proxy, and reports requests and wall time per open + close.
func BenchmarkCredentialOpenClose(b *testing.B) {
	const perIteration = 100
	direct, _ := openTestNow(b)
	ctx := context.Background()
	setupIdentity(b, direct, policy.TTLPolicy{Name: "p", Class: "ci", TTL: 10 * time.Minute, MaxLifetime: time.Hour}, "ci-job")
	e, proxy := openThroughProxy(b, direct)
	requests := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		proxy.Reset()
		for range perIteration {
			c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-job", Requester: "bench"})
			must(b, err)
			must(b, engine.RevokeCredentialOf(ctx, e, c.Identity, c.ID))
		}
		requests += len(proxy.Requests())
	}
	b.StopTimer()
	b.ReportMetric(float64(requests)/float64(b.N*perIteration), "requests/credential")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*perIteration), "ms/credential")
}
