package local

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// TestTargetRotatedLoginNotTakenOver: a role that holds the name of an identity's rotated login
// but was not made by this engine (made by hand here) is never taken over: staging a secret on
// it is refused with ErrConflict and leaves its password alone, and retiring the identity does
// not drop it. Runs against the server of scripts/postgres-dev (make testpg).
func TestTargetRotatedLoginNotTakenOver(t *testing.T) {
	e, f, ctx := rotationOnTarget(t, "svc-taken")
	login := engine.RotatedLoginName("svc-taken")
	acctest.PostgresExec(t, f.Conn, f.Password, `CREATE ROLE "`+login+`" LOGIN PASSWORD 'made-by-hand'`)
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), login) })

	if _, _, err := e.StageSecret(ctx, "svc-taken", 32); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("StageSecret over a role made by hand: error = %v, want ErrConflict", err)
	}
	if err := f.Admin.Login(ctx, login, "made-by-hand"); err != nil {
		t.Fatalf("the hand-made role's password was changed: %v", err)
	}
	if _, err := e.RetireIdentity(ctx, "svc-taken"); err != nil {
		t.Fatal(err)
	}
	if l, err := f.Admin.Inspect(ctx, login); err != nil || !l.Exists {
		t.Fatalf("retiring the identity dropped the hand-made role: %+v, %v", l, err)
	}
}

// TestRotatedLoginNamesApart: identity names that fold to the same login text stay apart, and
// no identity's rotated login is another's alternating login.
func TestRotatedLoginNamesApart(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"App.svc", "app_svc", "APP_SVC", "x", "x_a", "x_b"} {
		base := engine.RotatedLoginName(id)
		for _, l := range []string{base, base + "_a", base + "_b"} {
			if other, ok := seen[l]; ok {
				t.Fatalf("login %q of %q is also one of %q", l, id, other)
			}
			seen[l] = id
		}
		if len(base)+2 > 63 {
			t.Fatalf("RotatedLoginName(%q) = %q leaves no room for _a/_b", id, base)
		}
	}
}

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
