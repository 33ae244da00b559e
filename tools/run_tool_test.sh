#!/usr/bin/env bash
# Runs a tool with the given arguments as a test: its exit status is the verdict, its output the log.
set -euo pipefail
exec "$@"
