#!/usr/bin/env bash
# Keeps the include direction of the design true: common depends on
# nothing of ours; rules and routing on common; sinks on common, rules and
# routing; the replicator on common only; nothing includes worker/ or
# replicator/ from outside.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
check() { # folder, allowed folders (regex)
    local folder=$1 allowed=$2 f inc
    for f in $(git ls-files "$folder/*.c" "$folder/*.h"); do
        while read -r inc; do
            local top=${inc%%/*}
            if ! [[ $top =~ ^($allowed)$ ]]; then
                echo "check-deps: $f includes \"$inc\": $folder may use only $allowed" >&2
                status=1
            fi
        done < <(sed -n 's/^#include "\([a-z_]*\/[^"]*\)".*/\1/p' "$f")
    done
}
check common 'common'
check rules 'common|rules'
check routing 'common|routing'
check sinks 'common|rules|routing|sinks'
check replicator 'common|replicator'
check worker 'common|rules|routing|sinks|worker'
[ $status -eq 0 ] && echo "check-deps: ok"
exit $status
