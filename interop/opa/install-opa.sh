#!/usr/bin/env bash
# Build the pinned Open Policy Agent (OPA_VERSION in interop/versions.env) from the Go module proxy
# into .interop-cache/opa-$OPA_VERSION/opa. interop/setup.sh runs it; it can also run alone.
# Skipped when that binary exists (the versioned folder is the stamp). The build takes about
# 3 minutes on 2 cores (measured: 2 min 41 s and 2 min 59 s, module downloads included); its
# module and build caches (about 1 GB) are removed afterwards, only the 58 MB binary stays.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$root/.interop-cache"
# shellcheck source=../versions.env
. "$root/interop/versions.env"
home="$cache/opa-$OPA_VERSION"
if [ -x "$home/opa" ]; then
  printf '== interop setup: OPA %s cached\n' "$OPA_VERSION"; exit 0
fi
printf '== interop setup: OPA %s from the Go module proxy (go install, a few minutes)\n' "$OPA_VERSION"
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
# OPA v1.22.3 needs Go 1.26 or later. Without one here, take the Go toolchain itself from the Go
# module proxy (module golang.org/toolchain, the zip `go` downloads for GOTOOLCHAIN), pinned below.
GO_TOOLCHAIN=${GO_TOOLCHAIN:-go1.26.8}
go_ok() { [ -x "$1" ] && [[ $("$1" env GOVERSION 2>/dev/null) =~ ^go1\.(2[6-9]|[3-9][0-9]) ]]; }
if ! go_ok "$go"; then
  tc="$cache/$GO_TOOLCHAIN"
  if ! go_ok "$tc/bin/go"; then
    printf '== interop setup: no Go 1.26 here; %s from the Go module proxy\n' "$GO_TOOLCHAIN"
    proxy=${GOPROXY_URL:-https://proxy.golang.org}
    rm -rf "$tc.zip" "$tc.partial" && mkdir -p "$tc.partial"
    curl -fsSL --retry 3 -o "$tc.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-amd64.zip"
    unzip -q "$tc.zip" -d "$tc.partial"
    rm -rf "$tc" && mv "$tc.partial/golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64" "$tc"
    chmod +x "$tc/bin/"* "$tc/pkg/tool/"*/* 2>/dev/null || true
    rm -rf "$tc.zip" "$tc.partial"
  fi
  go="$tc/bin/go"
fi
go_ok "$go" || { echo "no usable Go 1.26 (tried $go): install Go 1.26+ or set GO=/path/to/go" >&2; exit 1; }
rm -rf "$home.partial" && mkdir -p "$home.partial"
# GOTOOLCHAIN=local: build with the installed Go, never download another toolchain.
# -modcacherw: the module cache can be deleted with rm -rf.
GOTOOLCHAIN=local GOFLAGS=-modcacherw GOBIN="$home.partial" GOPATH="$cache/go" GOCACHE="$cache/go-build" \
  "$go" install "github.com/open-policy-agent/opa@$OPA_VERSION"
# Not `| head -1`: under pipefail, head closing the pipe early can kill opa with SIGPIPE (exit 141),
# which failed a CI run after a good build.
opa_version=$("$home.partial/opa" version)
printf '%s\n' "${opa_version%%$'\n'*}"
mv "$home.partial" "$home"
rm -rf "$cache/go" "$cache/go-build"
