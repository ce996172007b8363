package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// haIdentities is how many identities TestHALeaderKilled creates; the leader dies after
// haKillAfter of them.
const (
	haIdentities = 40
	haKillAfter  = 10
	haWorkers    = 4
	// haOpenCredentials credentials are open when the leader dies, and revoked just after.
	haOpenCredentials = 3
)

// TestHALeaderKilled: against a 3-node Raft cluster (scripts/vault-dev cluster), an engine
// pointed at a standby, with the other nodes as addresses, creates identities with
// haWorkers in parallel while the leader is killed with SIGKILL, requests in flight, and
// revokes the credentials it had open. Every create and revocation completes through the
// election, the revoked tokens are dead, and no role or entity is left without its identity
// record.
func TestHALeaderKilled(t *testing.T) {
	addrs, pids := strings.Split(os.Getenv("VAULT_CLUSTER_ADDRS"), ","), strings.Split(os.Getenv("VAULT_CLUSTER_PIDS"), ",")
	if len(addrs) != 3 || len(pids) != 3 {
		t.Skip("needs a 3-node cluster: scripts/vault-dev cluster go test ./internal/engine/vault/ -run TestHA")
	}
	ctx := context.Background()
	root := rootClient(t)
	leader, err := root.Sys().LeaderWithContext(ctx)
	must(t, err)
	lead := slices.Index(addrs, leader.LeaderAddress)
	if lead < 0 {
		t.Fatalf("the leader %s is not one of %q", leader.LeaderAddress, addrs)
	}
	standby := (lead + 1) % 3
	others := []string{addrs[(standby+1)%3], addrs[(standby+2)%3]}
	mount := randomName("nhi-ha-")
	cfg := Config{Address: addrs[standby], Addresses: others, Token: os.Getenv("VAULT_TOKEN"), Mount: mount, AppRoleMount: mount + "-approle"}
	var retriesMu sync.Mutex
	var retries []string
	e, err := Open(ctx, cfg, clock.Real{}, func(msg string, f map[string]any) {
		if strings.HasPrefix(msg, "retrying") {
			retriesMu.Lock()
			retries = append(retries, fmt.Sprint(f["reason"]))
			retriesMu.Unlock()
		}
	})
	must(t, err)
	must(t, e.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}))
	must(t, e.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour}))

	// Credentials open across the failover, revoked right after the kill.
	type open struct{ id, secret string }
	var opened []open
	for i := 0; i < haOpenCredentials; i++ {
		name := "ci-ha-open-" + strconv.Itoa(i)
		_, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "ci", TTLPolicy: "short", Owner: "team-ha", Scopes: []string{"default"}})
		must(t, err)
		c, secret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: name, Requester: "ha-test"})
		must(t, err)
		opened = append(opened, open{c.ID, secret})
	}

	// haWorkers create identities in parallel, as terraform apply does, so that requests are
	// in flight when the leader dies.
	names := make(chan string, haIdentities)
	for i := 0; i < haIdentities; i++ {
		names <- "ci-ha-" + strconv.Itoa(i)
	}
	close(names)
	var done atomic.Int32
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for w := 0; w < haWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				if _, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "ci", TTLPolicy: "short", Owner: "team-ha"}); err != nil {
					mu.Lock()
					failures = append(failures, name+": "+err.Error())
					mu.Unlock()
				}
				done.Add(1)
			}
		}()
	}
	for done.Load() < haKillAfter {
		time.Sleep(10 * time.Millisecond)
	}
	pid, err := strconv.Atoi(pids[lead])
	must(t, err)
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	killedAt := time.Now()
	t.Logf("killed the leader %s (pid %d) after %d identities, %d workers busy", addrs[lead], pid, done.Load(), haWorkers)
	for _, c := range opened {
		if err := e.RevokeCredential(ctx, c.id); err != nil {
			t.Errorf("revoking credential %s during the failover: %v", c.id, err)
		}
	}
	wg.Wait()
	retriesMu.Lock()
	defer retriesMu.Unlock()
	t.Logf("the rest of the run took %s after the kill; %d retries", time.Since(killedAt).Round(time.Millisecond), len(retries))
	if len(failures) > 0 {
		t.Fatalf("%d creates failed through the failover: %q (retries %q)", len(failures), failures, retries)
	}

	for _, c := range opened {
		if _, err := e.client.Logical().WriteWithContext(ctx, "auth/token/lookup", map[string]any{"token": c.secret}); err == nil {
			t.Errorf("the token of credential %s still works after its revocation during the failover", c.id)
		}
	}
	ids, err := e.ListIdentities(ctx)
	must(t, err)
	if len(ids) != haIdentities+haOpenCredentials {
		t.Fatalf("%d identities after the run, want %d", len(ids), haIdentities+haOpenCredentials)
	}
	unmanaged, err := e.ListUnmanaged(ctx)
	must(t, err)
	if len(unmanaged) != 0 {
		t.Fatalf("roles or entities without an identity record after the failover: %q", unmanaged)
	}
	for _, id := range ids {
		_, _ = e.client.Logical().DeleteWithContext(ctx, e.entityPath(id.Name))
	}
	_ = e.client.Sys().DisableAuthWithContext(ctx, e.approle)
	_ = e.client.Sys().UnmountWithContext(ctx, e.mount)
}

// TestKVPutRetriedWriteLanded: a check-and-set write sent again after its answer was lost (a
// failover retry) finds its own value in place and succeeds once; a different value at that
// version is still a conflict.
func TestKVPutRetriedWriteLanded(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	rec := map[string]any{"name": "ci", "ttl": int64(900), "at": "2026-01-01T12:00:00Z"}
	v, err := e.kvPut(ctx, "landed/x", rec, newKey)
	must(t, err)
	again, err := e.kvPut(ctx, "landed/x", rec, newKey)
	if err != nil || again != v {
		t.Fatalf("the same create sent again: version %d, error %v; want version %d, no error", again, err, v)
	}
	rec["ttl"] = int64(901)
	if _, err := e.kvPut(ctx, "landed/x", rec, newKey); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("a different create of an existing key: error = %v, want ErrConflict", err)
	}
	if _, err := e.kvPut(ctx, "landed/x", rec, v); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kvPut(ctx, "landed/x", map[string]any{"name": "other"}, v); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("a stale update with other content: error = %v, want ErrConflict", err)
	}
}
