package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Records are JSON objects stored as the data of KV v2 keys under the provider's mount, so an
// operator can read them with `vault kv get`. Numbers travel as json.Number both ways, so
// durations in nanoseconds keep every digit.

// Check-and-set modes of kvPut.
const (
	// anyVersion writes whatever is there.
	anyVersion = -1
	// newKey writes only when the key does not exist.
	newKey = 0
)

// Record folders under the mount.
const (
	classesFolder     = "classes/"
	ttlPoliciesFolder = "ttl-policies/"
	identitiesFolder  = "identities/"
	credentialsFolder = "credentials/"
	auditFolder       = "audit/"
	auditSeqKey       = "audit-seq"
	// Rotated secrets (see rotation.go): values, version records and schedules.
	secretsFolder        = "secrets/"
	secretVersionsFolder = "secret-versions/"
	schedulesFolder      = "rotation-schedules/"
)

func (e *Engine) dataPath(key string) string     { return e.mount + "/data/" + key }
func (e *Engine) metadataPath(key string) string { return e.mount + "/metadata/" + key }

// kvGet reads the latest version of key into a T and returns that version, or ErrNotFound.
func kvGet[T any](ctx context.Context, e *Engine, key string) (T, int64, error) {
	var v T
	s, err := e.read(ctx, e.dataPath(key))
	if err != nil {
		return v, 0, err
	}
	data, ok := s.Data["data"].(map[string]any)
	if !ok {
		// A deleted or destroyed version reads as metadata without data.
		return v, 0, fmt.Errorf("%s: %w", e.dataPath(key), engine.ErrNotFound)
	}
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		return v, 0, fmt.Errorf("%s: corrupt record: %v", e.dataPath(key), err)
	}
	return v, kvVersion(s.Data["metadata"]), nil
}

// kvPut writes v at key with check-and-set cas (anyVersion, newKey or the version last read)
// and returns the new version. A failed check is ErrConflict.
func (e *Engine) kvPut(ctx context.Context, key string, v any, cas int64) (int64, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return 0, err
	}
	body := map[string]any{"data": data}
	if cas != anyVersion {
		body["options"] = map[string]any{"cas": cas}
	}
	s, err := e.write(ctx, e.dataPath(key), body)
	if err != nil {
		return 0, err
	}
	if s == nil {
		return 0, fmt.Errorf("%s: Vault returned no version for the write", e.dataPath(key))
	}
	return kvVersion(s.Data), nil
}

// casAttempts bounds kvUpdate's retries when other writers keep changing the record.
const casAttempts = 5

// kvUpdate reads the record at key, lets change edit it and writes it back with check-and-set,
// reading again when another writer got there first. change reports whether to write at all;
// kvUpdate returns the record as last seen and whether it wrote it.
func kvUpdate[T any](ctx context.Context, e *Engine, key string, change func(*T) (bool, error)) (T, bool, error) {
	for attempt := 1; ; attempt++ {
		v, version, err := kvGet[T](ctx, e, key)
		if err != nil {
			return v, false, err
		}
		write, err := change(&v)
		if err != nil || !write {
			return v, false, err
		}
		_, err = e.kvPut(ctx, key, v, version)
		if err == nil || !errors.Is(err, engine.ErrConflict) || attempt == casAttempts {
			return v, err == nil, err
		}
	}
}

// kvDelete removes key with every version, or returns ErrNotFound.
func (e *Engine) kvDelete(ctx context.Context, key string) error {
	if _, err := e.read(ctx, e.metadataPath(key)); err != nil {
		return err
	}
	return e.del(ctx, e.metadataPath(key))
}

// kvList lists the keys in folder (sub-folders end with "/"); none when it does not exist.
func (e *Engine) kvList(ctx context.Context, folder string) ([]string, error) {
	return e.list(ctx, e.metadataPath(folder))
}

// kvGetAll reads every record directly in folder, in key order.
func kvGetAll[T any](ctx context.Context, e *Engine, folder string) ([]T, error) {
	keys, err := e.kvList(ctx, folder)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		if _, sub := subfolder(k); sub {
			continue
		}
		v, _, err := kvGet[T](ctx, e, folder+k)
		if errors.Is(err, engine.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// subfolder strips the trailing slash LIST puts on sub-folders; ok is false for plain keys.
func subfolder(key string) (string, bool) {
	return strings.CutSuffix(key, "/")
}

// kvVersion extracts "version" from KV v2 metadata.
func kvVersion(meta any) int64 {
	m, _ := meta.(map[string]any)
	n, _ := m["version"].(json.Number)
	v, _ := n.Int64()
	return v
}

// checkName refuses a name that cannot be a key: names become Vault paths.
func checkName(kind, name string) error {
	if err := policy.CheckName(name); err != nil {
		return fmt.Errorf("%s %v: %w", kind, err, engine.ErrInvalid)
	}
	return nil
}
