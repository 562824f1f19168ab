#!/usr/bin/env bash
# Checks the rules of the style guide that a compiler does not: banned
# calls, bare malloc/free outside common/alloc.c, // comments, and that
# every header compiles on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files '*.c' '*.h')
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol)\s*\('
if grep -nE "$banned" $files; then
    echo "lint: banned call (use snprintf, cdc_buf or cdc_parse_int)" >&2
    status=1
fi
if grep -nE '(^|[^_a-z])(malloc|calloc|realloc|free)\s*\(' $(grep -v '^common/alloc.c$' <<<"$files") |
    grep -vE 'cdc_(x?malloc|xcalloc|xrealloc|free)|_free\(|PQfreemem|/\*|^\s*\*'; then
    echo "lint: bare allocation outside common/alloc.c" >&2
    status=1
fi
if grep -nE '^\s*//|[;{}]\s*//' $files; then
    echo "lint: use /* */ comments" >&2
    status=1
fi
cflags="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. $(pkg-config --cflags libpq libmariadb libnats libcjson yaml-0.1 libpcre2-8 libcurl libmicrohttpd) -Wall -Wextra -Werror"
for h in $(git ls-files '*.h'); do
    if ! echo "#include \"$h\"" | gcc $cflags -x c -fsyntax-only - 2>/tmp/lint.$$; then
        echo "lint: $h does not compile on its own:" >&2
        cat /tmp/lint.$$ >&2
        status=1
    fi
done
rm -f /tmp/lint.$$
[ $status -eq 0 ] && echo "lint: ok"
exit $status
