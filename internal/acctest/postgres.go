package acctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"testing"

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
