package vault

import (
	"context"
	"fmt"
	"sort"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// The audit log is one KV entry per event, at audit/<identity>/<20-digit sequence number>
// (audit/_engine/... for events of no identity; identity names start with a letter or digit,
// so the two never meet), but for the credential events (issued, renewed, revoked), which
// AuditEvents derives from the credential records (credentialRecord.events): writing them
// would cost four requests per credential's open and close. Entries of earlier releases hold
// the credential events of their time; a credential record says which events it stands for. Sequence numbers come from the version counter of the audit-seq key,
// which Vault increments atomically on each write, so processes sharing one Vault never reuse
// a number; each event is written with check-and-set "new key" and so is never overwritten.
// Vault's own audit devices remain the tamper-evident record of every request.

// engineEvents is the audit folder of events that concern no identity.
const engineEvents = "_engine"

func auditKey(identity string, seq uint64) string {
	if identity == "" {
		identity = engineEvents
	}
	return fmt.Sprintf("%s%s/%020d", auditFolder, identity, seq)
}

// appendAudit stamps ev with the next sequence number and the engine's time and stores it.
func (e *Engine) appendAudit(ctx context.Context, ev engine.AuditEvent) error {
	ev.Time = e.clock.Now()
	seq, err := e.kvPut(ctx, auditSeqKey, map[string]any{"last_event": ev.Time}, anyVersion)
	if err != nil {
		return fmt.Errorf("audit log: allocating a sequence number: %w", err)
	}
	ev.Seq = uint64(seq)
	if _, err := e.kvPut(ctx, auditKey(ev.Identity, ev.Seq), ev, newKey); err != nil {
		return fmt.Errorf("audit log: writing event %d (%s): %w", ev.Seq, ev.Type, err)
	}
	return nil
}

// AuditEvents returns the events that match f: the log's entries and the events derived from
// the credential records, in the order of engine.OrderAuditEvents. A filter by identity reads
// only that identity's entries and credentials.
func (e *Engine) AuditEvents(ctx context.Context, f engine.AuditFilter) ([]engine.AuditEvent, error) {
	var folders []string
	if f.Identity != "" {
		if malformed(f.Identity) {
			return nil, nil // no identity of that name, so no event of one
		}
		folders = []string{f.Identity}
	} else {
		keys, err := e.kvList(ctx, auditFolder)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if name, ok := subfolder(k); ok {
				folders = append(folders, name)
			}
		}
	}
	var out []engine.AuditEvent
	for _, name := range folders {
		events, err := kvGetAll[engine.AuditEvent](ctx, e, auditFolder+name+"/")
		if err != nil {
			return nil, err
		}
		for _, ev := range events {
			if f.Match(ev) {
				out = append(out, ev)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	recs, err := e.identityRecords(ctx, f.Identity)
	if err != nil {
		return nil, err
	}
	creds, err := e.credentialRecords(ctx, f.Identity, recs)
	if err != nil {
		return nil, err
	}
	var trail []trailEntry
	for _, c := range creds {
		for _, ev := range c.events() {
			if f.Match(ev.AuditEvent) {
				trail = append(trail, ev)
			}
		}
	}
	// Each identity's derived events in the order recorded, after the log's (older) ones.
	sort.Slice(trail, func(i, j int) bool {
		if trail[i].Identity != trail[j].Identity {
			return trail[i].Identity < trail[j].Identity
		}
		return trail[i].version < trail[j].version
	})
	for _, ev := range trail {
		out = append(out, ev.AuditEvent)
	}
	return engine.OrderAuditEvents(out), nil
}

// RecordAdoption records that a create adopted a governance record it found as declared.
func (e *Engine) RecordAdoption(ctx context.Context, kind, name string) error {
	return e.appendAudit(ctx, engine.AdoptedEvent(kind, name))
}

// RecordAction appends engine.ActionEvent(action, identity, requester, detail).
func (e *Engine) RecordAction(ctx context.Context, action, identity, requester, detail string) error {
	return e.appendAudit(ctx, engine.ActionEvent(action, identity, requester, detail))
}
