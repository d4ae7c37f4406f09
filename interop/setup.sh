#!/usr/bin/env bash
# Install the interop peers into .interop-cache/ (git-ignored; later runs reuse it):
#   - Keycloak (org.keycloak:keycloak-quarkus-dist, a zip from Maven Central, fetched with Maven);
#   - one Python venv per peer folder, from its pinned interop/<folder>/requirements.txt (PyPI).
# Idempotent: each step is skipped when its stamp matches the pinned inputs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.interop-cache"
mkdir -p "$cache"
# One setup at a time (parallel runs would build the same venv twice).
exec 9>"$cache/.setup.lock"
flock 9
# shellcheck source=versions.env
. "$root/interop/versions.env"

step() { printf '== interop setup: %s\n' "$*"; }

# --- Keycloak ------------------------------------------------------------------------------
kc_home="$cache/keycloak-$KEYCLOAK_VERSION"
if [ ! -x "$kc_home/bin/kc.sh" ]; then
  step "Keycloak $KEYCLOAK_VERSION from Maven Central"
  command -v mvn >/dev/null || { echo "mvn not found: install Maven (apt-get install maven)" >&2; exit 1; }
  mvn -q -B dependency:copy \
    "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
    "-DoutputDirectory=$cache/download"
  rm -rf "$kc_home.partial" && mkdir -p "$kc_home.partial"
  (cd "$kc_home.partial" && unzip -q "$cache/download/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip")
  mv "$kc_home.partial/keycloak-$KEYCLOAK_VERSION" "$kc_home" && rm -rf "$kc_home.partial"
else
  step "Keycloak $KEYCLOAK_VERSION cached"
fi

# --- Python venvs --------------------------------------------------------------------------
python=${PYTHON:-python3}
for req in "$root"/interop/*/requirements.txt; do
  name=$(basename "$(dirname "$req")")
  venv="$cache/venv-$name"
  want=$(sha256sum "$req" | cut -c1-16)
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$want" ]; then
    step "venv $name cached"; continue
  fi
  step "venv $name from $(basename "$req")"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$venv/.stamp"
done

# --- Open Policy Agent (Go module proxy) ----------------------------------------------------
bash "$root/interop/opa/install-opa.sh"
