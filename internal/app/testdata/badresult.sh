#!/usr/bin/env bash
# Exits 0 but its result line is not JSON.
echo "::result {not json"
