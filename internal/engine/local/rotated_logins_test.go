package local

import (
	"context"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// TestTargetOneLoginStagingKilled: the staging of a one-login rotated secret is killed between
// its two steps on the target (the login recorded, the password set), then after both; after
// each kill the current secret still logs in once the rollback (DiscardSecret) ran, and the next
// rotation converges. Runs against the server of scripts/postgres-dev (make testpg).
func TestTargetOneLoginStagingKilled(t *testing.T) {
	e, f, ctx := rotationOnTarget(t, "svc-killed")
	login := engine.RotatedLoginName("svc-killed")
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), login) })
	v1, current := stage(t, e, "svc-killed")
	promote(t, e, "svc-killed", v1.Version, engine.PromoteOptions{})
	if err := f.Admin.Login(ctx, login, current); err != nil {
		t.Fatalf("the first version does not log in: %v", err)
	}

	// Killed between the two steps: the process dies there (a panic stands for kill -9).
	type killed struct{}
	e.killPoint = func(point string) {
		if point == "staged login recorded" {
			panic(killed{})
		}
	}
	func() {
		defer func() {
			if r := recover(); r != (killed{}) {
				t.Fatalf("staging was not killed at its kill point: %v", r)
			}
		}()
		_, _, _ = e.StageSecret(ctx, "svc-killed", 32)
	}()
	e.killPoint = nil
	if err := f.Admin.Login(ctx, login, current); err != nil {
		t.Fatalf("after a kill between recording the login and setting its password, the current secret does not log in: %v", err)
	}
	for _, killedAfterBoth := range []bool{false, true} {
		if killedAfterBoth {
			stage(t, e, "svc-killed") // both steps done, killed before verification and promotion
		}
		versions, err := e.ListSecretVersions(ctx, "svc-killed")
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			if v.State == engine.SecretStaged {
				if err := e.DiscardSecret(ctx, "svc-killed", v.Version); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := f.Admin.Login(ctx, login, current); err != nil {
			t.Fatalf("killed after both steps %v: after the rollback the current secret does not log in: %v", killedAfterBoth, err)
		}
	}
	// The next rotation converges.
	v, next := stage(t, e, "svc-killed")
	promote(t, e, "svc-killed", v.Version, engine.PromoteOptions{})
	if err := f.Admin.Login(ctx, login, next); err != nil {
		t.Fatalf("the next rotation's secret does not log in: %v", err)
	}
	if err := f.Admin.Login(ctx, login, current); err == nil {
		t.Fatal("the replaced secret still logs in")
	}
}

// rotationOnTarget opens an engine at the wall clock with f's target and a persistent identity
// name on it whose one scope is f's role (the server of scripts/postgres-dev).
func rotationOnTarget(t *testing.T, name string) (*Engine, *acctest.PostgresFixture, context.Context) {
	t.Helper()
	f := acctest.NewPostgresFixture(t)
	ctx := context.Background()
	e := openRotation(t, clock.NewFake(time.Now()))
	if err := e.PutTarget(ctx, engine.Target{Name: f.Target, Connection: f.Conn, PasswordVersion: 1}, f.Password); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc", Target: f.Target, Scopes: []string{f.Reader}}); err != nil {
		t.Fatal(err)
	}
	return e, f, ctx
}
