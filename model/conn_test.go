package model_test

import (
	"strings"
	"testing"

	"jobs/internal/apperr"
	"jobs/internal/testutil"
	"jobs/model"
)

// A statement over the server's max_allowed_packet is refused as an error of the statement,
// not typed as a MySQL outage: sent whole, it made MariaDB drop the connection, a 503 "mysql
// unavailable" with Retry-After to a client that would retry the same request forever, and
// a write the worker retried until it gave up.
func TestAStatementOverMaxAllowedPacketIsNoOutage(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	_, conn, err := model.Open(store.DSN, 1)
	if err != nil {
		t.Fatal(err)
	}
	var limit int
	if err := conn.QueryRowCtx(ctx, &limit, "select @@max_allowed_packet"); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{limit + 1, 2 * limit} {
		_, err := conn.ExecCtx(ctx, "update `jobs` set `message` = ? where `id` = ''", strings.Repeat("x", size))
		if err == nil || apperr.KindOf(err) == apperr.Unavailable || model.IsUnavailable(err) {
			t.Errorf("a statement of %d bytes (max_allowed_packet %d): %v, want an error that is no outage", size, limit, err)
		}
		var one int
		if err := conn.QueryRowCtx(ctx, &one, "select 1"); err != nil {
			t.Errorf("after a statement of %d bytes: %v", size, err)
		}
	}
}
