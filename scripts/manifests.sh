#!/usr/bin/env bash
# deploy/manifests/berth.yaml: `helm template` of deploy/helm/berth (release `berth`, namespace
# `berth`), the image tagged TAG (default `make -s image-tag`: `<version>-<git sha of HEAD>`).
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-$(make -s image-tag)}
bin=$(scripts/kube.sh | tail -1)
out=deploy/manifests/berth.yaml
{
  echo '# Rendered by `helm template` from deploy/helm/berth; `make manifests` writes it again.'
  "$bin/helm" template berth deploy/helm/berth --namespace berth --set image.tag="$tag"
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "$(grep -c '^kind:' "$out") documents, image tag $tag, written to $out"
