package vault

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Last use on Vault. Vault keeps no last-used time for an AppRole role or its secret-ids, so the
// engine derives an identity's last use from what Vault records anyway: the log of a file audit
// device (Config.AuditLogPath, the vault block's audit_log_path). Every successful login on the
// engine's AppRole mount is a response entry for auth/<approle mount>/login whose auth carries
// the role's name in its metadata (role_name, which Vault does not HMAC) and a token; a
// refused login carries an error and no token. The identity's last use is the time of the
// latest such entry for its role, whoever logged in: a consumer with the rotated secret, a
// login with a secret-id made by hand, or the engine itself minting a credential (a credential
// is a token from a login) or verifying a staged secret. Each login is also a "used" event of
// the audit log (at most one per identity per policy.UseResolution), whose requester is the
// secret-id's requester metadata when the engine minted it, else the login's remote address.
//
// Cost: the log is read incrementally, once per engine (provider process) from where the last
// read stopped; the first read of a process starts auditTail bytes before the end. Lines are
// matched by a byte search for the login path before any JSON is decoded.
//
// What it misses, by design (docs/guides say so too):
//   - logins older than the part of the log this process read: the log rotated away (a new file
//     at the path is read from its start; what was learnt from the old one is kept in memory) or
//     more than auditTail bytes from its end;
//   - logins while the audit device was disabled, or logged by another device or Vault node
//     whose file this process cannot read (each node of a cluster writes its own file);
//   - uses of a token after its login: requests made with a credential's token are in the log
//     under an HMAC of its accessor, which the engine does not match, so Credential.LastUsedAt
//     stays unknown on Vault;
//   - a login by another means than the AppRole mount (a token created directly for the
//     entity, say).
//
// Latency: a login shows as soon as Vault wrote its entry (Vault writes audit entries before it
// answers); the next read of the identity in the same or a new process sees it.
//
// An identity deleted and created again under the same name shares its role name with its
// predecessor, so the new identity inherits the logins of the old one still in the log.

// auditTail bounds the first read of the audit log in a process: its last auditTail bytes.
const auditTail = 64 << 20

// useLog is the engine's view of the audit log: the last login per identity, and the "used"
// events, as far as the log has been read.
type useLog struct {
	path string

	mu sync.Mutex
	// file is the log file read so far, offset the end of its last complete line read.
	file   os.FileInfo
	offset int64
	last   map[string]time.Time
	// events are the "used" events, one per identity per policy.UseResolution at most;
	// lastEvent is the time of each identity's latest one.
	events    []engine.AuditEvent
	lastEvent map[string]time.Time
}

func newUseLog(path string) *useLog {
	if path == "" {
		return nil
	}
	return &useLog{path: path, last: map[string]time.Time{}, lastEvent: map[string]time.Time{}}
}

// auditEntry is what the engine reads of one line of a file audit device.
type auditEntry struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Error   string    `json:"error"`
	Request struct {
		Path      string `json:"path"`
		Namespace struct {
			Path string `json:"path"`
		} `json:"namespace"`
		RemoteAddress string `json:"remote_address"`
	} `json:"request"`
	Response struct {
		Auth *struct {
			ClientToken string            `json:"client_token"`
			Metadata    map[string]string `json:"metadata"`
		} `json:"auth"`
	} `json:"response"`
}

// loginPath is the path of a login on the engine's AppRole mount.
func (e *Engine) loginPath() string { return "auth/" + e.approle + "/login" }

// read brings the log up to date: it reads the lines written since the last read, or the file
// from the start (its last auditTail bytes) when it is read for the first time or was rotated
// or truncated. Callers hold u.mu.
func (u *useLog) read(loginPath, namespace string) error {
	f, err := os.Open(u.path)
	if err != nil {
		return fmt.Errorf("%w: reading the Vault audit log %s (the vault block's audit_log_path) to learn when identities were last used: %v",
			engine.ErrUnavailable, u.path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: reading the Vault audit log %s: %v", engine.ErrUnavailable, u.path, err)
	}
	partial := false
	if u.file == nil || !os.SameFile(u.file, info) || info.Size() < u.offset {
		u.offset = max(0, info.Size()-auditTail)
		// The tail's first line is cut unless the byte before it ends a line.
		prev := []byte{'\n'}
		if u.offset > 0 {
			if _, err := f.ReadAt(prev, u.offset-1); err != nil {
				return fmt.Errorf("%w: reading the Vault audit log %s: %v", engine.ErrUnavailable, u.path, err)
			}
		}
		partial = prev[0] != '\n'
	}
	u.file = info
	if _, err := f.Seek(u.offset, io.SeekStart); err != nil {
		return fmt.Errorf("%w: reading the Vault audit log %s: %v", engine.ErrUnavailable, u.path, err)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	needle := []byte(`"path":"` + loginPath + `"`)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // a line without its newline yet is read again next time
		}
		if err != nil {
			return fmt.Errorf("%w: reading the Vault audit log %s: %v", engine.ErrUnavailable, u.path, err)
		}
		u.offset += int64(len(line))
		if partial { // the first line of a tail may be cut
			partial = false
			continue
		}
		if bytes.Contains(line, needle) {
			u.add(line, loginPath, namespace)
		}
	}
}

// add records line when it is a successful login on loginPath in namespace.
func (u *useLog) add(line []byte, loginPath, namespace string) {
	var ent auditEntry
	if json.Unmarshal(line, &ent) != nil {
		return
	}
	auth := ent.Response.Auth
	if ent.Type != "response" || ent.Error != "" || auth == nil || auth.ClientToken == "" || ent.Request.Path != loginPath ||
		strings.Trim(ent.Request.Namespace.Path, "/") != strings.Trim(namespace, "/") {
		return
	}
	name, at := auth.Metadata["role_name"], ent.Time.UTC()
	if engine.CheckName(kindIdentity, name) != nil || at.IsZero() {
		return
	}
	if at.After(u.last[name]) {
		u.last[name] = at
	}
	if _, changed := policy.RecordUse(u.lastEvent[name], at); !changed || at.Before(u.lastEvent[name]) {
		return
	}
	u.lastEvent[name] = at
	who := auth.Metadata["requester"]
	if who == "" {
		who = ent.Request.RemoteAddress
	}
	u.events = append(u.events, engine.AuditEvent{Time: at, Type: engine.EventUsed, Identity: name, Requester: who,
		Purpose: auth.Metadata["purpose"], Detail: "AppRole login on " + loginPath + " (from the Vault audit log)"})
}

// observeUse fills the LastUsedAt of ids from the audit log; without one it marks their use
// unknown (policy.Identity.UseUnknown).
func (e *Engine) observeUse(ids ...*policy.Identity) error {
	if e.use == nil {
		for _, id := range ids {
			id.UseUnknown = true
		}
		return nil
	}
	e.use.mu.Lock()
	defer e.use.mu.Unlock()
	if err := e.use.read(e.loginPath(), e.namespace); err != nil {
		return err
	}
	for _, id := range ids {
		id.LastUsedAt = e.use.last[id.Name]
	}
	return nil
}

// useAfterWrite fills the last use of id, which a create or update just wrote, so that the
// findings of the write judge its inactivity as a read would. The write is done: an audit log
// that cannot be read leaves the use unknown (logged), and the next read reports the error.
func (e *Engine) useAfterWrite(id *policy.Identity) {
	if err := e.observeUse(id); err != nil {
		id.UseUnknown = true
		e.logf("last use unknown after the write: "+err.Error(), map[string]any{"identity": id.Name})
	}
}

var _ engine.UseLog = (*Engine)(nil)

// UseEvents returns the "used" events that pass f, derived from the audit log; none without
// one.
func (e *Engine) UseEvents(_ context.Context, f engine.AuditFilter) ([]engine.AuditEvent, error) {
	if e.use == nil {
		return nil, nil
	}
	e.use.mu.Lock()
	defer e.use.mu.Unlock()
	if err := e.use.read(e.loginPath(), e.namespace); err != nil {
		return nil, err
	}
	var out []engine.AuditEvent
	for _, ev := range e.use.events {
		if f.Match(ev) {
			out = append(out, ev)
		}
	}
	return out, nil
}
