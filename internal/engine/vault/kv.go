package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"

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
	ownersFolder      = "owners/"
	identitiesFolder  = "identities/"
	credentialsFolder = "credentials/"
	auditFolder       = "audit/"
	auditSeqKey       = "audit-seq"
	// Rotated secrets (see rotation.go): values, version records and schedules.
	secretsFolder        = "secrets/"
	secretVersionsFolder = "secret-versions/"
	schedulesFolder      = "rotation-schedules/"
)

// Every KV access of the engine goes through the functions below, on the client's api.KVv2
// (Get, GetVersion, Put with check-and-set, Destroy, metadata), except listing, which KVv2 does
// not offer. Like write and del, every KV write calls ensureMounts first: the first write
// creates the mounts, reads never do.

func (e *Engine) kv() *api.KVv2 { return e.client.KVv2(e.mount) }

func (e *Engine) dataPath(key string) string     { return e.mount + "/data/" + key }
func (e *Engine) metadataPath(key string) string { return e.mount + "/metadata/" + key }

// kvErr maps the error of a KV request on key; a missing, deleted or destroyed version is
// ErrNotFound.
func (e *Engine) kvErr(op, key string, err error) error {
	if errors.Is(err, api.ErrSecretNotFound) {
		return fmt.Errorf("%s: %w", e.dataPath(key), engine.ErrNotFound)
	}
	return e.vaultErr(op, e.dataPath(key), err)
}

// malformed reports whether name is one that no record can have (names become Vault paths).
// Writes refuse it with engine.CheckName; a look-up finds nothing (lookupName), as on the local
// engine, whose keys are any string.
func malformed(name string) bool { return policy.CheckName(name) != nil }

// lookupName refuses to look up a record of kind by a malformed name: it is not found.
func lookupName(kind, name string) error {
	if malformed(name) {
		return engine.NotFound(kind, name)
	}
	return nil
}

// recordErr names the record of kind named name in err, a failed access to its key: a missing
// key is engine.NotFound, as on every engine, without the KV path.
func recordErr(kind, name string, err error) error {
	if errors.Is(err, engine.ErrNotFound) {
		return engine.NotFound(kind, name)
	}
	return fmt.Errorf("%s %q: %w", kind, name, err)
}

// kvGet reads the latest version of key into a T and returns that version, or ErrNotFound.
func kvGet[T any](ctx context.Context, e *Engine, key string) (T, int64, error) {
	return kvGetVersion[T](ctx, e, key, 0)
}

// kvGetVersion reads version (0: the latest) of key into a T and returns its version number,
// or ErrNotFound.
func kvGetVersion[T any](ctx context.Context, e *Engine, key string, version int64) (T, int64, error) {
	var (
		v   T
		s   *api.KVSecret
		err error
	)
	if version == 0 {
		s, err = e.kv().Get(ctx, key)
	} else {
		s, err = e.kv().GetVersion(ctx, key, int(version))
	}
	if err != nil {
		return v, 0, e.kvErr("read", key, err)
	}
	if s.Data == nil || s.VersionMetadata == nil {
		// A deleted or destroyed version reads as metadata without data.
		return v, 0, fmt.Errorf("%s: %w", e.dataPath(key), engine.ErrNotFound)
	}
	raw, err := json.Marshal(s.Data)
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		return v, 0, fmt.Errorf("%s: corrupt record: %v", e.dataPath(key), err)
	}
	return v, int64(s.VersionMetadata.Version), nil
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
	if err := e.ensureMounts(ctx); err != nil {
		return 0, err
	}
	var opts []api.KVOption
	if cas != anyVersion {
		opts = append(opts, api.WithCheckAndSet(int(cas)))
	}
	s, err := e.kv().Put(ctx, key, data, opts...)
	for resend := 0; resend < maxResends && (cas != anyVersion || key == auditSeqKey) && answerLost(err); resend++ {
		// The connection broke after the write was sent (a leader died mid-request): it may
		// or may not have landed. A check-and-set write cannot land twice, and landed below
		// recognises the first one, so send it again. So is the audit sequence counter's: a
		// resend that follows a landed write only leaves one sequence number unused.
		e.logf("sending a Vault write again after its answer was lost", map[string]any{"path": e.dataPath(key), "error": err.Error()})
		s, err = e.kv().Put(ctx, key, data, opts...)
	}
	if err != nil {
		err = e.kvErr("write", key, err)
		if cas != anyVersion && errors.Is(err, engine.ErrConflict) {
			if version, ok := e.landed(ctx, key, data, cas); ok {
				return version, nil
			}
		}
		return 0, err
	}
	if s.VersionMetadata == nil {
		return 0, fmt.Errorf("%s: Vault returned no version for the write", e.dataPath(key))
	}
	return int64(s.VersionMetadata.Version), nil
}

// maxResends bounds how often kvPut sends a check-and-set write again after losing its answer.
const maxResends = 3

// answerLost reports whether err is a transport failure after which a write's outcome is
// unknown: not an answer from Vault, not a connection that never opened (retryTransport has
// retried those for the whole retry window), not the caller giving up.
func answerLost(err error) bool {
	var re *api.ResponseError
	return err != nil && !errors.As(err, &re) && !dialFailed(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// landed reports whether a check-and-set write of data at key, refused as a conflict, had in
// fact been carried out: the key is at version cas+1 and holds exactly data. That happens when
// the write's answer was lost in a leader election and retryTransport sent it again (see
// retry.go); the write is then done, once, and not an error.
func (e *Engine) landed(ctx context.Context, key string, data map[string]any, cas int64) (int64, bool) {
	s, err := e.kv().Get(ctx, key)
	if err != nil || s == nil || s.VersionMetadata == nil || int64(s.VersionMetadata.Version) != cas+1 {
		return 0, false
	}
	want, err1 := json.Marshal(data)
	got, err2 := json.Marshal(s.Data)
	if err1 != nil || err2 != nil || !bytes.Equal(want, got) {
		return 0, false
	}
	return cas + 1, true
}

// kvDestroy destroys one version of key for good.
func (e *Engine) kvDestroy(ctx context.Context, key string, version int64) error {
	if err := e.ensureMounts(ctx); err != nil {
		return err
	}
	return e.kvErr("destroy", key, e.kv().Destroy(ctx, key, []int{int(version)}))
}

// kvKeepVersions sets key's max_versions, the number of versions KV keeps before it deletes
// the oldest by itself.
func (e *Engine) kvKeepVersions(ctx context.Context, key string, n int) error {
	if err := e.ensureMounts(ctx); err != nil {
		return err
	}
	return e.kvErr("write", key, e.kv().PutMetadata(ctx, key, api.KVMetadataPutInput{MaxVersions: n}))
}

// casAttempts bounds the retries of a check-and-set update (updateRecord) when other writers keep changing the record.
const casAttempts = 5

// kvDelete removes key with every version, or returns ErrNotFound.
func (e *Engine) kvDelete(ctx context.Context, key string) error {
	if _, err := e.kv().GetMetadata(ctx, key); err != nil {
		return e.kvErr("read", key, err)
	}
	if err := e.ensureMounts(ctx); err != nil {
		return err
	}
	return e.kvErr("delete", key, e.kv().DeleteMetadata(ctx, key))
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
	keys = slices.DeleteFunc(keys, func(k string) bool { _, sub := subfolder(k); return sub })
	return readListed(keys, func(k string) (T, error) {
		v, _, err := kvGet[T](ctx, e, folder+k)
		return v, err
	})
}

// readListed reads the record of each listed key, in order, leaving out those deleted since the
// listing.
func readListed[T any](keys []string, read func(key string) (T, error)) ([]T, error) {
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		v, err := read(k)
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
