#!/usr/bin/env bash
# Render every Kustomize target (the base and each overlay) and validate every object
# against the Kubernetes and CRD (Strimzi, CloudNativePG, KEDA) schemas; then load
# docker-compose.yml as `docker compose config` would (compose-config/).
# No cluster, no Docker engine and no network beyond the package registries that
# fetch-tools.sh uses once (everything is cached under .local/deploy-tools).
#
# Writes the rendered manifests to $PUTRIGHT_RENDERED_DIR (default
# .local/deploy-tools/rendered): <target>.yaml per Kustomize target and
# docker-compose.json, for tests/deploy/test_manifests.py to inspect.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

tools="$(bash "$here/fetch-tools.sh")"
out="${PUTRIGHT_RENDERED_DIR:-$tools/rendered}"
rm -rf "$out"
mkdir -p "$out"

kustomize="$tools/bin/kustomize-$KUSTOMIZE_VERSION"
kubeconform="$tools/bin/kubeconform-$KUBECONFORM_VERSION"
compose_config="$tools/bin/compose-config"

targets=(base)
for overlay in "$repo"/deploy/kustomize/overlays/*/; do
    targets+=("overlays/$(basename "$overlay")")
done
for target in "${targets[@]}"; do
    echo "render: deploy/kustomize/$target"
    "$kustomize" build "$repo/deploy/kustomize/$target" >"$out/$(basename "$target").yaml"
done

echo "validate: Kubernetes $KUBERNETES_VERSION and CRD schemas"
# No -ignore-missing-schemas: an object whose schema is unknown fails.
"$kubeconform" -strict -summary -kubernetes-version "$KUBERNETES_VERSION" \
    -schema-location "$tools/schemas/kubernetes-v$KUBERNETES_VERSION/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$tools/schemas/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    "$out"/*.yaml

echo "validate: docker-compose.yml (Compose Specification, interpolated and consistent)"
# A clean environment and no .env, so the defaults in the file are what gets checked.
(cd "$repo" && env -i PATH="$PATH" HOME="${HOME:-/tmp}" COMPOSE_DISABLE_ENV_FILE=1 \
    "$compose_config" docker-compose.yml >"$out/docker-compose.json")

echo "validate-manifests: every target and docker-compose.yml are valid"
