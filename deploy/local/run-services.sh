#!/usr/bin/env bash
# Run the four services against the local Kafka and PostgreSQL, with a local SMTP
# sink that prints every email it receives. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export PUTRIGHT_SMTP_HOST=127.0.0.1 PUTRIGHT_SMTP_PORT="${PUTRIGHT_SMTP_PORT:-1025}"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT

uv run python -m aiosmtpd -n -l "127.0.0.1:$PUTRIGHT_SMTP_PORT" -c aiosmtpd.handlers.Debugging & pids+=($!)
for service in intake deadlines letters reporting; do
    uv run python -m "putright.$service" migrate
done
port=8001
for service in intake deadlines letters reporting; do
    uv run python -m "putright.$service" serve --port "$port" & pids+=($!)
    echo "putright-$service: http://127.0.0.1:$port/docs"
    port=$((port + 1))
done
wait
