package model

import (
	"database/sql"
	"time"

	"github.com/zeromicro/go-zero/core/stores/sqlx"
)

// Open returns a pool of at most maxOpen connections to dsn (normalized, see NormalizeDSN)
// and go-zero's SqlConn over it. Unlike sqlx.NewMysql, whose pools live as long as the
// process, the caller owns the pool and closes it on shutdown. Duplicate keys (an
// idempotency key used twice) are expected outcomes, not failures for the circuit breaker.
func Open(dsn string, maxOpen int) (*sql.DB, sqlx.SqlConn, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.SetConnMaxIdleTime(time.Minute)
	return db, sqlx.NewSqlConnFromDB(db, sqlx.WithAcceptable(IsDuplicate)), nil
}
