#!/usr/bin/env bash
# lowthread's test command: ./test.sh [tox arguments]
#
#   ./test.sh                       the whole matrix (tox.ini's env_list)
#   ./test.sh -e lint               one env
#   ./test.sh -e py311 -- -k timeout    arguments after -- go to pytest
#
# It sets up what the matrix needs, then runs tox with the arguments given:
#   1. CPython 3.9-3.13: pyenv's newest patch release of each minor, for this
#      process only (PYENV_VERSION; nothing global changes); without pyenv,
#      python3.X on PATH.
#   2. Debian packages (PyPy, clang and its sanitizer runtimes, mingw-w64,
#      wine, valgrind, make, gcc): installed when missing, as root or through
#      a sudo that needs no password; otherwise it stops at once and prints the
#      one command that installs them.
#   3. tox, in a venv of its own under .tools/ (kept between runs).
# On a machine that has everything it installs nothing and tox starts within
# seconds.  Environment variables (what CI sets, .ci/run):
#   TOX_SKIP_MISSING_INTERPRETERS=false  a missing interpreter fails the run
#                                        (by default it is skipped with SKIP)
#   LOWTHREAD_TOX_TIMEOUT=SECONDS        stop a hung run after that long
#   LOWTHREAD_TOOLS=DIR                  where tox's venv lives (.tools/)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
START=$SECONDS
step() { printf '==> [%4ss] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf './test.sh: %s\n' "$*" >&2; exit 2; }

# ---- 1. interpreters ----------------------------------------------------------
# tox finds CPython 3.X as python3.X on PATH, PyPy as pypy3.  3.11 comes
# first in PYENV_VERSION so that python3 stays 3.11.
MINORS=(3.11 3.9 3.10 3.12 3.13)
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
export PYENV_ROOT
if [ -x "$PYENV_ROOT/bin/pyenv" ] || command -v pyenv >/dev/null; then
    export PATH="$PYENV_ROOT/shims:$PYENV_ROOT/bin:$PATH"
    sel=()
    for m in "${MINORS[@]}"; do
        v=$(pyenv versions --bare --skip-aliases 2>/dev/null \
            | grep -E "^${m//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
        [ -n "$v" ] && sel+=("$v")
    done
    if ((${#sel[@]})); then
        PYENV_VERSION=$(IFS=:; echo "${sel[*]}")
        export PYENV_VERSION
    fi
fi
# ---- 2. system packages -----------------------------------------------------
# pypy3*: the pypy3 env (Debian's PyPy 7.3, Python 3.9, cffi built in; the
# lib-testsuite holds its copy of CPython's tests); clang + its sanitizer
# runtimes: the c and lint envs; mingw-w64 + wine: the win env (wine gives
# /usr/bin/wine, which wine64 only recommends); valgrind: DRD in the c env.
APT_PKGS=(make gcc pypy3 pypy3-dev pypy3-venv pypy3-lib-testsuite
          clang libclang-rt-14-dev gcc-mingw-w64-x86-64 wine wine64 valgrind)
if command -v dpkg-query >/dev/null; then
    missing=()
    for p in "${APT_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
            || missing+=("$p")
    done
    # tox's own venv needs a Python with venv and ensurepip (Debian splits
    # them off its python3; pyenv's have them).  python3 is pyenv's 3.11 when
    # pyenv is there.
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    if ((${#missing[@]})); then
        if [ "$(id -u)" = 0 ]; then
            SUDO=()
        elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            SUDO=(sudo -n)
        else
            printf './test.sh: these Debian packages are missing: %s\n' "${missing[*]}" >&2
            printf 'Install them with:\n\n  sudo apt-get install -y --no-install-recommends %s\n\nthen run ./test.sh again.\n' \
                "${missing[*]}" >&2
            exit 2
        fi
        export DEBIAN_FRONTEND=noninteractive
        aptlog=$(mktemp)
        step "apt-get update"
        "${SUDO[@]}" apt-get update -qq >"$aptlog" 2>&1 \
            || { cat "$aptlog"; die "apt-get update failed"; }
        step "apt-get install ${missing[*]}"
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 \
            "${missing[@]}" >"$aptlog" 2>&1 \
            || { cat "$aptlog"; die "apt-get install failed"; }
        rm -f "$aptlog"
    fi
else
    echo "./test.sh: not a Debian system: install the equivalents of ${APT_PKGS[*]} yourself" >&2
fi

found=()
for m in "${MINORS[@]}"; do
    command -v "python$m" >/dev/null && "python$m" -c '' 2>/dev/null && found+=("$m")
done
command -v pypy3 >/dev/null && found+=(pypy3)
step "interpreters: ${found[*]:-none}${PYENV_VERSION:+ (PYENV_VERSION=$PYENV_VERSION)}"

# ---- 3. tox, in a venv of its own ---------------------------------------------
TOOLS=${LOWTHREAD_TOOLS:-$PWD/.tools}
TOX="$TOOLS/venv/bin/tox"
if ! "$TOX" --version >/dev/null 2>&1; then
    step "tox: installing it into $TOOLS/venv"
    rm -rf "$TOOLS/venv"
    mkdir -p "$TOOLS"
    python3 -m venv "$TOOLS/venv" || die "python3 -m venv failed"
    "$TOOLS/venv/bin/python" -m pip install -q --disable-pip-version-check 'tox>=4.11,<5' \
        || die "pip could not install tox"
fi
step "$("$TOX" --version | head -n 1)"

# ---- 4. the matrix ------------------------------------------------------------------
if [ -n "${LOWTHREAD_TOX_TIMEOUT:-}" ]; then
    rc=0
    timeout -k 60 "$LOWTHREAD_TOX_TIMEOUT" "$TOX" "$@" || rc=$?
    [ "$rc" = 124 ] && echo "./test.sh: tox ran out of its $LOWTHREAD_TOX_TIMEOUT s" >&2
    exit "$rc"
fi
exec "$TOX" "$@"
