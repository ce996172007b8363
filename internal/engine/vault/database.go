package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

// Dynamic credentials on a target (issue 16, item 3) through Vault's database secrets engine:
// an issue reads <mount>-database/creds/<role>, a lease whose login Vault creates with VALID
// UNTIL its expiry, from a dynamic role of the identity that is content-addressed (dynamicRole):
// its name is the identity, "_" and 16 hex digits of a digest of its whole body (db_name the
// identity's target; creation, renew and revocation statements from target/postgres granting
// exactly its scopes, commented with the identity and this engine but no credential;
// default_ttl and max_ttl from the grant of its TTL policy, which depends on the TTL requested).
// The identity's record lists the roles it has written (identityRecord.DynamicRoles): an issue
// under terms it lists reads the creds at once, one under new terms writes the role first and
// lists it with the credential; a listed role that Vault no longer holds (deleted by hand) is
// written again when Vault answers that it does not know it. DESIGN.md's budget of 6 requests
// per open + close (TestTargetCredentialRequestBudget): the first credential under new terms
// reads the record, writes the role, reads creds and writes the record, then its close revokes
// the lease and writes the record (6); every later one under the same terms skips the role
// write (5). Two issues at once for one identity write identical roles when their terms are the
// same and different roles when not, so neither lease gets the other's TTL or comment
// (TestTargetConcurrentIssues).
//
// Roles stay when a credential closes: the renewal of a live lease needs its role, and other
// live credentials may share it. An identity's update (scopes, TTL policy) makes new roles by
// name and leaves the old ones, one per distinct terms used, until retire or delete deletes
// every role of the identity (deleteDynamicRoles). Since a role makes the logins of many
// credentials, Vault names each login with a random part (usernameTemplate), and the link from a
// login to its credential is the login's name recorded with the credential
// (policy.Credential.Username), not the login's comment. Known limit: since an issue no longer
// writes the role it reads, a role edited by hand in Vault (a body its name no longer digests)
// keeps minting logins as edited until retire or delete; the drift rules still judge each login
// against its credential's scopes (privilege-escalation, validity), and only a token with the
// apply policy may write roles.
//
// The credential is recorded like a token credential, with its lease, renewed and revoked
// through sys/leases (Vault runs the renew and revocation statements). Its ID is "lease-" + 16
// hex digits + "-" + the identity (when that fits a name), so that a renewal finds the
// identity's record without a scan.
//
// A read of creds that the network layer replays (Go's transport sends a GET again on a
// reused connection that broke) makes Vault mint a second login whose lease the engine never
// records. Nothing can use it (its password went nowhere); the drift rules report it as an
// orphaned login, the repair leaves it alone (as any lease login the record does not hold, which
// may be another process's issue in flight), and its lease's expiry (the grant's TTL, never
// renewed) drops it, as retire and delete do at once.

const leasePrefix = "lease-"

// isLeaseCredential tells a credential on a target (a Vault lease) from a token credential.
func isLeaseCredential(id string) bool { return strings.HasPrefix(id, leasePrefix) }

func newLeaseCredentialID(identity string) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := leasePrefix + hex.EncodeToString(b)
	if withIdentity := id + "-" + identity; policy.CheckName(withIdentity) == nil {
		return withIdentity, nil
	}
	return id, nil
}

// leaseIdentity is the identity a lease credential's ID names, if it names one.
func leaseIdentity(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, leasePrefix)
	if !ok || len(rest) < 18 || rest[16] != '-' {
		return "", false
	}
	return rest[17:], true
}

func secretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// LoginOwner names this engine in the comments of the logins Vault makes for it: its mount.
func (e *Engine) LoginOwner() string { return "vault " + e.mount }

func (e *Engine) dynamicRolePath(role string) string {
	return e.DatabaseMount() + "/roles/" + role
}

// dynamicRoleDigest is the number of hex digits of a dynamic role's digest in its name.
const dynamicRoleDigest = 16

// dynamicRole returns the name and body of the dynamic role that mints the logins of identity
// id under grant: the identity, "_" and the first 16 hex digits of the SHA-256 of the body's
// JSON (encoding/json sorts a map's keys, so equal bodies give equal names).
func (e *Engine) dynamicRole(id policy.Identity, grant policy.Grant) (string, map[string]any, error) {
	creation, renew, revocation := postgres.VaultStatements(id.Scopes, engine.LoginComment(e.LoginOwner(), id.Name, ""))
	body := map[string]any{
		"db_name": id.Target, "creation_statements": creation, "renew_statements": renew, "revocation_statements": revocation,
		"default_ttl": seconds(grant.TTL), "max_ttl": seconds(grant.Lifetime),
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(b)
	return id.Name + "_" + hex.EncodeToString(sum[:])[:dynamicRoleDigest], body, nil
}

// isDynamicRole tells whether role is a dynamicRole of identity (roles of earlier releases, one
// per credential, had the same shape).
func isDynamicRole(identity, role string) bool {
	suffix, ok := strings.CutPrefix(role, identity+"_")
	if !ok || len(suffix) != dynamicRoleDigest {
		return false
	}
	_, err := hex.DecodeString(suffix)
	return err == nil
}

// deleteDynamicRoles deletes every dynamic role of an identity on a target (cutOff: retire and
// delete, after revokeAll closed its credentials), so that no login can be minted for the
// identity any more.
func (e *Engine) deleteDynamicRoles(ctx context.Context, identity string) error {
	rec, _, ok := e.lastWritten(identity)
	if !ok || rec.Target == "" {
		return nil
	}
	roles, err := e.list(ctx, e.DatabaseMount()+"/roles")
	if err != nil {
		return err
	}
	for _, role := range roles {
		if !isDynamicRole(identity, role) {
			continue
		}
		if err := e.deleteDynamicRole(ctx, identity, role); err != nil {
			return err
		}
	}
	return nil
}

// deleteDynamicRole deletes one dynamic role of identity; one already gone is fine.
func (e *Engine) deleteDynamicRole(ctx context.Context, identity, role string) error {
	if err := e.del(ctx, e.dynamicRolePath(role)); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("identity %q: deleting its dynamic role %q: %w", identity, role, err)
	}
	return nil
}

// issueOnTarget mints a login on the identity's target through the database secrets engine and
// records it; when recording fails, the lease is revoked again (the login dropped).
func (e *Engine) issueOnTarget(ctx context.Context, rec identityRecord, version int64, grant policy.Grant, req engine.CredentialRequest) (engine.Credential, string, error) {
	id := rec.Identity
	if _, err := e.GetTarget(ctx, id.Target); err != nil {
		return engine.Credential{}, "", fmt.Errorf("identity %q: %w", id.Name, err)
	}
	credID, err := newLeaseCredentialID(id.Name)
	if err != nil {
		return engine.Credential{}, "", err
	}
	role, body, err := e.dynamicRole(id, grant)
	if err != nil {
		return engine.Credential{}, "", err
	}
	var s *api.Secret
	known := slices.Contains(rec.DynamicRoles, role)
	if known {
		s, err = e.readCreds(ctx, role)
	}
	if !known || errors.Is(err, errUnknownRole) {
		// New terms (or a listed role gone from Vault): write the role, whose body an issue at
		// once under the same terms writes identically, then read.
		if _, err = e.write(ctx, e.dynamicRolePath(role), body); err != nil {
			return engine.Credential{}, "", fmt.Errorf("identity %q: writing its dynamic role: %w", id.Name, err)
		}
		s, err = e.readCreds(ctx, role)
	}
	if err != nil {
		return engine.Credential{}, "", fmt.Errorf("issuing a credential to identity %q on target %q: %w", id.Name, id.Target, err)
	}
	username, _ := s.Data["username"].(string)
	password, _ := s.Data["password"].(string)
	cred := grant.Issue(credID, id, req.Requester, req.Purpose, e.clock.Now())
	cred.Target, cred.Username, cred.LeaseID, cred.SecretHash = id.Target, username, s.LeaseID, secretHash(password)
	if username == "" || password == "" || s.LeaseID == "" {
		err = fmt.Errorf("%s/creds/%s returned no username, password or lease", e.DatabaseMount(), role)
	} else {
		err = e.recordIssued(ctx, rec, version, cred, role)
	}
	if err != nil {
		if rerr := e.revokeLease(context.WithoutCancel(ctx), s.LeaseID); rerr != nil {
			err = fmt.Errorf("%w (revoking the new lease failed too: %v)", err, rerr)
		} else if errors.Is(err, engine.ErrRetired) {
			// Retired meanwhile: its retire may have deleted its roles before this issue wrote
			// the role again.
			if derr := e.deleteDynamicRole(context.WithoutCancel(ctx), id.Name, role); derr != nil {
				err = fmt.Errorf("%w (%v)", err, derr)
			}
		}
		return engine.Credential{}, "", fmt.Errorf("issuing a credential to identity %q: %w", id.Name, err)
	}
	// The issue also repairs the identity's other logins. The new credential is returned whatever
	// that gives: a login left unrepaired stays a drift finding until a later issue or close
	// repairs it.
	_ = e.repairLogins(ctx, id.Name)
	return cred, password, nil
}

// repairLogins puts the logins of identity on its target back as its credentials say
// (policy.RepairLogins), as the local engine does: a login with no live credential is dropped
// (through its lease when the credential is recorded with one, so that Vault forgets the lease
// too; by statements otherwise), and one valid past its credential's hard expiry is set back to
// it. The inspector reads the logins, and the identity record comes from this engine's last
// write, so that a repair with nothing to do costs no Vault request; before repairing anything
// the record is read again, as another process may have renewed or issued since. A login whose
// credential is a lease the record does not hold may be an issue in flight (Vault makes the
// login before the engine records it): its lease's expiry drops it, so it is left alone here.
func (e *Engine) repairLogins(ctx context.Context, identity string) error {
	rec, _, cached := e.lastWritten(identity)
	if !cached {
		var err error
		if rec, _, err = e.readRecord(ctx, identity); err != nil {
			return err
		}
	}
	if rec.Target == "" {
		return nil
	}
	t, c, err := e.targetInspector(ctx, rec.Target)
	if err != nil {
		return err
	}
	observed, err := engine.TargetLogins(ctx, t.Name, c, e.LoginOwner(), identity)
	if err != nil {
		return err
	}
	repairs, leases := planRepairs(rec, observed, e.clock.Now())
	if len(repairs) > 0 && cached {
		if rec, _, err = e.readRecord(ctx, identity); err != nil {
			return err
		}
		repairs, leases = planRepairs(rec, observed, e.clock.Now())
	}
	var stmts []string
	for _, r := range repairs {
		if !r.Drop {
			stmts = append(stmts, postgres.ValidUntilStatement(r.Name, r.ValidUntil))
			continue
		}
		if lease := leases[r.Name]; lease != "" {
			if err := e.revokeLease(ctx, lease); err != nil {
				return err
			}
			if l, err := c.Inspect(ctx, r.Name); err != nil {
				return engine.TargetError(t.Name, err)
			} else if !l.Exists {
				continue // the lease's revocation dropped it
			}
		}
		stmts = append(stmts, postgres.DropStatements(r.Name)...)
	}
	if err := e.runStatements(ctx, t.Name, stmts); err != nil {
		return fmt.Errorf("identity %q: repairing its logins on target %q through Vault: %w", identity, t.Name, err)
	}
	return nil
}

// planRepairs is policy.RepairLogins of the logins observed for the identity of rec, leaving
// out those whose credential rec does not hold but that Vault made for a lease (their comment
// names no credential, or a lease credential of an earlier release): an issue in flight, or a
// replayed read of creds, which its lease's expiry drops. leases names the lease of each login
// rec holds one for, found by the login's name.
func planRepairs(rec identityRecord, observed []policy.LoginObservation, now time.Time) (repairs []policy.LoginRepair, leases map[string]string) {
	leases = map[string]string{}
	var logins []policy.LoginObservation
	for _, l := range observed {
		byName := func(c credentialRecord) bool { return c.Username == l.Name }
		if i := slices.IndexFunc(rec.Live, byName); i >= 0 {
			leases[l.Name] = rec.Live[i].LeaseID
		} else if i := slices.IndexFunc(rec.Ended, byName); i >= 0 {
			leases[l.Name] = rec.Ended[i].LeaseID
		} else if l.Credential == "" || isLeaseCredential(l.Credential) {
			continue
		}
		logins = append(logins, l)
	}
	live := make([]engine.Credential, len(rec.Live))
	for i, cr := range rec.Live {
		live[i] = cr.Credential
	}
	return policy.RepairLogins(logins, live, now), leases
}

// errUnknownRole is Vault's answer to a read of creds from a dynamic role it does not hold.
var errUnknownRole = errors.New("unknown dynamic role")

// readCreds reads a new login from dynamic role role: errUnknownRole when Vault does not hold the
// role (it answers 400 "unknown role"). Vault answers 500 when the target refuses the creation
// statements (a scope naming a role the target lacks): that is the declaration's fault,
// ErrInvalid, as on the local engine.
func (e *Engine) readCreds(ctx context.Context, role string) (*api.Secret, error) {
	path := e.DatabaseMount() + "/creds/" + role
	s, err := e.client.Logical().ReadWithContext(ctx, path)
	var re *api.ResponseError
	if errors.As(err, &re) {
		detail := strings.Join(re.Errors, "; ")
		switch {
		case re.StatusCode == 400 && strings.Contains(detail, "unknown role"):
			return nil, fmt.Errorf("%s: %w", path, errUnknownRole)
		case re.StatusCode == 500 && strings.Contains(detail, "SQLSTATE"):
			return nil, fmt.Errorf("the target refused the login (%s): %w", detail, engine.ErrInvalid)
		}
	}
	if err != nil {
		return nil, e.vaultErr("read", path, err)
	}
	if s == nil {
		return nil, fmt.Errorf("%s: %w", path, engine.ErrNotFound)
	}
	return s, nil
}

// renewOnTarget renews a login's lease within the credential's budget and hard expiry, as
// RenewCredential does a token; secret must be the login's password.
func (e *Engine) renewOnTarget(ctx context.Context, id, secret string) (engine.Credential, error) {
	identity, ok := leaseIdentity(id)
	if !ok {
		var err error
		if identity, err = e.credentialIdentity(ctx, id); err != nil {
			return engine.Credential{}, err
		}
	}
	rec, version, c, err := e.findCredential(ctx, identity, id)
	if err != nil {
		return engine.Credential{}, err
	}
	if c.SecretHash == "" || subtle.ConstantTimeCompare([]byte(c.SecretHash), []byte(secretHash(secret))) != 1 {
		return engine.Credential{}, engine.NotItsSecret(id)
	}
	now := e.clock.Now()
	if err := e.checkLive(ctx, c.Credential, now); err != nil {
		return engine.Credential{}, err
	}
	if _, err := policy.Renew(c.Credential, now); err != nil {
		return engine.Credential{}, engine.RenewalError(err)
	}
	// The lease id in the path (not the body), which the apply policy scopes to the database mount.
	if _, err := e.write(ctx, "sys/leases/renew/"+c.LeaseID, map[string]any{"increment": seconds(c.TTL)}); err != nil {
		return engine.Credential{}, refused(err)
	}
	return e.recordRenewal(ctx, rec, version, id, now)
}

// revokeMinted ends in Vault what credential id of identity is: its lease (Vault runs the
// revocation statements: sessions terminated, login dropped; its dynamic role stays for the
// others), or its token.
func (e *Engine) revokeMinted(ctx context.Context, identity, id string) error {
	if !isLeaseCredential(id) {
		return e.revokeToken(ctx, id)
	}
	leaseID := ""
	// The record this engine wrote last names the lease without a read (the close of an open).
	if rec, _, ok := e.lastWritten(identity); ok {
		if i, live := liveCredential(rec, id); live {
			leaseID = rec.Live[i].LeaseID
		}
	}
	if leaseID == "" {
		_, _, c, err := e.findCredential(ctx, identity, id)
		if err != nil {
			if errors.Is(err, engine.ErrDenied) {
				return nil // not this engine's: revoke reports it
			}
			return err
		}
		leaseID = c.LeaseID
	}
	return e.revokeLease(ctx, leaseID)
}

// revokeLease revokes a lease at once; one Vault no longer holds is fine (Vault answers 204).
// Vault answers 400 when the revocation itself failed (the target did not run the revocation
// statements: it is down), and keeps the lease: ErrUnavailable, as on the local engine, so that
// the credential stays live in the record and the next close or retire revokes it again.
func (e *Engine) revokeLease(ctx context.Context, leaseID string) error {
	if leaseID == "" {
		return nil
	}
	_, err := e.write(ctx, "sys/leases/revoke/"+leaseID, nil)
	if errors.Is(err, engine.ErrInvalid) {
		return fmt.Errorf("the lease was not revoked: Vault could not run its revocation statements on the target: %v: %w", err, engine.ErrUnavailable)
	}
	return err
}

// dropCredentialLogins drops what is left on an ephemeral identity's target of the logins Vault
// made for its credentials, found there by their comment (engine.TargetLogins), not from its
// live credentials (cutOff: retire and delete, after revokeAll). A revocation that did not reach
// the target (it was down) has ended the credential in the record already, so a retire run again
// must find its login on the target; with the target still down, the inspector cannot reach it
// and the retire fails again.
func (e *Engine) dropCredentialLogins(ctx context.Context, identity string) error {
	rec, _, ok := e.lastWritten(identity)
	if !ok || rec.Target == "" || rec.TTLPolicy == "" {
		return nil
	}
	t, c, err := e.targetInspector(ctx, rec.Target)
	if errors.Is(err, engine.ErrNotFound) {
		return nil // nothing left to reach
	}
	if err != nil {
		return err
	}
	logins, err := engine.TargetLogins(ctx, t.Name, c, e.LoginOwner(), identity)
	if err != nil {
		return fmt.Errorf("identity %q: listing its logins on target %q: %w", identity, t.Name, err)
	}
	var stmts []string
	for _, l := range logins {
		stmts = append(stmts, postgres.DropStatements(l.Name)...)
	}
	if err := e.runStatements(ctx, t.Name, stmts); err != nil {
		return fmt.Errorf("identity %q: dropping its logins on target %q through Vault: %w", identity, t.Name, err)
	}
	return nil
}
