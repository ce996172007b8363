package local

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Benchmarks of the local engine's operations on a temporary database with the wall clock and
// the default (synced) bbolt options, i.e. what the provider does per resource. Run with
//
//	go test ./internal/engine/local/ -run '^$' -bench . -benchtime 2000x

// benchWorkers is the concurrency of parallel benchmarks and of setup: Terraform's default
// -parallelism.
const benchWorkers = 10

// openBench opens a fresh engine with class "ci", TTL policy "p" (1m TTL, 1h lifetime,
// unlimited uses) and identities ci-bench-0 .. ci-bench-(n-1).
func openBench(b *testing.B, n int) *Engine { return openBenchOn(b, nil, n) }

// openBenchOn is openBench on clock clk (the wall clock when nil).
func openBenchOn(b *testing.B, clk clock.Clock, n int) *Engine {
	b.Helper()
	e, err := Open(filepath.Join(b.TempDir(), "engine.db"), Options{Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	ctx := context.Background()
	maxRenewals := int64(1)
	if err := e.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour, MaxRenewals: &maxRenewals}); err != nil {
		b.Fatal(err)
	}
	if err := e.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "p", Class: "ci", TTL: time.Minute, MaxLifetime: time.Hour}); err != nil {
		b.Fatal(err)
	}
	parallel(b, n, func(i int) error {
		_, err := e.CreateIdentity(ctx, benchIdentity(i))
		return err
	})
	return e
}

func benchIdentity(i int) policy.Identity {
	return policy.Identity{
		Name: fmt.Sprintf("ci-bench-%d", i), Class: "ci", Owner: "team-bench", Environment: "dev",
		TTLPolicy: "p", Scopes: []string{"read:artifacts"},
	}
}

// parallel runs fn(0..n-1) on benchWorkers goroutines, so setup writes share bbolt batches.
func parallel(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	parallelN(b, benchWorkers, n, fn)
}

// BenchmarkCreateIdentity creates identities with unique names from benchWorkers goroutines,
// as terraform apply does with -parallelism=10.
func BenchmarkCreateIdentity(b *testing.B) {
	e := openBench(b, 0)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism((benchWorkers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.CreateIdentity(ctx, benchIdentity(int(seq.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchLoop times op(0..b.N-1), failing on the first error.
func benchLoop(b *testing.B, op func(i int) error) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
}

// benchName is the name of identity i of openBench.
func benchName(i int) string { return benchIdentity(i).Name }

// BenchmarkCreateIdentitySerial creates identities one at a time: one bbolt batch (and fsync)
// per create.
func BenchmarkCreateIdentitySerial(b *testing.B) {
	e := openBench(b, 0)
	benchLoop(b, func(i int) error {
		_, err := e.CreateIdentity(context.Background(), benchIdentity(i))
		return err
	})
}

// BenchmarkGetIdentity reads identities of a 1000-identity database, as refresh does.
func BenchmarkGetIdentity(b *testing.B) {
	const n = 1000
	e := openBench(b, n)
	benchLoop(b, func(i int) error {
		_, err := e.GetIdentity(context.Background(), benchName(i%n))
		return err
	})
}

// BenchmarkListIdentities lists a 1000-identity database.
func BenchmarkListIdentities(b *testing.B) {
	const n = 1000
	e := openBench(b, n)
	benchLoop(b, func(int) error {
		ids, err := e.ListIdentities(context.Background())
		if err == nil && len(ids) != n {
			err = fmt.Errorf("listed %d identities, want %d", len(ids), n)
		}
		return err
	})
}

// BenchmarkIssueCredential issues credentials, one at a time, round-robin over 100 identities.
func BenchmarkIssueCredential(b *testing.B) {
	const n = 100
	e := openBench(b, n)
	benchLoop(b, func(i int) error {
		_, _, err := e.IssueCredential(context.Background(), engine.CredentialRequest{Identity: benchName(i % n), Requester: "bench"})
		return err
	})
}

// BenchmarkAuthenticate authenticates with live, uncapped secrets, round-robin over 100
// credentials of 100 identities.
func BenchmarkAuthenticate(b *testing.B) {
	const n = 100
	e := openBench(b, n)
	ctx := context.Background()
	secrets := make([]string, n)
	parallel(b, n, func(i int) error {
		var err error
		_, secrets[i], err = e.IssueCredential(ctx, engine.CredentialRequest{Identity: benchName(i), Requester: "bench"})
		return err
	})
	benchLoop(b, func(i int) error {
		name, err := e.Authenticate(ctx, secrets[i%n])
		if err == nil && name != benchName(i%n) {
			err = fmt.Errorf("authenticated as %q, want %q", name, benchName(i%n))
		}
		return err
	})
}

// BenchmarkRetireIdentity retires identities that hold 10 live credentials each: the retire
// revokes (and audits) all 10 in one transaction.
func BenchmarkRetireIdentity(b *testing.B) {
	const creds = 10
	e := openBench(b, b.N)
	ctx := context.Background()
	parallel(b, b.N*creds, func(i int) error {
		_, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: benchName(i / creds), Requester: "bench"})
		return err
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := e.RetireIdentity(ctx, benchName(i))
		if err != nil {
			b.Fatal(err)
		}
		if !id.Retired() {
			b.Fatalf("identity %q is %q after retire", id.Name, id.Status)
		}
	}
	b.StopTimer()
	// Every credential of the last identity is revoked.
	cs, err := e.ListCredentials(ctx, benchName(b.N-1))
	if err != nil || len(cs) != creds {
		b.Fatalf("the last identity has %d credentials (%v), want %d", len(cs), err, creds)
	}
	for _, c := range cs {
		if c.RevokedAt.IsZero() {
			b.Fatalf("credential %q survived the retire", c.ID)
		}
	}
}

// Fleet of BenchmarkDriftReport: 10,000 identities and 100,000 dynamic credentials.
const (
	driftIdentities  = 10000
	driftCredentials = 100000
	// driftPersistent identities are "service" accounts with a rotation schedule and a current
	// secret version; driftBatch identities hold long-lived credentials that a tightened class
	// then caps; the rest are CI identities under policy "p", whose credentials expire in a
	// minute.
	driftPersistent = 2000
	driftBatch      = 800
	// driftIssuers issue credentials concurrently, so that db.Batch commits many per fsync.
	driftIssuers = 64
)

// parallelN runs fn(0..n-1) on workers goroutines.
func parallelN(b *testing.B, workers, n int, fn func(i int) error) {
	b.Helper()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		once     sync.Once
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

// driftIdentity is identity i of the drift fleet: service-0.., then batch-0.., then ci-bench-0...
func driftIdentity(i int) policy.Identity {
	switch {
	case i < driftPersistent:
		return policy.Identity{Name: fmt.Sprintf("service-%d", i), Class: "service", Owner: "team-bench", Environment: "prod"}
	case i < driftPersistent+driftBatch:
		return policy.Identity{Name: fmt.Sprintf("batch-%d", i), Class: "batch", Owner: "team-bench", Environment: "prod", TTLPolicy: "batch-long"}
	default:
		return benchIdentity(i)
	}
}

// putDriftIdentities puts the drift fleet's classes (with batch as given) and TTL policy into e
// and creates its identities.
func putDriftIdentities(b *testing.B, e *Engine, batch policy.Class) {
	b.Helper()
	ctx := context.Background()
	for _, err := range []error{
		e.PutClass(ctx, policy.Class{Name: "service", Kind: policy.KindPersistent, MaxRotationInterval: 30 * 24 * time.Hour, RequireOwner: true}),
		e.PutClass(ctx, batch),
		e.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "batch-long", Class: "batch", TTL: 12 * time.Hour, MaxLifetime: 12 * time.Hour}),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
	parallelN(b, driftIssuers, driftIdentities, func(i int) error {
		_, err := e.CreateIdentity(ctx, driftIdentity(i))
		return err
	})
}

// buildDriftFleet fills e with the drift fleet. A tenth of the rotation schedules rotate hourly
// and the batch class is tightened to a 1h lifetime after its credentials were issued, so a
// report two hours later has findings and trust debt to compute.
func buildDriftFleet(b *testing.B, e *Engine) {
	b.Helper()
	ctx := context.Background()
	maxRenewals := int64(3)
	batch := policy.Class{Name: "batch", Kind: policy.KindEphemeral, MaxLifetime: 24 * time.Hour, MaxRenewals: &maxRenewals}
	putDriftIdentities(b, e, batch)
	// Schedules and secret versions: db.Update, one fsync each, so a few workers suffice.
	parallelN(b, benchWorkers, driftPersistent, func(i int) error {
		name := driftIdentity(i).Name
		interval := 24 * time.Hour
		if i%10 == 0 {
			interval = time.Hour
		}
		err := e.PutRotationSchedule(ctx, policy.RotationSchedule{Identity: name, Interval: interval, Overlap: 10 * time.Minute,
			Consumers: []policy.Consumer{{Name: "api"}}, KeepVersions: 2, SecretLength: 32})
		if err != nil {
			return err
		}
		v, _, err := e.StageSecret(ctx, name, 32)
		if err != nil {
			return err
		}
		_, err = e.PromoteSecret(ctx, name, v.Version, engine.PromoteOptions{Overlap: 10 * time.Minute, Reason: "bench"})
		return err
	})
	ephemeral := driftIdentities - driftPersistent
	parallelN(b, driftIssuers, driftCredentials, func(i int) error {
		_, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: driftIdentity(driftPersistent + i%ephemeral).Name, Requester: "bench"})
		return err
	})
	batch.MaxLifetime = time.Hour
	if err := e.PutClass(ctx, batch); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDriftReport times one fleet-wide drift report, what nhi_drift_report does on every
// read: engine.Observe (one list per kind of record) then policy.Drift, over 10,000 identities
// (2,000 with a rotation schedule and a current secret) and 100,000 credentials, two hours
// after they were issued. The fleet is built once, outside the timed sub-benchmark.
func BenchmarkDriftReport(b *testing.B) {
	start := time.Now()
	e := openBench(b, 0)
	buildDriftFleet(b, e)
	b.Logf("setup: %d identities, %d credentials, %d rotated secrets in %s",
		driftIdentities, driftCredentials, driftPersistent, time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	now := time.Now().Add(2 * time.Hour)
	b.Run(fmt.Sprintf("identities=%d/credentials=%d", driftIdentities, driftCredentials), func(b *testing.B) {
		var report policy.Report
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			fleet, err := engine.Observe(ctx, e, now)
			if err != nil {
				b.Fatal(err)
			}
			if len(fleet.Identities) != driftIdentities || len(fleet.Credentials) != driftCredentials || len(fleet.Secrets) != driftPersistent {
				b.Fatalf("observed %d identities, %d credentials, %d secret versions; want %d, %d, %d",
					len(fleet.Identities), len(fleet.Credentials), len(fleet.Secrets), driftIdentities, driftCredentials, driftPersistent)
			}
			report = policy.Drift(fleet)
		}
		b.StopTimer()
		// Every credential of a batch identity is past the tightened class's 1h lifetime, and
		// every hourly rotation is overdue.
		if want := driftCredentials/(driftIdentities-driftPersistent)*driftBatch + driftPersistent/10; len(report.Findings) < want {
			b.Fatalf("%d findings, want at least %d", len(report.Findings), want)
		}
		b.ReportMetric(float64(len(report.Findings)), "findings")
		b.ReportMetric(report.TotalTrustDebt().Hours(), "debt-hours")
	})
}

// Credential history (issue 13): what refresh and the drift report read is bounded by live
// credentials, not by history. Both benchmarks below run on a fake clock, so that credentials
// end by moving it rather than by revoking each one.
const (
	// historyEnded is the ended credentials of the busy identity of BenchmarkRefreshHistory.
	historyEnded = 10000
	// driftHistoryLive of the drift fleet's driftCredentials have not ended (the issue's 5,000):
	// one for each of the first 5,000 ephemeral identities, issued after the others ended.
	driftHistoryLive = 5000
)

// endAll moves clk past the hard expiry of every credential issued so far, and the grace after
// it: they have all ended (policy.Credential.Ended).
func endAll(clk *clock.Fake) { clk.Advance(2*time.Hour + policy.EndedGrace) }

// BenchmarkRefreshHistory times the refresh of one identity (engine.ReadObserved, what
// nhi_identity's Read does) with no ended credential and with historyEnded of them; each has
// one live credential. The two figures should be equal within noise.
func BenchmarkRefreshHistory(b *testing.B) {
	clk := clock.NewFake(time.Now())
	e := openBenchOn(b, clk, 2)
	ctx := context.Background()
	fresh, busy := benchIdentity(0).Name, benchIdentity(1).Name
	parallel(b, historyEnded, func(int) error {
		_, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: busy, Requester: "pipeline"})
		return err
	})
	endAll(clk)
	for _, name := range []string{fresh, busy} {
		if _, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: name, Requester: "pipeline"}); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		ended int
	}{{fresh, 0}, {busy, historyEnded}} {
		b.Run(fmt.Sprintf("ended=%d", c.ended), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				f, err := engine.ReadObserved(ctx, e, c.name, clk.Now())
				if err != nil {
					b.Fatal(err)
				}
				if len(f.Credentials) != 1 {
					b.Fatalf("refresh of %s observed %d credentials, want its 1 live one", c.name, len(f.Credentials))
				}
			}
		})
	}
}

// BenchmarkDriftReportHistory times the drift report over the 10,000 identities of
// BenchmarkDriftReport and 100,000 credentials, of which driftHistoryLive have not ended: the
// report decodes those only.
func BenchmarkDriftReportHistory(b *testing.B) {
	start := time.Now()
	clk := clock.NewFake(time.Now())
	e := openBenchOn(b, clk, 0)
	ctx := context.Background()
	putDriftIdentities(b, e, policy.Class{Name: "batch", Kind: policy.KindEphemeral, MaxLifetime: 24 * time.Hour})
	ephemeral := driftIdentities - driftPersistent
	issue := func(i int) error {
		_, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: driftIdentity(driftPersistent + i%ephemeral).Name, Requester: "bench"})
		return err
	}
	parallelN(b, driftIssuers, driftCredentials-driftHistoryLive, issue)
	clk.Advance(12*time.Hour + policy.EndedGrace + time.Hour)
	parallelN(b, driftIssuers, driftHistoryLive, issue)
	b.Logf("setup: %d identities, %d credentials (%d not ended) in %s",
		driftIdentities, driftCredentials, driftHistoryLive, time.Since(start).Round(time.Millisecond))
	b.Run(fmt.Sprintf("identities=%d/credentials=%d/live=%d", driftIdentities, driftCredentials, driftHistoryLive), func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			fleet, err := engine.Observe(ctx, e, clk.Now())
			if err != nil {
				b.Fatal(err)
			}
			if len(fleet.Identities) != driftIdentities || len(fleet.Credentials) != driftHistoryLive {
				b.Fatalf("observed %d identities, %d credentials; want %d, %d", len(fleet.Identities), len(fleet.Credentials), driftIdentities, driftHistoryLive)
			}
			policy.Drift(fleet)
		}
	})
}
