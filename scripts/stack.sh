#!/usr/bin/env bash
# The test suite on another Debian release in a chroot next to the Debian 12 host:
#   trixie  Debian 13 (DOLFINx 0.9, numpy 2, Python 3.13, OpenMPI 5)
#   sid     Debian unstable (DOLFINx 0.11, the release conda-forge ships)
#
#   scripts/stack.sh SUITE              build the root file system once, copy the working tree
#                                       in, run the leg's tests there (SPINDIFF_STACK_TESTS)
#   scripts/stack.sh SUITE build        only build (or check) the root file system
#   scripts/stack.sh SUITE rebuild      delete the root file system and build it again (sid
#                                       moves: this installs today's packages)
#   scripts/stack.sh SUITE cases DIR    run the comparison cases (SPINDIFF_COMPARE_CASES) inside,
#                                       serially; their results folders go to DIR/SUITE/NAME
#                                       (SUITE "host": on the host; scripts/compare_stacks.py DIR
#                                       compares them)
#   scripts/stack.sh SUITE exec CMD     run the bash command line CMD in the copied tree inside
#
# SPINDIFF_STACK_TESTS: "full" (`make -k test`, as on the host) or "quick" (`make -k test-quick
# test-mpi`: lint, every test not marked slow, and the collective tests under mpirun -n 2).
# The root file system lives outside the clone (SPINDIFF_STACK_ROOT, default
# /var/cache/spindiff-SUITE) and is reused while its stamp matches the suite and the apt
# package list. The Debian archive address is read from the host's own apt sources at run time.
# Where the machine cannot host the chroot (no root, too little disk, no debootstrap, no Debian
# archive) or the suite's packages cannot be installed today (an unstable suite moves), one
# line says so (naming the package) and the script exits 0: the host's own test run decides.
set -euo pipefail

SUITE="${1:?usage: scripts/stack.sh SUITE [build|rebuild|test|cases DIR|exec CMD]}"
shift
case $SUITE in
    trixie) NAME="Debian 13" ;;
    sid|unstable) SUITE=sid; NAME="Debian unstable" ;;
    host) NAME="the host" ;;
    *) NAME="Debian $SUITE" ;;
esac
ROOT_DIR="${SPINDIFF_STACK_ROOT:-/var/cache/spindiff-$SUITE}"
MIN_FREE_GB="${SPINDIFF_STACK_MIN_FREE_GB:-5}"
TESTS="${SPINDIFF_STACK_TESTS:-full}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TREE=/srv/spindiff                     # the copy of the working tree inside the chroot
# The cases compared between stacks, separated by ";"; CASE:KEY=VALUE,... runs it with --set
# overrides (the periodic box with six centres shortened to 10 s of its buildup).
COMPARE_CASES="${SPINDIFF_COMPARE_CASES:-cases/default.toml; cases/takeda_cube.toml;
    cases/many_centres_box.toml:protocol.stages.0.duration=10 s,protocol.stages.0.outputs=20}"
EXTRA_PACKAGES="${SPINDIFF_STACK_EXTRA_PACKAGES:-make ca-certificates}"
MOUNTED=()

log() { echo "[$SUITE] $*"; }

skip() {
    echo "[$SUITE] $NAME leg NOT RUN: $*"
    exit 0
}

apt_packages() {
    # The apt package list is the Makefile's, so every stack installs the same packages.
    make -s --no-print-directory -C "$REPO" print-apt-packages
}

stamp_content() {
    echo "suite=$SUITE"
    echo "packages=$(apt_packages) $EXTRA_PACKAGES"
}

is_complete() {
    [ -f "$ROOT_DIR/.complete" ] && [ "$(head -n 2 "$ROOT_DIR/.complete")" = "$(stamp_content)" ]
}

host_mirror() {
    # The first Debian archive URI of the host's apt sources (deb822 or one-line format).
    local uri=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /debian/ && $i !~ /security/) {print $i; exit}}' \
            /etc/apt/sources.list.d/*.sources | head -n1)
    fi
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /:\/\// && $i !~ /security/) {print $i; exit}}' \
            | grep -i debian | head -n1 || true)
    fi
    [ -n "$uri" ] || return 1
    echo "${uri%/}"
}

check_host() {
    # Skip (exit 0 with one line) when this machine cannot host the chroot.
    [ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mounts)"
    is_complete && return 0
    local parent free_kb
    parent=$(dirname "$ROOT_DIR")
    mkdir -p "$parent" 2>/dev/null || skip "cannot create $parent"
    free_kb=$(df -Pk "$parent" | awk 'NR == 2 {print $4}')
    [ "$free_kb" -ge $((MIN_FREE_GB * 1024 * 1024)) ] \
        || skip "less than ${MIN_FREE_GB} GB free under $parent"
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } 2>&1 | tail -n 3 || true
        command -v debootstrap >/dev/null || skip "debootstrap is not available and could not be installed"
    fi
    host_mirror >/dev/null || skip "no Debian archive found in the host's apt sources"
}

is_mounted() { findmnt -rn --mountpoint "$1" >/dev/null 2>&1; }

mount_all() {
    # /proc, /sys, /dev, /dev/pts, /dev/shm of the host inside the chroot; undone by umount_all.
    local target
    for target in proc sys dev dev/pts dev/shm; do
        mkdir -p "$ROOT_DIR/$target"
        is_mounted "$ROOT_DIR/$target" && continue
        case $target in
            proc) mount -t proc proc "$ROOT_DIR/proc" ;;
            sys) mount -t sysfs sysfs "$ROOT_DIR/sys" ;;
            *) mount --bind "/$target" "$ROOT_DIR/$target" ;;
        esac
        MOUNTED+=("$ROOT_DIR/$target")
    done
}

umount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" 2>/dev/null || true
    done
    MOUNTED=()
}

ensure_unmounted() {
    # Before deleting a root: nothing of the host may still be mounted in it.
    local target
    for target in dev/shm dev/pts dev sys proc; do
        if is_mounted "$ROOT_DIR/$target"; then
            umount "$ROOT_DIR/$target" 2>/dev/null || umount -l "$ROOT_DIR/$target"
        fi
    done
    if findmnt -rn -o TARGET | grep -q "^$ROOT_DIR/"; then
        echo "[$SUITE] something is still mounted under $ROOT_DIR; not deleting it" >&2
        exit 1
    fi
}

delete_root() {
    ensure_unmounted
    rm -rf --one-file-system "$ROOT_DIR"
}

copy_host_network_config() {
    # DNS, CA certificates and pip configuration of the host (its index, certificates and
    # constraints), so apt and pip inside reach the same archive and package index the host does.
    cp -L /etc/resolv.conf "$ROOT_DIR/etc/resolv.conf" 2>/dev/null || true
    if [ -d /usr/local/share/ca-certificates ]; then
        mkdir -p "$ROOT_DIR/usr/local/share/ca-certificates"
        cp -rL /usr/local/share/ca-certificates/. "$ROOT_DIR/usr/local/share/ca-certificates/"
    fi
    if [ -x "$ROOT_DIR/usr/sbin/update-ca-certificates" ]; then
        chroot "$ROOT_DIR" update-ca-certificates >/dev/null 2>&1 || true
    fi
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        # The host's bundle wins: it is the one its own pip and apt trust.
        mkdir -p "$ROOT_DIR/etc/ssl/certs"
        cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT_DIR/etc/ssl/certs/ca-certificates.crt"
    fi
    [ -f /etc/pip.conf ] && cp -L /etc/pip.conf "$ROOT_DIR/etc/pip.conf"
    if [ -d /etc/xdg/pip ]; then
        mkdir -p "$ROOT_DIR/etc/xdg/pip"
        cp -rL /etc/xdg/pip/. "$ROOT_DIR/etc/xdg/pip/"
    fi
    return 0
}

chroot_env() {
    # The environment handed to commands in the chroot: a clean one plus the host's pip/proxy
    # settings and OpenMPI's yield-when-idle (no busy-waiting ranks when oversubscribed).
    local var
    echo "HOME=/root"
    echo "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    echo "LANG=C.UTF-8"
    echo "DEBIAN_FRONTEND=noninteractive"
    echo "OMPI_MCA_mpi_yield_when_idle=1"
    for var in $(compgen -e); do
        case $var in
            PIP_*|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY)
                # a local path of the host (a wheel folder, say) does not exist inside
                case ${!var} in
                    /*|file:*) [ -e "$ROOT_DIR/${!var#file://}" ] || continue ;;
                esac
                echo "$var=${!var}" ;;
        esac
    done
}

in_chroot() {
    # Run a bash command line inside the chroot with chroot_env.
    local -a envs
    mapfile -t envs < <(chroot_env)
    chroot "$ROOT_DIR" /usr/bin/env -i "${envs[@]}" /bin/bash -c "$1"
}

apt_update() {
    # apt-get update inside; an unstable suite's Release file is valid for a week only, so a
    # mirror that serves a frozen copy of the archive (older than that) is accepted with
    # Check-Valid-Until off, said in one line (the signatures are still checked).
    local out
    if out=$(in_chroot "apt-get update -qq" 2>&1) && ! grep -q "is expired" <<< "$out"; then
        return 0
    fi
    if grep -q "is expired" <<< "$out"; then
        log "the archive's $SUITE Release file has expired ($(grep -o 'invalid since [^)]*' <<< "$out" | head -n1)): apt checks its signature but not its date"
        echo 'Acquire::Check-Valid-Until "false";' > "$ROOT_DIR/etc/apt/apt.conf.d/99spindiff-valid-until"
        in_chroot "apt-get update -qq" && return 0
    fi
    echo "$out" | tail -n 3 >&2
    return 1
}

uninstallable_package() {
    # The first package of the list apt cannot install in the chroot today, with apt's reason.
    local pkg why
    for pkg in $(apt_packages) $EXTRA_PACKAGES; do
        if ! why=$(in_chroot "apt-get install -s -qq --no-install-recommends $pkg" 2>&1 >/dev/null); then
            why=$(echo "$why" | grep -v '^$' | grep -E ':|Unable|unmet|Depends' | head -n 3 | tr '\n' ' ')
            echo "$pkg (${why% })"
            return 0
        fi
    done
    return 1
}

debootstrap_failure() {
    # The package debootstrap names in its log where it failed, else its last error line.
    local logfile=$1 line
    line=$(grep -E "^(E|W): " "$logfile" | grep -iE "package|download|retriev|depend|release" | tail -n 1 || true)
    [ -n "$line" ] || line=$(grep -E "^E: " "$logfile" | tail -n 1 || true)
    [ -n "$line" ] || line=$(tail -n 1 "$logfile")
    echo "$line"
}

build_rootfs() {
    # debootstrap + the Makefile's apt packages, once; a stamp marks a complete root.
    if is_complete; then
        log "reusing the root file system in $ROOT_DIR ($(sed -n 3p "$ROOT_DIR/.complete"))"
        return 0
    fi
    local mirror start logfile failed out
    mirror=$(host_mirror)
    start=$(date +%s)
    logfile="$(dirname "$ROOT_DIR")/spindiff-$SUITE-debootstrap.log"
    if [ ! -x "$ROOT_DIR/usr/bin/apt-get" ] || [ ! -f "$ROOT_DIR/.debootstrapped" ]; then
        delete_root
        log "debootstrap $SUITE from $mirror into $ROOT_DIR"
        if ! debootstrap --variant=minbase --include="${EXTRA_PACKAGES// /,}" \
                "$SUITE" "$ROOT_DIR" "$mirror" > "$logfile" 2>&1; then
            tail -n 5 "$logfile" | sed "s/^/[$SUITE] debootstrap: /"
            # a suite whose base system cannot be installed today is a skip, not a failure
            skip "debootstrap of $SUITE failed: $(debootstrap_failure "$logfile") (log: $logfile)"
        fi
        touch "$ROOT_DIR/.debootstrapped"
    fi
    printf 'deb %s %s main\n' "$mirror" "$SUITE" > "$ROOT_DIR/etc/apt/sources.list"
    copy_host_network_config
    mount_all
    log "apt-get install $(apt_packages)"
    if ! apt_update; then
        umount_all
        skip "apt-get update failed for $SUITE from $mirror"
    fi
    if ! out=$(in_chroot "apt-get install -y -qq --no-install-recommends $(apt_packages) $EXTRA_PACKAGES" 2>&1); then
        if ! failed=$(uninstallable_package); then
            echo "$out" | tail -n 5 >&2    # no single package to blame: apt's own last lines
            failed="the package list: $(echo "$out" | grep -E '^E: ' | tail -n 1)"
        fi
        umount_all
        skip "apt cannot install $failed"
    fi
    in_chroot "apt-get clean"
    umount_all
    copy_host_network_config
    { stamp_content; echo "built $(date -u +%Y-%m-%d)"; } > "$ROOT_DIR/.complete"
    log "root file system ready in $(( $(date +%s) - start )) s ($(du -sh --one-file-system "$ROOT_DIR" | cut -f1))"
    log "versions: $(in_chroot "dpkg-query -W -f '\${Package} \${Version}, ' python3 python3-dolfinx-real \
        python3-dolfinx-mpc python3-gmsh python3-numpy python3-petsc4py libopenmpi-dev 2>/dev/null" | sed 's/, $//')"
}

sync_tree() {
    # The working tree's tracked and untracked-but-not-ignored files, into $TREE
    # (its .venv and .setup stay, so set-up inside is reused between runs).
    local dest="$ROOT_DIR$TREE"
    mkdir -p "$dest"
    find "$dest" -mindepth 1 -maxdepth 1 ! -name .venv ! -name .setup -exec rm -rf {} +
    (cd "$REPO" && git ls-files -z -c -o --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$dest"
}

run_tests() {
    # `make -k`: the MPI part runs even when a serial test failed.
    local start rc=0 targets
    case $TESTS in
        full) targets="test" ;;
        quick) targets="test-quick test-mpi" ;;
        *) echo "SPINDIFF_STACK_TESTS must be full or quick, not '$TESTS'" >&2; return 2 ;;
    esac
    start=$(date +%s)
    log "make -k $targets inside $NAME"
    in_chroot "cd $TREE && python3 -c 'import sys; print(\"Python\", sys.version.split()[0])' \
        && make -k $targets" || rc=$?
    if [ "$rc" = 0 ]; then
        log "$NAME make $targets passed in $(( $(date +%s) - start )) s"
    else
        log "$NAME make $targets FAILED (exit $rc) after $(( $(date +%s) - start )) s"
    fi
    return "$rc"
}

run_cases() {
    # Each comparison case once (serial) on this stack; its results folder goes to $1/$SUITE/.
    # SUITE "host": on the host itself, in the working tree's .venv.
    local dest="$1/$SUITE" spec file name item scratch=/tmp/spindiff-stacks failed=0
    local -a cases args sets
    mkdir -p "$dest"
    if [ "$SUITE" = host ]; then
        scratch=$(mktemp -d /tmp/spindiff-stacks.XXXXXX)
    else
        in_chroot "cd $TREE && make -s setup >/dev/null && rm -rf $scratch && mkdir -p $scratch"
    fi
    IFS=';' read -d '' -ra cases <<< "$COMPARE_CASES" || true
    for spec in "${cases[@]}"; do
        spec="${spec#"${spec%%[![:space:]]*}"}"     # trim
        spec="${spec%"${spec##*[![:space:]]}"}"
        [ -n "$spec" ] || continue
        file=${spec%%:*}
        name=$(basename "$file" .toml)
        args=(run "$file" --out "$scratch/$name" --quiet --overwrite)
        if [ "$file" != "$spec" ]; then     # CASE:KEY=VALUE,KEY=VALUE: --set overrides
            IFS=, read -ra sets <<< "${spec#*:}"
            for item in "${sets[@]}"; do args+=(--set "$item"); done
        fi
        log "case $spec on $NAME"
        rm -rf "${dest:?}/$name"
        if [ "$SUITE" = host ]; then
            (cd "$REPO" && .venv/bin/spindiff "${args[@]}") && mv "$scratch/$name" "$dest/$name" \
                || { log "case $name FAILED on $NAME"; failed=1; }
        else
            in_chroot "cd $TREE && .venv/bin/spindiff $(printf '%q ' "${args[@]}")" \
                && mv "$ROOT_DIR$scratch/$name" "$dest/$name" \
                || { log "case $name FAILED on $NAME"; failed=1; }
        fi
    done
    [ "$SUITE" = host ] && rm -rf "$scratch"
    return "$failed"
}

main() {
    local what="${1:-test}"
    if [ "$SUITE" = host ]; then
        [ "$what" = cases ] || { echo "host: only 'cases DIR'" >&2; return 2; }
        run_cases "$(realpath -m "$2")"
        return
    fi
    [ "$what" = rebuild ] && { [ "$(id -u)" = 0 ] || skip "needs root"; }
    check_host
    # one run at a time per root file system (a CI run and a manual one may overlap)
    exec 9>"$ROOT_DIR.lock"
    flock 9
    trap umount_all EXIT
    trap 'exit 130' INT TERM
    if [ "$what" = rebuild ]; then
        log "deleting $ROOT_DIR"
        delete_root
        check_host
    fi
    build_rootfs
    case $what in build|rebuild) return 0 ;; esac
    sync_tree
    mount_all
    local rc=0
    case $what in
        exec) in_chroot "cd $TREE && ${2:?exec needs a command line}" || rc=$? ;;
        cases) run_cases "$(realpath -m "$2")" || rc=$? ;;
        test) run_tests || rc=$? ;;
        *) echo "unknown command '$what'" >&2; rc=2 ;;
    esac
    umount_all
    return "$rc"
}

main "$@"; exit $?
