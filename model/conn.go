package model

import (
	"database/sql"
	"errors"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/zeromicro/go-zero/core/stores/sqlx"
)

// Open returns a pool of at most maxOpen connections to dsn (normalized, see NormalizeDSN)
// and go-zero's SqlConn over it. Unlike sqlx.NewMysql, whose pools live as long as the
// process, the caller owns the pool and closes it on shutdown.
func Open(dsn string, maxOpen int) (*sql.DB, sqlx.SqlConn, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.SetConnMaxIdleTime(time.Minute)
	return db, sqlx.NewSqlConnFromDB(db, sqlx.WithAcceptable(isDuplicate)), nil
}

// isDuplicate keeps duplicate-key errors (an idempotency key used twice) from counting
// against go-zero's circuit breaker, as sqlx.NewMysql does.
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}
