package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/enginetest"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// TestLastUseFromAuditLog: a consumer's own AppRole login against Vault, which the engine takes
// no part in, is the identity's last use, read from the file audit device; a refused login is
// not; the login is a "used" event by its remote address. An engine with no audit log cannot
// tell last use and says so (UseUnknown), so the inactivity rule does not judge its identities.
func TestLastUseFromAuditLog(t *testing.T) {
	clk := clock.NewFake(enginetest.Epoch)
	e := openTest(t, clk)
	ctx := context.Background()
	roleID := setupPersistent(t, e, "svc-seen")
	secret := stagePromote(t, e, "svc-seen", engine.PromoteOptions{})
	read := func() policy.Identity {
		t.Helper()
		id, err := e.GetIdentity(ctx, "svc-seen")
		must(t, err)
		if id.UseUnknown {
			t.Fatal("UseUnknown with an audit log configured")
		}
		return id
	}
	if id := read(); !id.LastUsedAt.IsZero() {
		t.Fatalf("LastUsedAt before any login = %v, want zero", id.LastUsedAt)
	}
	if err := vaultLogin(t, e, roleID, "not-the-secret"); err == nil {
		t.Fatal("a login with a wrong secret-id succeeded")
	}
	if id := read(); !id.LastUsedAt.IsZero() {
		t.Fatalf("LastUsedAt after a refused login = %v, want zero", id.LastUsedAt)
	}

	must(t, vaultLogin(t, e, roleID, secret))
	first := read().LastUsedAt
	if first.IsZero() {
		t.Fatal("LastUsedAt after a consumer's login is zero")
	}
	used, err := e.UseEvents(ctx, engine.AuditFilter{Identity: "svc-seen"})
	must(t, err)
	if len(used) != 1 || !used[0].Time.Equal(first) || used[0].Requester != "127.0.0.1" {
		t.Fatalf("used events = %+v, want one at %v by 127.0.0.1", used, first)
	}
	must(t, vaultLogin(t, e, roleID, secret))
	if second := read().LastUsedAt; !second.After(first) {
		t.Fatalf("LastUsedAt after a second login = %v, want after %v", second, first)
	}

	cfg := Config{Mount: e.mount, AppRoleMount: e.approle}
	cfg.ApplyEnv()
	blind, err := Open(ctx, cfg, clk, nil)
	must(t, err)
	defer blind.Close()
	id, err := blind.GetIdentity(ctx, "svc-seen")
	must(t, err)
	if !id.UseUnknown || !id.LastUsedAt.IsZero() {
		t.Fatalf("without an audit log: UseUnknown %v, LastUsedAt %v; want true, zero", id.UseUnknown, id.LastUsedAt)
	}
	class := policy.Class{Name: "svc", Kind: policy.KindPersistent, MaxIdle: policy.Day}
	if _, _, inactive := policy.CheckIdle(id, &class, id.CreatedAt.Add(100*policy.Day)); inactive {
		t.Fatal("an identity whose last use is unknown was judged inactive")
	}
}

// auditLine is one line of a file audit device: a login on path in namespace ns, for role,
// refused with refusal when that is not empty.
func auditLine(at time.Time, path, ns, role, refusal string) string {
	auth := `"auth":{"client_token":"hmac-sha256:aa","accessor":"hmac-sha256:bb","metadata":{"role_name":"` + role + `"}},`
	if refusal != "" {
		auth = ""
	}
	nsField := `"namespace":{"id":"root"}`
	if ns != "" {
		nsField = `"namespace":{"id":"x1","path":"` + ns + `/"}`
	}
	return fmt.Sprintf(`{"time":%q,"type":"response","auth":{"token_type":"default"},"request":{"operation":"update",%s,"path":%q,"remote_address":"10.1.2.3"},"response":{%s"mount_type":"approle"},"error":%q}`+"\n",
		at.Format(time.RFC3339Nano), nsField, path, auth, refusal)
}

// TestUseLogReading: the audit log is read incrementally: only successful logins on the
// engine's mount and namespace count; a line still being written is read once complete; a
// truncated or replaced (rotated) file is read from its start, keeping what was learnt.
func TestUseLogReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const login = "auth/m-approle/login"
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	write := func(flag int, lines ...string) {
		t.Helper()
		f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o600)
		must(t, err)
		for _, l := range lines {
			_, err = f.WriteString(l)
			must(t, err)
		}
		must(t, f.Close())
	}
	u := newUseLog(path)
	check := func(want map[string]time.Time, events int) {
		t.Helper()
		must(t, u.read(login, ""))
		for name, at := range want {
			if !u.last[name].Equal(at) {
				t.Errorf("last use of %s = %v, want %v", name, u.last[name], at)
			}
		}
		if len(u.last) != len(want) || len(u.events) != events {
			t.Errorf("last uses %v, %d events; want %d identities, %d events", u.last, len(u.events), len(want), events)
		}
	}
	write(os.O_TRUNC,
		auditLine(t0, login, "", "svc-a", ""),
		auditLine(t0.Add(time.Hour), login, "", "svc-a", "invalid secret id"),
		auditLine(t0.Add(time.Hour), "auth/other-approle/login", "", "svc-a", ""),
		auditLine(t0.Add(time.Hour), login, "team", "svc-a", ""),
		"not json at all\n",
		auditLine(t0.Add(30*time.Second), login, "", "svc-b", ""),
		auditLine(t0.Add(40*time.Second), login, "", "svc-b", ""))
	check(map[string]time.Time{"svc-a": t0, "svc-b": t0.Add(40 * time.Second)}, 2) // svc-b's second login within the minute

	line := auditLine(t0.Add(2*time.Hour), login, "", "svc-a", "")
	write(os.O_APPEND, line[:40])
	check(map[string]time.Time{"svc-a": t0, "svc-b": t0.Add(40 * time.Second)}, 2)
	write(os.O_APPEND, line[40:])
	check(map[string]time.Time{"svc-a": t0.Add(2 * time.Hour), "svc-b": t0.Add(40 * time.Second)}, 3)

	// Rotated: a new, shorter file at the path.
	must(t, os.Rename(path, path+".1"))
	write(os.O_TRUNC, auditLine(t0.Add(3*time.Hour), login, "", "svc-c", ""))
	check(map[string]time.Time{"svc-a": t0.Add(2 * time.Hour), "svc-b": t0.Add(40 * time.Second), "svc-c": t0.Add(3 * time.Hour)}, 4)

	must(t, os.Remove(path))
	if err := u.read(login, ""); err == nil {
		t.Fatal("reading a missing audit log: no error")
	}
}

// TestUseLogTail: the first read of a log longer than auditTail starts auditTail bytes before
// its end and skips the line cut there, but not a whole line that starts exactly there.
func TestUseLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const login = "auth/m-approle/login"
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	first := auditLine(at, login, "", "svc-edge", "")
	// "x\n", then the login line, then padding lines: the tail starts exactly at the login.
	pad := auditTail - len(first)
	var b strings.Builder
	b.Grow(2 + auditTail)
	b.WriteString("x\n")
	b.WriteString(first)
	line := strings.Repeat("y", 1023) + "\n"
	for ; pad > len(line); pad -= len(line) {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("z", pad-1) + "\n")
	must(t, os.WriteFile(path, []byte(b.String()), 0o600))

	u := newUseLog(path)
	must(t, u.read(login, ""))
	if !u.last["svc-edge"].Equal(at) {
		t.Fatalf("last use of svc-edge = %v, want %v (the login line the tail starts with)", u.last["svc-edge"], at)
	}
}
