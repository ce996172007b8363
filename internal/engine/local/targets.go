package local

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
)

// bucketTargets holds targets (nhi_target) by name, each with its admin password sealed like
// every secret at rest. Like bucketLive it is not in allBuckets: the first target write makes it.
var bucketTargets = []byte("targets")

// targetRecord is a target as stored: the admin password sealed, bound to the target's name.
type targetRecord struct {
	Target   engine.Target `json:"target"`
	Password []byte        `json:"password"`
}

func targetAAD(name string) []byte { return []byte("target:" + name) }

func getTarget(tx *bolt.Tx, name string) (targetRecord, error) {
	var r targetRecord
	b := tx.Bucket(bucketTargets)
	var raw []byte
	if b != nil {
		raw = b.Get([]byte(name))
	}
	if raw == nil {
		return r, fmt.Errorf("%s %q: %w", engine.KindTarget, name, engine.ErrNotFound)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("%s %q: corrupt record: %v", engine.KindTarget, name, err)
	}
	return r, nil
}

// PutTarget checks the connection with the password the target will use, then writes the
// target with that password sealed.
func (e *Engine) PutTarget(ctx context.Context, t engine.Target, password string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if password == "" {
		have, stored, err := e.targetPassword(t.Name)
		if err := engine.CheckTargetRewrite(have, err, t); err != nil {
			return err
		}
		password = stored
	}
	if err := engine.CheckNewTarget(ctx, t, password); err != nil {
		return err
	}
	return e.update(func(tx *bolt.Tx) error {
		sealed, err := e.seal([]byte(password), targetAAD(t.Name))
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketTargets)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(targetRecord{Target: t, Password: sealed})
		if err != nil {
			return err
		}
		if err := b.Put([]byte(t.Name), raw); err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventGovernanceChange, Detail: "put " + engine.KindTarget + " " + t.Name})
	})
}

// GetTarget reads a target.
func (e *Engine) GetTarget(ctx context.Context, name string) (engine.Target, error) {
	if err := ctxErr(ctx); err != nil {
		return engine.Target{}, err
	}
	r, err := e.readTarget(name)
	return r.Target, err
}

// readTarget reads a target's record, its password sealed.
func (e *Engine) readTarget(name string) (targetRecord, error) {
	var r targetRecord
	err := e.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getTarget(tx, name)
		return err
	})
	if errors.Is(err, errEmpty) {
		err = fmt.Errorf("%s %q: %w", engine.KindTarget, name, engine.ErrNotFound)
	}
	return r, err
}

// targetPassword reads a target with its stored admin password, unsealed.
func (e *Engine) targetPassword(name string) (engine.Target, string, error) {
	r, err := e.readTarget(name)
	if err != nil {
		return r.Target, "", err
	}
	plain, err := e.unseal(r.Password, targetAAD(name))
	return r.Target, string(plain), err
}

// targetClient returns the client of a stored target, logged in with its stored password.
func (e *Engine) targetClient(ctx context.Context, name string) (target.Target, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	t, password, err := e.targetPassword(name)
	if err != nil {
		return nil, err
	}
	return engine.OpenTarget(t.Connection, password)
}

// CheckTarget connects to the target with the stored admin password.
func (e *Engine) CheckTarget(ctx context.Context, name string) (string, error) {
	c, err := e.targetClient(ctx, name)
	return engine.ServerVersion(ctx, name, c, err)
}

// DeleteTarget removes a target and its sealed password; an active identity that names it
// keeps it (ErrConflict).
func (e *Engine) DeleteTarget(ctx context.Context, name string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return e.update(func(tx *bolt.Tx) error {
		if _, err := getTarget(tx, name); err != nil {
			return err
		}
		var users []string
		err := tx.Bucket(bucketIdentities).ForEach(func(k, raw []byte) error {
			var id policy.Identity
			if err := json.Unmarshal(raw, &id); err != nil {
				return err
			}
			if id.Target == name && !id.Retired() {
				users = append(users, id.Name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("%s %q is the target of active identities %v: retire or move them first: %w", engine.KindTarget, name, users, engine.ErrConflict)
		}
		if err := tx.Bucket(bucketTargets).Delete([]byte(name)); err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventGovernanceChange, Detail: "delete " + engine.KindTarget + " " + name})
	})
}

// targetLogin names, in c, the login that is credential c on its identity's target, which must
// exist; a credential of an identity without a target is left as it is.
func targetLogin(tx *bolt.Tx, id policy.Identity, c *engine.Credential) error {
	if id.Target == "" {
		return nil
	}
	if _, err := getTarget(tx, id.Target); err != nil {
		return fmt.Errorf("identity %q: %w", id.Name, err)
	}
	c.Target, c.Username = id.Target, engine.LoginName(id.Name, c.ID)
	return nil
}

// createLogin creates the login of a credential just recorded: VALID UNTIL its expiry, granted
// exactly its scopes. The record comes first, so an interruption leaves a record without a login
// (harmless; revoking it drops nothing) rather than a login without a record. When the target
// refuses, the record is revoked again and the error returned.
func (e *Engine) createLogin(ctx context.Context, c engine.Credential, password string) error {
	if c.Target == "" {
		return nil
	}
	client, err := e.targetClient(ctx, c.Target)
	if err == nil {
		err = engine.TargetError(c.Target, client.CreateLogin(ctx, target.LoginSpec{Name: c.Username, Password: password,
			ValidUntil: c.ExpiresAt, Roles: c.Scopes, Comment: engine.LoginComment(e.LoginOwner(), c.Identity, c.ID)}))
	}
	if err != nil {
		if rerr := e.RevokeCredential(context.WithoutCancel(ctx), c.ID); rerr != nil {
			return fmt.Errorf("credential %q: creating its login failed (%w), and revoking its record failed too: %v", c.ID, err, rerr)
		}
		return fmt.Errorf("credential %q (revoked): creating its login failed: %w", c.ID, err)
	}
	return nil
}

// extendLogin moves the VALID UNTIL of a renewed credential's login to its new expiry.
func (e *Engine) extendLogin(ctx context.Context, c engine.Credential) error {
	if c.Target == "" {
		return nil
	}
	client, err := e.targetClient(ctx, c.Target)
	if err != nil {
		return err
	}
	return engine.TargetError(c.Target, client.ExtendLogin(ctx, c.Username, c.ExpiresAt))
}

// loginSet is what retiring or deleting an identity, or closing a credential, drops on a target.
type loginSet struct {
	// creds are credentials whose logins are dropped (a close).
	creds []engine.Credential
	// target is the identity's target; identity, when set, drops every login there that this
	// engine made for the credentials of that identity, found on the target by their comment
	// (engine.LoginComment), not from its live credentials: a retire whose drop failed (the
	// target down) has revoked them already, and the next retire must still find the logins.
	target, identity string
	// rotated name the rotated secret's logins and group role, when it has any; comment is their
	// mark (engine.RotatedLoginComment): only roles that carry it are dropped.
	rotated []string
	comment string
}

// identityLogins lists what retiring or deleting identity must drop on its target.
func (e *Engine) identityLogins(ctx context.Context, identity string) (loginSet, error) {
	var set loginSet
	id, err := e.GetIdentity(ctx, identity)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return set, nil // the caller reports it
	case err != nil:
		return set, err
	case id.Target == "":
		return set, nil
	}
	set.target, set.identity = id.Target, identity
	if id.TTLPolicy != "" {
		return set, nil // an ephemeral one: no rotated logins
	}
	base := engine.RotatedLoginName(identity)
	set.rotated = []string{base + "_a", base + "_b", base}
	set.comment = engine.RotatedLoginComment(e.LoginOwner(), identity)
	return set, nil
}

// dropLogins drops the logins of set on their targets (sessions terminated, roles dropped);
// credentials without a login are skipped.
func (e *Engine) dropLogins(ctx context.Context, set loginSet) error {
	var errs []error
	drop := func(targetName, login, what string) {
		client, err := e.targetClient(ctx, targetName)
		if err == nil {
			err = engine.TargetError(targetName, client.DropLogin(ctx, login))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: dropping login %q: %w", what, login, err))
		}
	}
	for _, c := range set.creds {
		if c.Target != "" {
			drop(c.Target, c.Username, "credential "+c.ID)
		}
	}
	if set.identity != "" {
		t, password, err := e.targetPassword(set.target)
		var logins []policy.LoginObservation
		if err == nil {
			logins, err = engine.ObserveTargetLogins(ctx, t, password, e.LoginOwner(), set.identity)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("identity %q: listing its logins: %w", set.identity, err))
		}
		for _, l := range logins {
			if !l.Member { // the rotated secret's logins go below, with their group
				drop(set.target, l.Name, "credential "+l.Credential)
			}
		}
	}
	for _, login := range set.rotated {
		client, err := e.targetClient(ctx, set.target)
		if err == nil {
			_, err = engine.OwnedRole(ctx, client, login, set.comment)
		}
		if errors.Is(err, engine.ErrConflict) {
			continue // not this engine's: left alone
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rotated secret: dropping login %q: %w", login, engine.TargetError(set.target, err)))
			continue
		}
		drop(set.target, login, "rotated secret")
	}
	return errors.Join(errs...)
}

var _ engine.LoginObserver = (*Engine)(nil)

// LoginOwner names this engine in the comments of its logins: "local" and a digest of its key,
// the same for every process that opens this database, different for another database.
func (e *Engine) LoginOwner() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fpKey == nil {
		return "local"
	}
	return "local " + hex.EncodeToString(deriveKey(e.fpKey, "login-owner")[:6])
}

// ObserveLogins reads the provider's logins on every target, or on identity's target.
func (e *Engine) ObserveLogins(ctx context.Context, identity string) ([]policy.LoginObservation, error) {
	var names []string
	err := e.view(func(tx *bolt.Tx) error {
		if identity != "" {
			var id policy.Identity
			switch err := getJSON(tx, bucketIdentities, identity, &id); {
			case errors.Is(err, engine.ErrNotFound):
				return nil // no identity: no logins of its to observe
			case err != nil:
				return err
			case id.Target == "":
				return nil
			}
			names = append(names, id.Target)
			return nil
		}
		if b := tx.Bucket(bucketTargets); b != nil {
			return b.ForEach(func(k, _ []byte) error {
				names = append(names, string(k))
				return nil
			})
		}
		return nil
	})
	if err = none(err); err != nil {
		return nil, err
	}
	var out []policy.LoginObservation
	down := map[string]bool{} // targets that did not answer
	for _, name := range names {
		t, password, err := e.targetPassword(name)
		if err != nil {
			return nil, err
		}
		logins, err := engine.ObserveTargetLogins(ctx, t, password, e.LoginOwner(), identity)
		if obs, ok := engine.UncheckedTarget(name, identity, err); ok {
			out, down[name] = append(out, obs), true
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, logins...)
	}
	rotated, err := e.observeRotatedLogins(ctx, identity, down)
	return append(out, rotated...), err
}

// observeRotatedLogins reads, for identity (every persistent identity on a target when empty),
// whether the login of its current rotated secret still holds that secret; identities on a
// target in down are not read (that target did not answer), and one whose target stops
// answering is observed unchecked.
func (e *Engine) observeRotatedLogins(ctx context.Context, identity string, down map[string]bool) ([]policy.LoginObservation, error) {
	var ids []policy.Identity
	if identity != "" {
		id, err := e.GetIdentity(ctx, identity)
		if errors.Is(err, engine.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	} else {
		var err error
		if ids, err = e.ListIdentities(ctx); err != nil {
			return nil, err
		}
	}
	var out []policy.LoginObservation
	for _, id := range ids {
		if id.Target == "" || id.TTLPolicy != "" || id.Retired() || down[id.Target] {
			continue
		}
		obs, err := e.observeRotatedLogin(ctx, id)
		if unchecked, ok := engine.UncheckedTarget(id.Target, id.Name, err); ok {
			obs = &unchecked
		} else if err != nil {
			return nil, err
		}
		if obs != nil {
			out = append(out, *obs)
		}
	}
	return out, nil
}

// observeRotatedLogin reads whether the login of persistent identity id's current rotated secret
// still holds that secret, and the roles its scopes are granted through; nil when it has none.
func (e *Engine) observeRotatedLogin(ctx context.Context, id policy.Identity) (*policy.LoginObservation, error) {
	login, value, err := e.currentLogin(ctx, id.Name)
	if err != nil || login == "" {
		return nil, err
	}
	client, err := e.targetClient(ctx, id.Target)
	if err != nil {
		return nil, err
	}
	obs := policy.LoginObservation{Target: id.Target, Name: login, Identity: id.Name, Rotated: true}
	match, checked, err := client.CheckPassword(ctx, login, value)
	if err != nil {
		return nil, engine.TargetError(id.Target, err)
	}
	obs.PasswordMatches = match
	if !checked {
		// Why not: the admin user may not read the verifier, or it is not SCRAM-SHA-256.
		obs.PasswordUnchecked = policy.PasswordNotSCRAM
		if l, err := client.Inspect(ctx, login); err != nil {
			return nil, engine.TargetError(id.Target, err)
		} else if !l.VerifierRead {
			obs.PasswordUnchecked = policy.PasswordVerifierHidden
		}
	}
	// The roles the scopes are granted through: the group of alternating logins, else the login.
	s, err := e.GetRotationSchedule(ctx, id.Name)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return nil, err
	}
	holder, err := e.rotatedRoleHolder(ctx, id.Name, s.Strategy)
	if err != nil {
		return nil, err
	}
	l, err := client.Inspect(ctx, holder)
	if err != nil {
		return nil, engine.TargetError(id.Target, err)
	}
	obs.RolesHolder, obs.Roles = holder, l.Roles
	return &obs, nil
}

// repairLogins puts the logins of identity on its target back as its credentials say
// (policy.RepairLogins): a login whose credential is not live (it expired, or its revocation did
// not reach the target, or it was made by hand with the provider's marker) is dropped, and one
// valid past its credential's hard expiry is set back to it.
func (e *Engine) repairLogins(ctx context.Context, identity string) error {
	logins, err := e.ObserveLogins(ctx, identity)
	if err != nil || len(logins) == 0 {
		return err
	}
	live, err := e.LiveCredentials(ctx, identity)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range logins {
		if l.Unchecked != "" {
			errs = append(errs, fmt.Errorf("target %q: %s", l.Target, l.Unchecked))
		}
	}
	for _, r := range policy.RepairLogins(logins, live, e.clock.Now()) {
		client, err := e.targetClient(ctx, r.Target)
		if err == nil {
			if r.Drop {
				err = client.DropLogin(ctx, r.Name)
			} else {
				err = client.ExtendLogin(ctx, r.Name, r.ValidUntil)
			}
		}
		if err != nil {
			errs = append(errs, engine.TargetError(r.Target, err))
		}
	}
	return errors.Join(errs...)
}
