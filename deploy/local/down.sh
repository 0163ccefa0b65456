#!/usr/bin/env bash
# Stop the native local services started by up.sh. Data dirs (and the env
# file) are kept, so the next up.sh resumes with the same topics, committed
# offsets and database. Idempotent: stopping what is not running is fine.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    # Kafka first: consumers stop receiving work before the database they
    # write to goes away.
    "$PUTRIGHT_DEPLOY_DIR/kafka.sh" stop
    "$PUTRIGHT_DEPLOY_DIR/postgres.sh" stop
}

main "$@"
