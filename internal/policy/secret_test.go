package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// states renders versions as "1:current 2:previous(+1h0m0s)", the expiry of a previous version
// relative to base, and the expiry of a retained one as "@" and its offset.
func states(versions []SecretVersion, base time.Time) string {
	var parts []string
	for _, v := range versions {
		p := fmt.Sprintf("%d:%s", v.Version, v.State)
		switch {
		case v.ExpiresAt.IsZero():
		case v.State == SecretRetained:
			p += "@" + v.ExpiresAt.Sub(base).String()
		default:
			p += "(+" + v.ExpiresAt.Sub(base).String() + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func sv(version int64, state string, promoted, expires time.Time) SecretVersion {
	return SecretVersion{Identity: "svc", Version: version, State: state, PromotedAt: promoted, ExpiresAt: expires}
}

// TestPromote covers every promotion the conformance suite exercises (SecretRotation,
// SecretRollbackAndKeep, SecretHardExpiry, SecretRefusals) and the rules around them. Each case
// starts from its own versions at testNow; states are rendered relative to testNow.
func TestPromote(t *testing.T) {
	now := testNow
	hour := time.Hour
	tests := []struct {
		name      string
		versions  []SecretVersion
		version   int64
		opts      PromoteOptions
		want      string
		discarded []int64
		destroyed []int64
		previous  int64
		unchanged bool
		wantErr   error
	}{
		{name: "first promotion", versions: []SecretVersion{sv(1, SecretStaged, time.Time{}, time.Time{})}, version: 1,
			opts: PromoteOptions{Overlap: hour}, want: "1:current"},
		{name: "rotation: current becomes previous for the overlap",
			versions: []SecretVersion{sv(1, SecretCurrent, now.Add(-30*Day), time.Time{}), sv(2, SecretStaged, time.Time{}, time.Time{})},
			version:  2, opts: PromoteOptions{Overlap: hour}, want: "1:previous(+1h0m0s) 2:current", previous: 1},
		{name: "overlap never outlives the replaced version's own hard expiry",
			versions: []SecretVersion{sv(1, SecretCurrent, now.Add(-hour), now.Add(10*time.Minute)), sv(2, SecretStaged, time.Time{}, time.Time{})},
			version:  2, opts: PromoteOptions{Overlap: hour}, want: "1:previous(+10m0s) 2:current", previous: 1},
		{name: "zero overlap retains the replaced version at once",
			versions: []SecretVersion{sv(1, SecretCurrent, now.Add(-hour), time.Time{}), sv(2, SecretStaged, time.Time{}, time.Time{})},
			version:  2, want: "1:retained@0s 2:current"},
		{name: "replaced version already past its hard expiry is retained",
			versions: []SecretVersion{sv(1, SecretCurrent, now.Add(-hour), now.Add(-time.Minute)), sv(2, SecretStaged, time.Time{}, time.Time{})},
			version:  2, opts: PromoteOptions{Overlap: hour}, want: "1:retained@-1m0s 2:current"},
		{name: "older previous version is retained at once, leftover staged versions discarded",
			versions: []SecretVersion{sv(1, SecretPrevious, now.Add(-2*hour), now.Add(hour)), sv(2, SecretCurrent, now.Add(-hour), time.Time{}),
				sv(3, SecretStaged, time.Time{}, time.Time{}), sv(4, SecretStaged, time.Time{}, time.Time{})},
			version: 4, opts: PromoteOptions{Overlap: hour}, want: "1:retained@0s 2:previous(+1h0m0s) 4:current", discarded: []int64{3}, previous: 2},
		{name: "hard limit of the promoted version (expire_unrotated)",
			versions: []SecretVersion{sv(1, SecretStaged, time.Time{}, time.Time{})}, version: 1,
			opts: PromoteOptions{ExpiresAt: now.Add(Day)}, want: "1:current(+24h0m0s)"},
		{name: "rollback re-promotes a retained version; the current one becomes previous",
			versions: []SecretVersion{sv(1, SecretRetained, now.Add(-3*hour), now.Add(-2*hour)), sv(2, SecretRetained, now.Add(-2*hour), now.Add(-hour)),
				sv(3, SecretCurrent, now.Add(-hour), time.Time{})},
			version: 1, opts: PromoteOptions{Overlap: time.Minute, Keep: 3}, want: "1:current 2:retained@-1h0m0s 3:previous(+1m0s)", previous: 3},
		{name: "keep counts current and previous first, then the newest retained",
			versions: []SecretVersion{sv(1, SecretCurrent, now.Add(-hour), time.Time{}), sv(2, SecretRetained, time.Time{}, now.Add(-2*hour)),
				sv(3, SecretPrevious, now.Add(-2*hour), now.Add(time.Minute)), sv(4, SecretStaged, time.Time{}, time.Time{})},
			version: 4, opts: PromoteOptions{Overlap: time.Minute, Keep: 2}, want: "1:previous(+1m0s) 4:current", destroyed: []int64{2, 3}, previous: 1},
		{name: "keep leaves the newest retained versions",
			versions: []SecretVersion{sv(1, SecretRetained, time.Time{}, now.Add(-4*hour)), sv(2, SecretRetained, time.Time{}, now.Add(-3*hour)),
				sv(3, SecretRetained, time.Time{}, now.Add(-2*hour)), sv(4, SecretCurrent, now.Add(-hour), time.Time{}), sv(5, SecretStaged, time.Time{}, time.Time{})},
			version: 5, opts: PromoteOptions{Keep: 3}, want: "3:retained@-2h0m0s 4:retained@0s 5:current", destroyed: []int64{1, 2}},
		{name: "keep zero keeps all",
			versions: []SecretVersion{sv(1, SecretRetained, time.Time{}, now.Add(-4*hour)), sv(2, SecretCurrent, now.Add(-hour), time.Time{}), sv(3, SecretStaged, time.Time{}, time.Time{})},
			version:  3, want: "1:retained@-4h0m0s 2:retained@0s 3:current"},
		// Local and Vault disagreed here: the local engine still discarded staged versions,
		// retained a previous version past its overlap and applied keep when the current
		// version was promoted again; Vault changed nothing. Decided: nothing changes, as the
		// Rotations interface promises, so that a repeated promotion (a re-run apply) neither
		// restarts the rotation clock nor discards a candidate or destroys a version.
		{name: "promoting the current version changes nothing",
			versions: []SecretVersion{sv(1, SecretPrevious, now.Add(-2*hour), now.Add(-time.Minute)), sv(2, SecretRetained, time.Time{}, now.Add(-3*hour)),
				sv(3, SecretCurrent, now.Add(-hour), time.Time{}), sv(4, SecretStaged, time.Time{}, time.Time{})},
			version: 3, opts: PromoteOptions{Overlap: hour, Keep: 1},
			want: "1:previous(+-1m0s) 2:retained@-3h0m0s 3:current 4:staged", unchanged: true},
		{name: "unknown version", versions: []SecretVersion{sv(1, SecretCurrent, now, time.Time{})}, version: 2, wantErr: ErrNoSuchVersion},
		{name: "no versions at all", version: 1, wantErr: ErrNoSuchVersion},
		{name: "negative overlap", versions: []SecretVersion{sv(1, SecretStaged, time.Time{}, time.Time{})}, version: 1,
			opts: PromoteOptions{Overlap: -time.Second}, wantErr: ErrBadPromotion},
		{name: "negative keep", versions: []SecretVersion{sv(1, SecretStaged, time.Time{}, time.Time{})}, version: 1,
			opts: PromoteOptions{Keep: -1}, wantErr: ErrBadPromotion},
		{name: "hard limit not in the future", versions: []SecretVersion{sv(1, SecretStaged, time.Time{}, time.Time{})}, version: 1,
			opts: PromoteOptions{ExpiresAt: now}, wantErr: ErrBadPromotion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.versions)
			got, err := Promote(tt.versions, tt.version, tt.opts, now)
			if !slices.Equal(before, tt.versions) {
				t.Fatal("Promote changed its input")
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Promote error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Promote error: %v", err)
			}
			if s := states(got.Versions, now); s != tt.want {
				t.Errorf("versions = %s, want %s", s, tt.want)
			}
			if !slices.Equal(got.Discarded, tt.discarded) || !slices.Equal(got.Destroyed, tt.destroyed) {
				t.Errorf("discarded %v destroyed %v, want %v and %v", got.Discarded, got.Destroyed, tt.discarded, tt.destroyed)
			}
			if got.Unchanged != tt.unchanged {
				t.Errorf("Unchanged = %v, want %v", got.Unchanged, tt.unchanged)
			}
			if prev := got.Previous; (prev == nil) != (tt.previous == 0) || (prev != nil && prev.Version != tt.previous) {
				t.Errorf("Previous = %+v, want version %d", prev, tt.previous)
			}
			if !tt.unchanged {
				cur := got.Versions[slices.IndexFunc(got.Versions, func(v SecretVersion) bool { return v.Version == tt.version })]
				if !cur.PromotedAt.Equal(now) {
					t.Errorf("promoted version's PromotedAt = %s, want now", cur.PromotedAt)
				}
			}
		})
	}
}

// TestRotationSequence replays the conformance suite's SecretRotation and
// SecretRollbackAndKeep through the policy alone, step by step on a moving clock, with what
// authenticates after each step.
func TestRotationSequence(t *testing.T) {
	now := testNow
	var versions []SecretVersion
	stage := func(v int64) {
		versions = Stage(versions, SecretVersion{Identity: "svc", Version: v}, now).Versions
	}
	promote := func(v int64, opts PromoteOptions) Transition {
		t.Helper()
		tr, err := Promote(versions, v, opts, now)
		if err != nil {
			t.Fatal(err)
		}
		versions = tr.Versions
		return tr
	}
	want := func(step, s, authenticating string) {
		t.Helper()
		if got := states(versions, now); got != s {
			t.Fatalf("%s: versions = %s, want %s", step, got, s)
		}
		var auth []string
		for _, v := range versions {
			if v.Authenticates(now) {
				auth = append(auth, fmt.Sprint(v.Version))
			}
		}
		if got := strings.Join(auth, " "); got != authenticating {
			t.Fatalf("%s: authenticating versions = %q, want %q", step, got, authenticating)
		}
	}

	// SecretRotation.
	stage(1)
	want("staged", "1:staged", "1")
	promote(1, PromoteOptions{Overlap: time.Hour})
	want("first promotion", "1:current", "1")
	now = now.Add(30 * Day)
	stage(2)
	promote(2, PromoteOptions{Overlap: time.Hour})
	want("rotation", "1:previous(+1h0m0s) 2:current", "1 2")
	now = now.Add(time.Hour + time.Second)
	want("after the overlap", "1:previous(+-1s) 2:current", "2")
	stage(3)
	want("staging sweeps the ended overlap", "1:retained@-1s 2:current 3:staged", "2 3")
	tr, err := Discard(versions, 3)
	if err != nil || !slices.Equal(tr.Discarded, []int64{3}) {
		t.Fatalf("Discard = %+v, %v", tr, err)
	}
	versions = tr.Versions
	want("rollback of a failed verification", "1:retained@-1s 2:current", "2")
	if _, err := Discard(versions, 2); !errors.Is(err, ErrNotStaged) {
		t.Fatalf("discarding the current version: error = %v, want ErrNotStaged", err)
	}
	if _, err := Discard(versions, 3); !errors.Is(err, ErrNoSuchVersion) {
		t.Fatalf("discarding a discarded version: error = %v, want ErrNoSuchVersion", err)
	}

	// SecretRollbackAndKeep.
	versions, now = nil, testNow
	for v := int64(1); v <= 3; v++ {
		stage(v)
		promote(v, PromoteOptions{Overlap: time.Minute, Keep: 3})
		now = now.Add(time.Hour)
	}
	want("three rotations", "1:retained@-1h59m0s 2:previous(+-59m0s) 3:current", "3")
	promote(1, PromoteOptions{Overlap: time.Minute, Keep: 3, Reason: "rollback to version 1"})
	want("rollback", "1:current 2:retained@-59m0s 3:previous(+1m0s)", "1 3")
	stage(4)
	tr = promote(4, PromoteOptions{Overlap: time.Minute, Keep: 2})
	want("keep 2", "1:previous(+1m0s) 4:current", "1 4")
	if !slices.Equal(tr.Destroyed, []int64{2, 3}) {
		t.Fatalf("keep 2 destroyed %v, want [2 3]", tr.Destroyed)
	}
	if _, err := Promote(versions, 2, PromoteOptions{}, now); !errors.Is(err, ErrNoSuchVersion) {
		t.Fatalf("promoting a destroyed version: error = %v, want ErrNoSuchVersion", err)
	}
}

func TestRetire(t *testing.T) {
	now := testNow
	got := Retire([]SecretVersion{sv(3, SecretStaged, time.Time{}, time.Time{}), sv(1, SecretRetained, time.Time{}, now.Add(-Day)),
		sv(2, SecretCurrent, now.Add(-time.Hour), now.Add(time.Hour))}, now)
	if s := states(got, now); s != "1:retained@-24h0m0s 2:retained@0s 3:retained@0s" {
		t.Fatalf("Retire = %s", s)
	}
}

func TestSweep(t *testing.T) {
	now := testNow
	got := Sweep([]SecretVersion{sv(1, SecretPrevious, now.Add(-2*time.Hour), now), sv(2, SecretPrevious, now.Add(-time.Hour), now.Add(time.Second)),
		sv(3, SecretCurrent, now, time.Time{})}, now)
	if s := states(got, now); s != "1:retained@0s 2:previous(+1s) 3:current" {
		t.Fatalf("Sweep = %s", s)
	}
}
