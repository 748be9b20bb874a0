package model

// MigrateUpTo applies the migrations up to a version, for tests of the one after it.
var MigrateUpTo = migrate
