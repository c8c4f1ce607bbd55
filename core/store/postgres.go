package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// maxPostgresConns bounds the PostgreSQL connection pool. The host's
// writers take turns (the write lock) and its reads are short: a few
// connections are plenty, and each costs the server a process.
const maxPostgresConns = 8

// postgresConnectTimeout bounds each new connection to the server, unless
// the URL's connect_timeout says otherwise.
const postgresConnectTimeout = 10 * time.Second

// postgresOpenTimeout bounds connecting and migrating at Open, so that an
// unreachable server is an error rather than a host that never comes up.
const postgresOpenTimeout = time.Minute

// OpenPostgres opens the PostgreSQL database that url names
// (postgres://user:password@host:port/database?sslmode=…, anything pgx
// accepts; connect_timeout defaults to 10 seconds) and brings its schema
// up to date. The database must exist and the user must be allowed to
// create tables and a collation in it (its owner is). The server must be
// built with ICU (Debian's and most others are): names are compared
// case-insensitively through an ICU collation. Errors never carry the
// password.
func OpenPostgres(url string, opts Options) (*Store, error) {
	params := opts.Argon2.withDefaults()
	if err := params.validate(); err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message shows the URL with its password redacted.
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		// Without one, a connection to a server that is gone waits for
		// TCP to give up (minutes): a login would hang that long.
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	where := describePostgres(cfg.Config)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxPostgresConns)
	db.SetMaxIdleConns(maxPostgresConns)
	w := &conn{db: db, d: postgresDialect, writer: true}
	r := &conn{db: db, d: postgresDialect}

	ctx, cancel := context.WithTimeout(context.Background(), postgresOpenTimeout)
	defer cancel()
	err = db.PingContext(ctx)
	var s *Store
	if err == nil {
		s, err = newStore(ctx, w, r, where, params)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open postgres %s: %w", where, err)
	}
	return s, nil
}

// describePostgres names a PostgreSQL database for messages: "database D
// on HOST:PORT as USER", or on the socket directory. It is built from the
// parsed config, so it can never contain the password.
func describePostgres(c pgconn.Config) string {
	host := c.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
	}
	return fmt.Sprintf("database %s on %s as %s", c.Database, host, c.User)
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation
// of a UNIQUE constraint (a name's), as SQLITE_CONSTRAINT_UNIQUE is: not of
// a primary key, which is no name being taken.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && !strings.HasSuffix(pe.ConstraintName, "_pkey")
}
