package model_test

import (
	"context"
	"testing"
	"time"

	"jobs/internal/apperr"
	"jobs/model"
)

// InsertMany runs its INSERT past go-zero's sqlx; a MySQL it cannot reach must still answer
// as an outage (a 503 "mysql unavailable"), as every other statement does.
func TestInsertManyTypesAnOutage(t *testing.T) {
	t.Parallel()
	dsn, err := model.NormalizeDSN("root@tcp(127.0.0.1:1)/nowhere?timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	db, conn, err := model.Open(dsn, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	job := &model.Jobs{Id: "01a22982-edeb-7aa0-9dd0-b74c464eb93b", TenantId: "t", FunctionId: "echo",
		Status: string(model.StatusPending), Params: "{}", CreatedAt: time.Now().UTC()}
	_, err = model.NewJobsModel(conn).InsertMany(context.Background(), []*model.Jobs{job})
	if kind := apperr.KindOf(err); kind != apperr.Unavailable {
		t.Fatalf("InsertMany with MySQL unreachable: kind %v, error %v; want Unavailable", kind, err)
	}
}
