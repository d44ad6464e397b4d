#!/usr/bin/env bash
# Build the krew archive of `kubectl perpdex` for this machine's platform and render hack/krew/perpdex.yaml for it.
#
#   hack/krew/build.sh OUT_DIR [VERSION] [BASE_URL]
#
# The archive holds a launcher (`kubectl-perpdex`), this project installed with its core dependencies only (no venue
# SDKs, no kopf) under lib/, and the LICENSE. The launcher runs lib/ with the python3 the archive was built for
# (pydantic-core is a compiled wheel: same CPython minor version; PERPDEX_PYTHON picks another interpreter).
# OUT_DIR receives kubectl-perpdex-<os>-<arch>.tar.gz and perpdex.yaml, the manifest with that archive's URI
# (BASE_URL/<archive>) and sha256, ready for `kubectl krew install --manifest=OUT_DIR/perpdex.yaml
# --archive=OUT_DIR/<archive>` or a krew index.
set -euo pipefail
out=$(realpath -m "${1:?usage: build.sh OUT_DIR [VERSION] [BASE_URL]}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
version=${2:-v$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -1)}
base_url=${3:-https://github.com/perp-dex-operator/perp-dex-operator/releases/download/$version}
python=${PYTHON:-python3.11}
os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/kubectl-perpdex"
mkdir -p "$stage/lib" "$out"
# the core dependencies at uv.lock's versions (no extras: no venue SDK, no kopf), then the project itself; uv (the
# Makefile's pinned one when UV is set) installs them from its cache like `make install`, pip otherwise
uv=${UV:-uv}
(cd "$repo" && "$uv" export --frozen --no-dev --no-hashes --no-emit-project --no-header -q) >"$work/requirements.txt"
if command -v "$uv" >/dev/null 2>&1; then
  "$uv" pip install --quiet --no-compile --target "$stage/lib" --python "$python" --no-deps -r "$work/requirements.txt"
  "$uv" pip install --quiet --no-compile --target "$stage/lib" --python "$python" --no-deps "$repo"
else
  for spec in "-r $work/requirements.txt" "$repo"; do
    # shellcheck disable=SC2086
    "$python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore \
      --no-compile --no-deps --target "$stage/lib" $spec
  done
fi
cat >"$stage/kubectl-perpdex" <<LAUNCHER
#!/bin/sh
# kubectl perpdex (krew archive, built for Python $pyver): runs the plugin from lib/ next to this file
here=\$(dirname "\$(readlink -f "\$0")")
python=\${PERPDEX_PYTHON:-python$pyver}
command -v "\$python" >/dev/null 2>&1 || { echo "kubectl perpdex needs \$python (set PERPDEX_PYTHON)" >&2; exit 1; }
# -I: no user site, no PYTHON* variables; lib/ goes first on sys.path so the archive's packages win
exec "\$python" -I -c 'import sys; sys.path.insert(0, sys.argv.pop(1)); from perpdex_operator.kubectl.cli import main; sys.argv[0] = "kubectl-perpdex"; sys.exit(main())' "\$here/lib" "\$@"
LAUNCHER
chmod +x "$stage/kubectl-perpdex"
printf 'MIT License: see https://opensource.org/license/mit (project license: MIT, pyproject.toml)\n' >"$stage/LICENSE"
archive="kubectl-perpdex-$os-$arch.tar.gz"
tar -C "$work" -czf "$out/$archive" kubectl-perpdex
sha=$(sha256sum "$out/$archive" | cut -d' ' -f1)
sed -e "s|{{VERSION}}|$version|g" -e "s|{{OS}}|$os|g" -e "s|{{ARCH}}|$arch|g" \
    -e "s|{{URI}}|$base_url/$archive|g" -e "s|{{SHA256}}|$sha|g" "$repo/hack/krew/perpdex.yaml" >"$out/perpdex.yaml"
echo "$out/$archive $sha"
