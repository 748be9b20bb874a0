// Package check tests what deploy/ ships: deploy/services.sh, each branch with its commands
// stubbed. It is a module of its own so that what these checks need never becomes a
// dependency of the service's module.
package check
