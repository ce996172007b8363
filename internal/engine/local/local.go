// Package local is the embedded engine: one bbolt file, secret material encrypted at rest with
// AES-256-GCM, credentials stored only as hashes, an append-only hash-chained audit log, and a
// file lock with a bounded wait. It needs no setup and suits demos, tests and single machines.
package local

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// DefaultPath is where the database lives when nothing else is configured, relative to the
// working directory.
const DefaultPath = ".nhi/engine.db"

// KeyEnv names the environment variable holding the base64-encoded 32-byte encryption key.
const KeyEnv = "NHI_LOCAL_KEY"

// batchDelay is how long a write waits for others to share its transaction.
const batchDelay = time.Millisecond

// DefaultLockWait bounds how long Open waits for another process to release the database.
const DefaultLockWait = 10 * time.Second

var (
	bucketClasses     = []byte("classes")
	bucketTTLPolicies = []byte("ttl_policies")
	bucketIdentities  = []byte("identities")
	bucketCredentials = []byte("credentials")
	bucketSecretIndex = []byte("secret_index")
	bucketAudit       = []byte("audit")
	// bucketSchedules holds rotation schedules, keyed by identity.
	bucketSchedules = []byte("rotation_schedules")
	// bucketVersions holds one sub-bucket per identity with its rotated secret's versions.
	bucketVersions = []byte("secret_versions")
	// bucketLive indexes the credentials that have not ended, keyed by when they end (see
	// credentials.go). It is not in allBuckets: a database written before it existed gets it,
	// filled, on its next write, and loses bucketLiveByID, the index of an earlier release.
	bucketLive     = []byte("live_credentials_by_end")
	bucketLiveByID = []byte("live_credentials")
	// bucketOwners holds owner records. Like bucketLive it is not in allBuckets: a database
	// written before it existed reads as having no owners and gets it on its next write.
	bucketOwners = []byte("owners")
	allBuckets   = [][]byte{bucketClasses, bucketTTLPolicies, bucketIdentities, bucketCredentials, bucketSecretIndex, bucketAudit,
		bucketSchedules, bucketVersions}
)

// Options configure Open.
type Options struct {
	// Clock tells the time; the wall clock when nil.
	Clock clock.Clock
	// Key is the 32-byte AES-256 key. When nil, Open reads NHI_LOCAL_KEY, then a key file
	// beside the database (created with mode 0600 by the first write when absent).
	Key []byte
	// LockWait bounds the wait for another process's lock; DefaultLockWait when zero.
	LockWait time.Duration
}

// Engine is the local engine. It is safe for concurrent use.
//
// Nothing is written before the first real write: Open of an existing file only reads it (bbolt
// writes nothing when it opens an existing file), Open of a missing file creates neither the
// file, its directory nor the key file, and reads of a file without buckets answer "none". The
// first write creates the file, the buckets and the key (a plan therefore leaves the file, or
// its absence, exactly as it was).
type Engine struct {
	// GovernanceRecords keeps the classes, TTL policies, owners and rotation schedules
	// (governanceRecords).
	engine.GovernanceRecords

	path     string
	clock    clock.Clock
	key      []byte
	lockWait time.Duration

	// mu guards the lazily created database and key material below.
	mu   sync.Mutex
	db   *bolt.DB
	aead cipher.AEAD
	// fpKey keys the fingerprints of rotated secrets; it is derived from the encryption key.
	fpKey []byte
	// ready is set once every bucket exists.
	ready atomic.Bool
	// killPoint, set by tests only, is called where a multi-step write could be killed between
	// two steps (reached); a test panics there to leave the engine as a killed process would.
	killPoint func(point string)
}

// reached calls the test's killPoint, if any, at point.
func (e *Engine) reached(point string) {
	if e.killPoint != nil {
		e.killPoint(point)
	}
}

var _ engine.Engine = (*Engine)(nil)

// Open opens the engine database at path. An existing file is opened (and locked) without being
// written; a missing one is created by the first write.
func Open(path string, opts Options) (*Engine, error) {
	if path == "" {
		path = DefaultPath
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.LockWait == 0 {
		opts.LockWait = DefaultLockWait
	}
	e := &Engine{path: path, clock: opts.Clock, key: opts.Key, lockWait: opts.LockWait}
	e.GovernanceRecords = e.governanceRecords()
	key, err := loadKey(path, opts.Key, false)
	if err != nil {
		return nil, err
	}
	if key != nil {
		if err := e.setKey(key); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return e, nil
	}
	if err := e.openDB(); err != nil {
		return nil, err
	}
	return e, nil
}

// setKey derives the cipher and the fingerprint key from key. Callers hold mu or own e.
func (e *Engine) setKey(key []byte) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("%w: encryption key: %v", engine.ErrInvalid, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("%w: encryption key: %v", engine.ErrInvalid, err)
	}
	e.aead, e.fpKey = aead, deriveKey(key, "fingerprint")
	return nil
}

// openDB opens (and, for the first write, creates) the database file. Callers hold mu or own e.
func (e *Engine) openDB() error {
	db, err := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: e.lockWait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("%w: the engine database %s is locked by another process (waited %s); wait for it to finish or point local.path elsewhere",
			engine.ErrUnavailable, e.path, e.lockWait)
	}
	if err != nil {
		return fmt.Errorf("%w: opening %s: %v", engine.ErrUnavailable, e.path, err)
	}
	// Concurrent writes (Terraform applies ten resources at a time) share one fsync through
	// db.Batch; a short delay keeps a lone write from waiting the default 10ms for company.
	db.MaxBatchDelay = batchDelay
	e.db = db
	return nil
}

// handle returns the database, nil before the first write created it.
func (e *Engine) handle() *bolt.DB {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.db
}

// writable returns the database for a write, creating its directory, the file and the key file
// when absent.
func (e *Engine) writable() (*bolt.DB, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.aead == nil {
		key, err := loadKey(e.path, e.key, true)
		if err != nil {
			return nil, err
		}
		if err := e.setKey(key); err != nil {
			return nil, err
		}
	}
	if e.db == nil {
		if err := os.MkdirAll(filepath.Dir(e.path), 0o700); err != nil {
			return nil, fmt.Errorf("%w: creating the directory of %s: %v", engine.ErrUnavailable, e.path, err)
		}
		if err := e.openDB(); err != nil {
			return nil, err
		}
	}
	return e.db, nil
}

// errEmpty is what view returns before the first write: there are no records at all.
var errEmpty = fmt.Errorf("the engine holds no records yet: %w", engine.ErrNotFound)

// view runs fn in a read transaction, which never writes. Before the first write (no file, or a
// file without buckets) it runs nothing and returns errEmpty; readers answer "none" to it.
func (e *Engine) view(fn func(tx *bolt.Tx) error) error {
	db := e.handle()
	if db == nil {
		return errEmpty
	}
	return db.View(func(tx *bolt.Tx) error {
		if !e.ready.Load() {
			for _, b := range allBuckets {
				if tx.Bucket(b) == nil {
					return errEmpty
				}
			}
		}
		return fn(tx)
	})
}

// update runs fn in its own write transaction; batch shares one with concurrent writers (fn may
// then run more than once). Both create the database and its buckets first when absent.
func (e *Engine) update(fn func(tx *bolt.Tx) error) error {
	db, err := e.writable()
	if err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error { return e.withBuckets(tx, fn) })
}

func (e *Engine) batch(fn func(tx *bolt.Tx) error) error {
	db, err := e.writable()
	if err != nil {
		return err
	}
	return db.Batch(func(tx *bolt.Tx) error { return e.withBuckets(tx, fn) })
}

func (e *Engine) withBuckets(tx *bolt.Tx, fn func(tx *bolt.Tx) error) error {
	if !e.ready.Load() {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("%w: initialising %s: %v", engine.ErrUnavailable, e.path, err)
			}
		}
		if _, err := tx.CreateBucketIfNotExists(bucketOwners); err != nil {
			return fmt.Errorf("%w: initialising %s: %v", engine.ErrUnavailable, e.path, err)
		}
		if err := e.indexLive(tx); err != nil {
			return fmt.Errorf("%w: initialising %s: %v", engine.ErrUnavailable, e.path, err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	tx.OnCommit(func() { e.ready.Store(true) })
	return nil
}

// Path is the database file.
func (e *Engine) Path() string { return e.path }

// Close closes the database, if a write or Open created or opened it, and releases its lock.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.db == nil {
		return nil
	}
	return e.db.Close()
}

// loadKey returns the configured key, the key in NHI_LOCAL_KEY or the key file's; when none
// exists it creates the key file if create is set and returns nil otherwise.
func loadKey(dbPath string, key []byte, create bool) ([]byte, error) {
	if key != nil {
		if len(key) != 32 {
			return nil, fmt.Errorf("%w: the encryption key must be 32 bytes, got %d", engine.ErrInvalid, len(key))
		}
		return key, nil
	}
	if v := os.Getenv(KeyEnv); v != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%w: %s must hold 32 bytes in standard base64 (for example the output of `openssl rand -base64 32`)", engine.ErrInvalid, KeyEnv)
		}
		return k, nil
	}
	keyPath := dbPath + ".key"
	if raw, err := os.ReadFile(keyPath); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%w: key file %s is not 32 hex-encoded bytes", engine.ErrInvalid, keyPath)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: reading key file %s: %v", engine.ErrUnavailable, keyPath, err)
	}
	if !create {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return nil, fmt.Errorf("%w: creating the directory of %s: %v", engine.ErrUnavailable, dbPath, err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadKey(dbPath, nil, false) // another process won the race: use its key
	}
	if err != nil {
		return nil, fmt.Errorf("%w: creating key file %s: %v", engine.ErrUnavailable, keyPath, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return k, nil
}

// deriveKey derives a key for one purpose from the encryption key: HMAC-SHA-256(key, label).
func deriveKey(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// seal encrypts secret material for storage; aad binds the ciphertext to its record.
func (e *Engine) seal(plain, aad []byte) ([]byte, error) {
	nonce := make([]byte, e.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return e.aead.Seal(nonce, nonce, plain, aad), nil
}

// unseal decrypts what seal wrote.
func (e *Engine) unseal(sealed, aad []byte) ([]byte, error) {
	e.mu.Lock()
	aead := e.aead
	e.mu.Unlock()
	if aead == nil {
		return nil, fmt.Errorf("%w: no encryption key for %s: set %s or restore the key file %s.key", engine.ErrInvalid, e.path, KeyEnv, e.path)
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("%w: sealed value is truncated", engine.ErrInvalid)
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: decrypting a stored secret failed (wrong %s or key file?)", engine.ErrInvalid, KeyEnv)
	}
	return plain, nil
}

func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %v", engine.ErrUnavailable, err)
	}
	return nil
}
