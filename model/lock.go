package model

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"
)

// NamedLock is a MySQL named lock (GET_LOCK) of the current database, held on a connection
// of its own: at most one holder across every process on the database at a time. A holder
// that dies loses its connection, and MySQL frees the lock at once.
type NamedLock struct {
	db   *sql.DB
	name string
}

// NewNamedLock returns the lock called name within db's database (named locks are
// server-wide, so the database's name is part of the lock's).
func NewNamedLock(db *sql.DB, name string) *NamedLock {
	return &NamedLock{db: db, name: name}
}

// TryLock takes the lock if it is free and returns a function that releases it; ok is
// false, with no error, when another session holds it.
func (l *NamedLock) TryLock(ctx context.Context) (release func(), ok bool, err error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	// sha1 keeps the name within the 64 characters MySQL allows, whatever the database's.
	var got sql.NullInt64
	err = conn.QueryRowContext(ctx, "select get_lock(concat('jobs:', ?, ':', sha1(database())), 0)", l.name).Scan(&got)
	if err != nil || got.Int64 != 1 {
		conn.Close()
		return nil, false, err
	}
	return func() {
		// The release must reach MySQL even when ctx has ended; should it fail, closing the
		// connection frees the lock too.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, "select release_lock(concat('jobs:', ?, ':', sha1(database())))", l.name); err != nil {
			// A bad connection is closed, not returned to the pool still holding the lock.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, true, nil
}
