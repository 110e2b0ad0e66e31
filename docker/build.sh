#!/usr/bin/env bash
# Builds the production image with podman, the way its test does (`make image`; tests/e2e/
# test_image.py): usage `docker/build.sh [TAG]` (default alumail:latest), from anywhere, as root.
#  1. The base image debian:12-slim is made from Debian's own packages (debootstrap minbase,
#     cached as a tarball) when podman does not have it: no image registry is reached.
#  2. The wheels of alumail and its dependencies are built on the host with the venv's pip
#     (PIP=...), which is set up for the package index here; the build installs them with
#     --no-index, so no pip inside the build talks to an index and no CA is baked in.
#  3. podman builds docker/Dockerfile with runc and explicit limits (podman's defaults are
#     refused here); only apt-get inside it reaches the network.
set -euo pipefail

tag=${1:-alumail:latest}
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${ALUMAIL_IMAGE_CACHE:-/var/cache/alumail}
pip=${PIP:-$repo/.venv/bin/pip}
base=docker.io/library/debian:12-slim
podman=(podman --runtime runc)
# Explicit limits: podman's defaults (and an nproc as high as the host's) are refused here.
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)

say() { echo "alumail image: $*" >&2; }

# Slim the way Debian's own -slim images are: no documentation, manual pages or translations
# (now or from packages installed later), no downloaded packages or package lists kept.
slim() {
  local root=$1
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
  cat >"$root/etc/apt/apt.conf.d/slim" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::GzipIndexes "true";
CFG
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/* \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
}

if ! "${podman[@]}" image exists "$base"; then
  tarball=$cache/debian-12-slim.tar
  if [[ ! -s $tarball ]]; then
    say "making the Debian 12 base image with debootstrap (once; cached as $tarball)"
    mkdir -p "$cache"
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase bookworm "$rootfs" >"$cache/debootstrap.log" 2>&1 \
      || { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
    slim "$rootfs"
    tar -C "$rootfs" -c . >"$tarball.part"
    mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
  fi
  say "importing $tarball as $base"
  "${podman[@]}" import -q "$tarball" "$base" >/dev/null
fi

# The build context: the Dockerfile's inputs only (never the checkout's .venv or state).
context=$(mktemp -d "${TMPDIR:-/var/tmp}/alumail-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/docker" "$context/scripts" "$context/source"
cp "$repo"/docker/{Dockerfile,entrypoint.sh,healthcheck.sh,alumail.toml} "$context/docker/"
cp "$repo/scripts/install-system.sh" "$context/scripts/"
# The wheel is built from a clean copy of the sources: setuptools reuses a checkout's build/
# folder, which can carry files the project no longer ships.
tar -C "$repo" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./state \
  --exclude=./test-output --exclude='*.egg-info' --exclude=__pycache__ --exclude='.*_cache' \
  -c . | tar -C "$context/source" -x
say "building the wheelhouse"
"$pip" wheel -q --disable-pip-version-check -w "$context/wheels" "$context/source" \
  2> >(grep -v '^WARNING: Location' >&2)
rm -rf "$context/source"

say "building $tag"
"${podman[@]}" build -q --format docker --network=host "${limits[@]}" -f "$context/docker/Dockerfile" \
  -t "$tag" "$context" >/dev/null
say "built $tag ($("${podman[@]}" image inspect --format '{{.Size}}' "$tag") bytes)"
