package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// The audit log is append-only and hash-chained: entry n stores the SHA-256 of entry n-1's hash
// and its own event, so editing, removing or reordering an entry breaks every later link.

type auditEntry struct {
	Event engine.AuditEvent `json:"event"`
	Prev  string            `json:"prev"`
	Hash  string            `json:"hash"`
}

func chainHash(prev string, ev engine.AuditEvent) (string, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// appendAudit adds ev to the log inside tx, stamping its sequence number and time.
func (e *Engine) appendAudit(tx *bolt.Tx, ev engine.AuditEvent) error {
	b := tx.Bucket(bucketAudit)
	prev := ""
	if k, raw := b.Cursor().Last(); k != nil {
		var last auditEntry
		if err := json.Unmarshal(raw, &last); err != nil {
			return fmt.Errorf("audit log: corrupt last entry: %v", err)
		}
		prev = last.Hash
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	ev.Seq, ev.Time = seq, e.clock.Now()
	hash, err := chainHash(prev, ev)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(auditEntry{Event: ev, Prev: prev, Hash: hash})
	if err != nil {
		return err
	}
	return b.Put(seqKey(seq), raw)
}

// AuditEvents verifies the whole hash chain and returns the events that match f, in the order
// of engine.OrderAuditEvents (the log's order but for credential events that share an instant
// with others). A broken chain is an error naming the first entry that fails.
func (e *Engine) AuditEvents(ctx context.Context, f engine.AuditFilter) ([]engine.AuditEvent, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	var out []engine.AuditEvent
	err := e.view(func(tx *bolt.Tx) error {
		prev := ""
		return tx.Bucket(bucketAudit).ForEach(func(k, raw []byte) error {
			var en auditEntry
			if err := json.Unmarshal(raw, &en); err != nil {
				return fmt.Errorf("audit log of %s: entry %x is unreadable: the log has been tampered with", e.path, k)
			}
			want, err := chainHash(prev, en.Event)
			if err != nil {
				return err
			}
			if en.Prev != prev || en.Hash != want || !bytes.Equal(k, seqKey(en.Event.Seq)) {
				return fmt.Errorf("audit log of %s: entry %d fails its hash chain: the log has been tampered with", e.path, binary.BigEndian.Uint64(k))
			}
			prev = en.Hash
			if f.Match(en.Event) {
				out = append(out, en.Event)
			}
			return nil
		})
	})
	return engine.OrderAuditEvents(out), none(err)
}

// RecordAdoption records that a create adopted a governance record it found as declared.
func (e *Engine) RecordAdoption(ctx context.Context, kind, name string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return e.update(func(tx *bolt.Tx) error { return e.appendAudit(tx, engine.AdoptedEvent(kind, name)) })
}

// RecordAction appends engine.ActionEvent(action, identity, requester, detail).
func (e *Engine) RecordAction(ctx context.Context, action, identity, requester, detail string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return e.update(func(tx *bolt.Tx) error {
		return e.appendAudit(tx, engine.ActionEvent(action, identity, requester, detail))
	})
}
