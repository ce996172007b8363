package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Secret version states.
const (
	SecretStaged   = "staged"
	SecretCurrent  = "current"
	SecretPrevious = "previous"
	// SecretRetained is an older version kept for rollback; it does not authenticate.
	SecretRetained = "retained"
)

// SecretVersion is one version of a persistent identity's rotated secret, without its value.
type SecretVersion struct {
	Identity  string    `json:"identity"`
	Version   int64     `json:"version"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	// PromotedAt is when the version last became current.
	PromotedAt time.Time `json:"promoted_at,omitzero"`
	// ExpiresAt is when the version stops authenticating; zero when it has no limit.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Fingerprint identifies the secret material without revealing it (a keyed or salted hash
	// prefix), so reports can find one secret shared by two identities.
	Fingerprint string `json:"fingerprint"`
}

// Authenticates reports whether the version still authenticates at now: it is not retained and
// not past its expiry (zero: none).
func (v SecretVersion) Authenticates(now time.Time) bool {
	if v.State == SecretRetained {
		return false
	}
	return v.ExpiresAt.IsZero() || now.Before(v.ExpiresAt)
}

// retain makes v retained: it no longer authenticates, from now at the latest, and its expiry
// records when it stopped.
func (v *SecretVersion) retain(now time.Time) {
	v.State = SecretRetained
	if v.ExpiresAt.IsZero() || v.ExpiresAt.After(now) {
		v.ExpiresAt = now
	}
}

// PromoteOptions configure a promotion.
type PromoteOptions struct {
	// Overlap is how long the version being replaced stays valid.
	Overlap time.Duration
	// ExpiresAt, when not zero, is a hard limit after which the promoted version stops working.
	ExpiresAt time.Time
	// Keep is how many versions to retain, the current one included; zero keeps all.
	Keep int64
	// Reason is recorded in the audit log ("scheduled rotation", "rollback to version 2").
	Reason string
}

// Errors of the secret-version transitions; engines map them to their typed errors.
var (
	// ErrNoSuchVersion: the version was never staged, or was discarded or destroyed.
	ErrNoSuchVersion = errors.New("no such secret version")
	// ErrBadPromotion: the promotion's options are out of range.
	ErrBadPromotion = errors.New("invalid promotion")
	// ErrNotStaged: only a staged version can be discarded.
	ErrNotStaged = errors.New("not a staged version")
)

// Transition is the outcome of a change to the versions of one identity's secret: the versions
// that stay, with their new states, and those to destroy.
type Transition struct {
	// Versions are the versions that stay, oldest first.
	Versions []SecretVersion
	// Discarded are the staged versions to destroy (superseded or rolled back), oldest first.
	Discarded []int64
	// Destroyed are the retained versions to destroy beyond Keep, oldest first.
	Destroyed []int64
	// Previous is the version that stays valid for the overlap, or nil.
	Previous *SecretVersion
	// Unchanged is true when nothing changed (promoting the current version).
	Unchanged bool
}

// Removed lists every version the transition destroys.
func (t Transition) Removed() []int64 { return append(slices.Clone(t.Discarded), t.Destroyed...) }

func findVersion(versions []SecretVersion, version int64) int {
	return slices.IndexFunc(versions, func(v SecretVersion) bool { return v.Version == version })
}

func noSuchVersion(version int64) error {
	return fmt.Errorf("secret version %d was never staged, or was discarded or destroyed: %w", version, ErrNoSuchVersion)
}

// sortVersions returns a copy of versions, oldest first.
func sortVersions(versions []SecretVersion) []SecretVersion {
	out := slices.Clone(versions)
	slices.SortFunc(out, func(a, b SecretVersion) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// Sweep retains the previous versions whose overlap ended by now. Engines apply it whenever
// they write an identity's versions.
func Sweep(versions []SecretVersion, now time.Time) []SecretVersion {
	out := sortVersions(versions)
	for i := range out {
		if out[i].State == SecretPrevious && !out[i].Authenticates(now) {
			out[i].retain(now)
		}
	}
	return out
}

// Stage adds a version staged at now (it authenticates, without limit, until it is promoted or
// discarded) to versions, sweeping them at now.
func Stage(versions []SecretVersion, staged SecretVersion, now time.Time) Transition {
	staged.State, staged.CreatedAt, staged.PromotedAt, staged.ExpiresAt = SecretStaged, now, time.Time{}, time.Time{}
	return Transition{Versions: append(Sweep(versions, now), staged)}
}

// Promote makes version current at now, the rule both engines apply:
//
//   - promoting the current version changes nothing (Unchanged): a repeated promotion, such as a
//     re-run apply, neither restarts the rotation clock nor discards or destroys anything;
//   - the promoted version (staged, previous or retained) becomes current, promoted at now, with
//     opts.ExpiresAt as its hard limit (zero: none);
//   - the version current until then becomes previous until now+opts.Overlap, never past its
//     own expiry, or retained at once when that end is not after now;
//   - an older previous version becomes retained at once (one previous version at a time);
//   - every other staged version is discarded: a rotation's candidate never outlives it;
//   - with opts.Keep > 0, the current and previous versions count first and the newest retained
//     versions (by number) fill the remaining slots; the other retained versions are destroyed.
//
// A retained version's expiry is when it stopped authenticating.
func Promote(versions []SecretVersion, version int64, opts PromoteOptions, now time.Time) (Transition, error) {
	switch {
	case opts.Overlap < 0 || opts.Keep < 0:
		return Transition{}, fmt.Errorf("promoting secret version %d: overlap (%s) and keep (%d) must not be negative: %w",
			version, opts.Overlap, opts.Keep, ErrBadPromotion)
	case !opts.ExpiresAt.IsZero() && !opts.ExpiresAt.After(now):
		return Transition{}, fmt.Errorf("promoting secret version %d: its hard limit %s is not in the future: %w",
			version, opts.ExpiresAt.Format(time.RFC3339), ErrBadPromotion)
	}
	out := sortVersions(versions)
	i := findVersion(out, version)
	if i < 0 {
		return Transition{}, noSuchVersion(version)
	}
	if out[i].State == SecretCurrent {
		return Transition{Versions: out, Unchanged: true}, nil
	}
	var t Transition
	kept := make([]SecretVersion, 0, len(out))
	for j, v := range out {
		switch {
		case j == i:
			v.State, v.PromotedAt, v.ExpiresAt = SecretCurrent, now, opts.ExpiresAt
		case v.State == SecretStaged:
			t.Discarded = append(t.Discarded, v.Version)
			continue
		case v.State == SecretCurrent:
			end := now.Add(opts.Overlap)
			if !v.ExpiresAt.IsZero() && v.ExpiresAt.Before(end) {
				end = v.ExpiresAt
			}
			if end.After(now) {
				v.State, v.ExpiresAt = SecretPrevious, end
			} else {
				v.retain(now)
			}
		case v.State == SecretPrevious:
			v.retain(now)
		}
		kept = append(kept, v)
	}
	t.Versions, t.Destroyed = keep(kept, opts.Keep)
	if j := slices.IndexFunc(t.Versions, func(v SecretVersion) bool { return v.State == SecretPrevious }); j >= 0 {
		prev := t.Versions[j]
		t.Previous = &prev
	}
	return t, nil
}

// keep applies Keep to versions (oldest first): the versions that still authenticate count
// first and are always kept; the newest retained versions fill the remaining slots. It returns
// the versions kept and the versions destroyed, oldest first.
func keep(versions []SecretVersion, n int64) ([]SecretVersion, []int64) {
	if n <= 0 {
		return versions, nil
	}
	slots := n
	for _, v := range versions {
		if v.State != SecretRetained {
			slots--
		}
	}
	var kept []SecretVersion
	var destroyed []int64
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		if v.State == SecretRetained {
			if slots <= 0 {
				destroyed = append(destroyed, v.Version)
				continue
			}
			slots--
		}
		kept = append(kept, v)
	}
	slices.Reverse(kept)
	slices.Reverse(destroyed)
	return kept, destroyed
}

// Discard destroys a staged version: the rollback of a failed rotation. Only a staged version
// can be discarded.
func Discard(versions []SecretVersion, version int64) (Transition, error) {
	out := sortVersions(versions)
	i := findVersion(out, version)
	if i < 0 {
		return Transition{}, noSuchVersion(version)
	}
	if out[i].State != SecretStaged {
		return Transition{}, fmt.Errorf("secret version %d is %s; only a staged version can be discarded: %w", version, out[i].State, ErrNotStaged)
	}
	return Transition{Versions: slices.Delete(out, i, i+1), Discarded: []int64{version}}, nil
}

// Retire makes every version retained at now, for audit: a retired identity's secret never
// authenticates again.
func Retire(versions []SecretVersion, now time.Time) []SecretVersion {
	out := sortVersions(versions)
	for i := range out {
		if out[i].State != SecretRetained {
			out[i].retain(now)
		}
	}
	return out
}
