// Package check tests what deploy/ ships against what the service accepts: the Kubernetes
// manifests (strictly decoded into the API types, then checked), the compose file (loaded by
// the compose-spec library), the Dockerfile (its build stage builds make build's binary) and
// deploy/services.sh (each branch, with its commands stubbed). It is a module of its own so
// that the service's module never depends on Kubernetes or compose libraries.
package check
