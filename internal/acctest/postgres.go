package acctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nhigov/terraform-provider-nhi/internal/target"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

// PostgresEnv names the variables scripts/postgres-dev sets for the server it runs.
const PostgresEnv = "NHI_TEST_PG_HOST"

// Postgres returns the connection and admin password of the test server that scripts/postgres-dev
// runs (`scripts/postgres-dev run go test ...`, or `make testpg`); the test is skipped, saying
// so, when none is configured.
func Postgres(t testing.TB) (target.Connection, string) {
	t.Helper()
	host := os.Getenv(PostgresEnv)
	if host == "" {
		t.Skip("needs a PostgreSQL server: run under scripts/postgres-dev run (make testpg), which sets " + PostgresEnv)
	}
	port, err := strconv.ParseInt(os.Getenv("NHI_TEST_PG_PORT"), 10, 64)
	if err != nil {
		t.Fatalf("NHI_TEST_PG_PORT: %v", err)
	}
	db := os.Getenv("NHI_TEST_PG_DATABASE")
	if db == "" {
		db = "postgres"
	}
	return target.Connection{Kind: target.KindPostgreSQL, Host: host, Port: port, Database: db, SSLMode: "disable",
		Username: os.Getenv("NHI_TEST_PG_USER")}, os.Getenv("NHI_TEST_PG_PASSWORD")
}

// PostgresLog returns what the test server has logged so far: scripts/postgres-dev starts it
// with log_statement=all and names its log in NHI_TEST_PG_LOG. The test is skipped, saying so,
// when none is configured.
func PostgresLog(t testing.TB) string {
	t.Helper()
	path := os.Getenv("NHI_TEST_PG_LOG")
	if path == "" {
		t.Skip("needs the log of a PostgreSQL server that logs every statement: run under scripts/postgres-dev run (make testpg), which sets NHI_TEST_PG_LOG")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the test server's log: %v", err)
	}
	return string(raw)
}

// PostgresExec runs statements as the admin user of the test server: the fixtures of a test
// (tables, group roles) and the changes by hand that drift tests make.
func PostgresExec(t testing.TB, conn target.Connection, password string, statements ...string) {
	t.Helper()
	ctx := context.Background()
	c := PostgresConnect(t, conn, conn.Username, password)
	defer func() { _ = c.Close(ctx) }()
	for _, s := range statements {
		if _, err := c.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// PostgresConnect connects to the test server as user with password, failing the test when it
// cannot; the caller closes the connection.
func PostgresConnect(t testing.TB, conn target.Connection, user, password string) *pgx.Conn {
	t.Helper()
	c, err := PostgresTry(conn, user, password)
	if err != nil {
		t.Fatalf("connecting to PostgreSQL as %q: %v", user, err)
	}
	return c
}

// PostgresTry connects to the test server as user with password.
func PostgresTry(conn target.Connection, user, password string) (*pgx.Conn, error) {
	p, err := postgres.New(conn, "")
	if err != nil {
		return nil, err
	}
	return p.Connect(context.Background(), user, password)
}

// Unique returns prefix followed by 8 random hex digits: names of roles and tables that tests
// sharing one server do not collide on.
func Unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// PostgresFixture is the test server's connection, an admin client, a target name, and a group
// role Reader that may SELECT table Allowed and not table Denied: what a scope grants, and what
// it does not. Names are unique; the tables and role are dropped when the test ends.
type PostgresFixture struct {
	Conn                    target.Connection
	Password                string
	Admin                   *postgres.Postgres
	Target                  string
	Reader, Allowed, Denied string
}

// NewPostgresFixture sets up a PostgresFixture on the test server (skipping without one).
func NewPostgresFixture(t testing.TB) *PostgresFixture {
	t.Helper()
	conn, password := Postgres(t)
	admin, err := postgres.New(conn, password)
	if err != nil {
		t.Fatal(err)
	}
	f := &PostgresFixture{Conn: conn, Password: password, Admin: admin, Target: Unique("db-"),
		Reader: Unique("reader_"), Allowed: Unique("allowed_"), Denied: Unique("denied_")}
	PostgresExec(t, conn, password,
		"CREATE ROLE "+f.Reader+" NOLOGIN",
		"CREATE TABLE "+f.Allowed+" (n int)", "INSERT INTO "+f.Allowed+" VALUES (7)",
		"CREATE TABLE "+f.Denied+" (n int)",
		"GRANT SELECT ON "+f.Allowed+" TO "+f.Reader)
	t.Cleanup(func() {
		PostgresExec(t, conn, password, "DROP TABLE "+f.Allowed, "DROP TABLE "+f.Denied, "DROP ROLE "+f.Reader)
	})
	return f
}

// WantGrants connects as user with password and checks that it may SELECT Allowed and is
// refused Denied.
func (f *PostgresFixture) WantGrants(user, password string) error {
	ctx := context.Background()
	c, err := PostgresTry(f.Conn, user, password)
	if err != nil {
		return fmt.Errorf("login %s: %v", user, err)
	}
	defer func() { _ = c.Close(ctx) }()
	var n int
	if err := c.QueryRow(ctx, "SELECT n FROM "+f.Allowed).Scan(&n); err != nil || n != 7 {
		return fmt.Errorf("login %s: SELECT on the table its scope grants: %d, %v", user, n, err)
	}
	if _, err := c.Exec(ctx, "SELECT n FROM "+f.Denied); err == nil || !strings.Contains(err.Error(), "permission denied") {
		return fmt.Errorf("login %s: SELECT on a table its scope does not grant: %v, want permission denied", user, err)
	}
	return nil
}

// WantGone checks that login user no longer exists and that password no longer logs in as it.
func (f *PostgresFixture) WantGone(user, password string) error {
	ctx := context.Background()
	if l, err := f.Admin.Inspect(ctx, user); err != nil || l.Exists {
		return fmt.Errorf("login %s after revocation: %+v, %v; want no role", user, l, err)
	}
	if err := f.Admin.Login(ctx, user, password); err == nil {
		return fmt.Errorf("login %s still logs in after revocation", user)
	}
	return nil
}

// ValidUntil tells whether a login's VALID UNTIL is the expiry of its credential: to the
// microsecond where the engine sets it (local), within seconds where Vault sets it from its own
// clock (it adds a few seconds so that the login outlives the lease, and its clock runs on while
// a test's fake clock stands still).
func ValidUntil(l target.Login, expires time.Time) bool {
	return !l.Infinite && !l.ValidUntil.Before(expires.Truncate(time.Second)) && l.ValidUntil.Sub(expires) <= 30*time.Second
}

// PostgresRelay is a TCP relay in front of the test server: a target whose connection points at
// it goes down when the test says so (Down closes every open connection and refuses new ones)
// and comes back with Up. It is how the target tests take a target down without stopping the
// server that other tests share.
type PostgresRelay struct {
	// Conn is the test server's connection through the relay.
	Conn  target.Connection
	ln    net.Listener
	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

// NewPostgresRelay starts a relay to the server of conn on a free loopback port; the test's
// cleanup stops it.
func NewPostgresRelay(t testing.TB, conn target.Connection) *PostgresRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("a TCP listener on %s", ln.Addr())
	}
	r := &PostgresRelay{Conn: conn, ln: ln, conns: map[net.Conn]struct{}{}}
	r.Conn.Host, r.Conn.Port = "127.0.0.1", int64(addr.Port)
	upstream := net.JoinHostPort(conn.Host, strconv.FormatInt(conn.Port, 10))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.relay(c, upstream)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		r.Down()
	})
	return r
}

// track adds c to the open connections, or closes it and says so when the relay is down.
func (r *PostgresRelay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		_ = c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *PostgresRelay) relay(c net.Conn, upstream string) {
	if !r.track(c) {
		return
	}
	u, err := net.Dial("tcp", upstream)
	if err != nil || !r.track(u) {
		_ = c.Close()
		if u != nil {
			_ = u.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(u, c)
	go pipe(c, u)
	<-done
	_, _ = c.Close(), u.Close()
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, u)
	r.mu.Unlock()
}

// Down cuts every open connection and refuses new ones until Up.
func (r *PostgresRelay) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = true
	for c := range r.conns {
		_ = c.Close()
	}
	clear(r.conns)
}

// Up lets connections through again.
func (r *PostgresRelay) Up() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = false
}
