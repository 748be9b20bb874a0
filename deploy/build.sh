#!/bin/sh
# Builds the jobs binary into $1 (default bin/jobs), from the repository root: static (no cgo,
# so it runs on any Linux, distroless or Alpine), reproducible (-trimpath, no VCS stamp: the
# same source gives the same bytes in any folder) and stripped. make build and deploy/Dockerfile
# both build with this script, so an image runs exactly the binary make build makes.
set -eu
cd "$(dirname "$0")/.."
CGO_ENABLED=0 exec go build -trimpath -buildvcs=false -ldflags='-s -w' -o "${1:-bin/jobs}" .
