#!/bin/sh
# Install, with one `apt-get update`, the Debian packages whose command is missing (as root; Debian or Ubuntu).
# Arguments: command:package pairs; a package ending in '+' is installed with its recommended packages
# (Chromium's fonts), the others without. Where nothing can be installed, say which tests will be skipped.
lean="" full=""
for pair in "$@"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 && continue
  case $pkg in *+) full="$full ${pkg%+}" ;; *) lean="$lean $pkg" ;; esac
done
[ -z "$lean$full" ] && exit 0
echo "make: installing$lean$full (Debian packages, once)" >&2
{ apt-get update -qq \
  && { [ -z "$lean" ] || apt-get install -y -qq --no-install-recommends $lean >/dev/null; } \
  && { [ -z "$full" ] || apt-get install -y -qq $full >/dev/null; }; } \
  || echo "make: could not install$lean$full; the tests that need them are skipped (apt-get install$lean$full)" >&2
exit 0
