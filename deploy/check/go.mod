module jobs/deploy/check

go 1.26.0
