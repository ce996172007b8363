package vault

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// haIdentities is how many identities TestHALeaderKilled creates; the leader dies after
// haKillAfter of them.
const (
	haIdentities = 40
	haKillAfter  = 10
)

// TestHALeaderKilled: against a 3-node Raft cluster (scripts/vault-dev cluster), an engine
// pointed at a standby, with the other nodes as addresses, creates identities while the
// leader is killed with SIGKILL. Every create completes through the election, and no role or
// entity is left without its identity record.
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
	var retries []string
	e, err := Open(ctx, cfg, clock.Real{}, func(msg string, f map[string]any) {
		if strings.HasPrefix(msg, "retrying") {
			retries = append(retries, f["reason"].(string))
		}
	})
	must(t, err)
	must(t, e.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}))
	must(t, e.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour}))

	var killedAt time.Time
	var firstAfter time.Duration
	for i := 0; i < haIdentities; i++ {
		if i == haKillAfter {
			pid, err := strconv.Atoi(pids[lead])
			must(t, err)
			must(t, syscall.Kill(pid, syscall.SIGKILL))
			killedAt = time.Now()
			t.Logf("killed the leader %s (pid %d) after %d identities", addrs[lead], pid, i)
		}
		name := "ci-ha-" + strconv.Itoa(i)
		if _, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "ci", TTLPolicy: "short", Owner: "team-ha"}); err != nil {
			t.Fatalf("creating %s (leader killed after %d): %v (retries: %q)", name, haKillAfter, err, retries)
		}
		if i == haKillAfter {
			firstAfter = time.Since(killedAt)
		}
	}
	t.Logf("the first create after the kill took %s; %d retries: %q", firstAfter.Round(time.Millisecond), len(retries), retries)

	ids, err := e.ListIdentities(ctx)
	must(t, err)
	if len(ids) != haIdentities {
		t.Fatalf("%d identities after the run, want %d", len(ids), haIdentities)
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
