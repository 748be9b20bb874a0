package model

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

//go:embed migrations/*.sql
var migrations embed.FS

// NormalizeDSN returns dsn with the settings the models rely on: times parsed as UTC,
// a UTC session (now(3) is UTC), client-side parameter interpolation, which saves the
// prepare/close round trips of every statement, and the server's max_allowed_packet (read
// at connect), so that the driver refuses a statement over it: sent whole, MariaDB dropped
// the connection, which reads as an outage (IsUnavailable).
func NormalizeDSN(dsn string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("MySQL.DataSource: %w", err)
	}
	if cfg.DBName == "" {
		return "", fmt.Errorf("MySQL.DataSource: no database name in %q", dsn)
	}
	cfg.ParseTime = true
	cfg.Loc = nil
	cfg.InterpolateParams = true
	cfg.MaxAllowedPacket = 0
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg.FormatDSN(), nil
}

// Migrate creates the database named in dsn if it is missing and applies every embedded
// migration not yet recorded in schema_migrations. Re-running it is a no-op; concurrent
// starters serialize on a named lock.
func Migrate(ctx context.Context, dsn string) error {
	return migrate(ctx, dsn, math.MaxInt)
}

// migrate applies the embedded migrations up to version upTo (tests of a migration stop
// before it to write the data it must move).
func migrate(ctx context.Context, dsn string, upTo int) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	dbName := cfg.DBName
	cfg.DBName = ""
	server, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer server.Close()
	if _, err := server.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(dbName)+
		" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return fmt.Errorf("create database %s: %w", dbName, err)
	}

	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var locked sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(CONCAT(DATABASE(), '.migrate'), 60)").Scan(&locked); err != nil {
		return err
	}
	if locked.Int64 != 1 {
		return fmt.Errorf("migrate %s: timed out waiting for another migration", dbName)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.migrate'))")

	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS `schema_migrations` ("+
		"`version` int NOT NULL PRIMARY KEY, `name` varchar(255) NOT NULL, "+
		"`applied_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE = InnoDB"); err != nil {
		return err
	}
	list, err := embeddedMigrations()
	if err != nil {
		return err
	}
	for _, m := range list {
		var applied int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM `schema_migrations` WHERE `version` = ?", m.version).Scan(&applied); err != nil {
			return err
		}
		if applied > 0 || m.version > upTo {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + m.name)
		if err != nil {
			return err
		}
		// MySQL commits DDL implicitly and finishes an ALTER whose client died, so a process
		// stopped here can leave a migration applied but not recorded (the version is
		// recorded last). Each statement is written to be re-runnable: IF [NOT] EXISTS on
		// every clause, except the ADD of an index the same ALTER drops (MariaDB checks IF
		// NOT EXISTS against the table before the drop, and would skip it).
		for _, stmt := range splitStatements(string(body)) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO `schema_migrations` (`version`, `name`) VALUES (?, ?)", m.version, m.name); err != nil {
			return err
		}
	}
	return nil
}

// CheckMigrated returns nil if db answers and has every embedded migration applied, else an
// error naming the first migration missing (or the reason MySQL did not answer). One small
// query: cheap enough for a readiness probe.
func CheckMigrated(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT `version` FROM `schema_migrations`")
	var mysqlErr *mysql.MySQLError
	if errors.As(err, &mysqlErr) && mysqlErr.Number == 1146 { // no such table
		return errors.New("schema not migrated (no schema_migrations table)")
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var version int
		if err := rows.Scan(&version); err != nil {
			return err
		}
		applied[version] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	list, err := embeddedMigrations()
	if err != nil {
		return err
	}
	for _, m := range list {
		if !applied[m.version] {
			return fmt.Errorf("migration %s not applied", m.name)
		}
	}
	return nil
}

type migration struct {
	version int
	name    string // file name in migrations/
}

// embeddedMigrations lists the embedded migrations in the order they apply.
func embeddedMigrations() ([]migration, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	list := make([]migration, 0, len(files))
	for _, file := range files {
		name := strings.TrimPrefix(file, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", name)
		}
		list = append(list, migration{version: version, name: name})
	}
	return list, nil
}

// splitStatements splits a migration file on semicolons that end a line.
func splitStatements(body string) []string {
	var stmts []string
	for _, part := range strings.Split(body, ";\n") {
		var lines []string
		for _, line := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, line)
			}
		}
		if stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";"); stmt != "" {
			stmts = append(stmts, stmt)
		}
	}
	return stmts
}

func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// MigrationsDigest identifies the embedded migrations by their names and contents: two
// databases migrated by binaries of the same digest have the same schema.
func MigrationsDigest() (string, error) {
	list, err := embeddedMigrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range list {
		body, err := migrations.ReadFile("migrations/" + m.name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", m.name, len(body))
		h.Write(body)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
