#!/usr/bin/env bash
# The test suite on a second software stack: Debian 13 (trixie: DOLFINx 0.9, numpy 2,
# Python 3.13, OpenMPI 5) in a chroot next to the Debian 12 host.
#
#   scripts/debian13.sh            build the root file system once, copy the working tree in,
#                                  run `make -k test` there, then run the default case and a
#                                  periodic cube on both stacks and print their largest difference
#   scripts/debian13.sh build      only build (or check) the root file system
#   scripts/debian13.sh compare    only the case comparison between the two stacks
#   scripts/debian13.sh exec CMD   run the bash command line CMD in the copied tree inside
#
# The root file system lives outside the clone (SPINDIFF_DEBIAN13_ROOT, default
# /var/cache/spindiff-debian13) and is reused while its stamp matches the apt package list.
# The Debian archive address is read from the host's own apt sources at run time.
# Where the machine cannot host the chroot (no root, too little disk, no debootstrap), one line
# says so and the script exits 0: the host's own test run decides.
set -euo pipefail

ROOT_DIR="${SPINDIFF_DEBIAN13_ROOT:-/var/cache/spindiff-debian13}"
SUITE="${SPINDIFF_DEBIAN13_SUITE:-trixie}"
MIN_FREE_GB="${SPINDIFF_DEBIAN13_MIN_FREE_GB:-5}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TREE=/srv/spindiff                     # the copy of the working tree inside the chroot
COMPARE_CASES="${SPINDIFF_COMPARE_CASES:-cases/default.toml cases/takeda_cube.toml}"
EXTRA_PACKAGES="make ca-certificates"
MOUNTED=()

log() { echo "[debian13] $*"; }

skip() {
    echo "[debian13] Debian 13 leg NOT RUN: $*"
    exit 0
}

apt_packages() {
    # The apt package list is the Makefile's, so both stacks install the same packages.
    make -s --no-print-directory -C "$REPO" print-apt-packages
}

stamp_content() {
    echo "suite=$SUITE"
    echo "packages=$(apt_packages) $EXTRA_PACKAGES"
}

host_mirror() {
    # The first Debian archive URI of the host's apt sources (deb822 or one-line format).
    local uri=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' \
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
    if [ -f "$ROOT_DIR/.complete" ] && [ "$(cat "$ROOT_DIR/.complete")" = "$(stamp_content)" ]; then
        return 0
    fi
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
    # Before deleting a half-built root: nothing of the host may still be mounted in it.
    local target
    for target in dev/shm dev/pts dev sys proc; do
        if is_mounted "$ROOT_DIR/$target"; then
            umount "$ROOT_DIR/$target" 2>/dev/null || umount -l "$ROOT_DIR/$target"
        fi
    done
    if findmnt -rn -o TARGET | grep -q "^$ROOT_DIR/"; then
        echo "[debian13] something is still mounted under $ROOT_DIR; not deleting it" >&2
        exit 1
    fi
}

copy_host_network_config() {
    # DNS, CA certificates and pip configuration of the host, so apt and pip inside reach
    # the same archive and package index the host does.
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

build_rootfs() {
    # debootstrap + the Makefile's apt packages, once; a stamp marks a complete root.
    if [ -f "$ROOT_DIR/.complete" ] && [ "$(cat "$ROOT_DIR/.complete")" = "$(stamp_content)" ]; then
        log "reusing the root file system in $ROOT_DIR"
        return 0
    fi
    local mirror start
    mirror=$(host_mirror)
    start=$(date +%s)
    if [ ! -x "$ROOT_DIR/usr/bin/apt-get" ] || [ ! -f "$ROOT_DIR/.debootstrapped" ]; then
        ensure_unmounted
        rm -rf --one-file-system "$ROOT_DIR"
        log "debootstrap $SUITE from $mirror into $ROOT_DIR"
        debootstrap --variant=minbase --include="${EXTRA_PACKAGES// /,}" \
            "$SUITE" "$ROOT_DIR" "$mirror" > "$(dirname "$ROOT_DIR")/spindiff-debian13-debootstrap.log" 2>&1 \
            || { tail -n 20 "$(dirname "$ROOT_DIR")/spindiff-debian13-debootstrap.log"; exit 1; }
        touch "$ROOT_DIR/.debootstrapped"
    fi
    printf 'deb %s %s main\n' "$mirror" "$SUITE" > "$ROOT_DIR/etc/apt/sources.list"
    copy_host_network_config
    mount_all
    log "apt-get install $(apt_packages)"
    in_chroot "apt-get update -qq && apt-get install -y -qq --no-install-recommends $(apt_packages) $EXTRA_PACKAGES >/dev/null && apt-get clean"
    umount_all
    copy_host_network_config
    stamp_content > "$ROOT_DIR/.complete"
    log "root file system ready in $(( $(date +%s) - start )) s ($(du -sh --one-file-system "$ROOT_DIR" | cut -f1))"
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
    # `make -k test` inside: the MPI leg runs even when a serial test failed.
    local start rc=0
    start=$(date +%s)
    log "make test inside Debian 13"
    in_chroot "cd $TREE && python3 -c 'import sys; print(sys.version.split()[0])' && make -k test" \
        || rc=$?
    if [ "$rc" = 0 ]; then
        log "Debian 13 make test passed in $(( $(date +%s) - start )) s"
    else
        log "Debian 13 make test FAILED (exit $rc) after $(( $(date +%s) - start )) s"
    fi
    return "$rc"
}

run_compare() {
    # Each case once on each stack (serial); the largest relative difference of the time series.
    local host_py="$REPO/.venv/bin/python" case name out
    [ -x "$host_py" ] || { log "no host .venv: run make setup first"; return 1; }
    out=$(mktemp -d /tmp/spindiff-stacks.XXXXXX)
    mkdir -p "$ROOT_DIR/tmp/stacks"
    for case in $COMPARE_CASES; do
        name=$(basename "$case" .toml)
        log "case $case on Debian 12 (host) and Debian 13 (chroot)"
        (cd "$REPO" && .venv/bin/spindiff run "$case" --out "$out/host-$name" --quiet)
        in_chroot "cd $TREE && .venv/bin/spindiff run $case --out /tmp/stacks/$name --quiet"
        rm -rf "$out/chroot-$name"
        cp -r "$ROOT_DIR/tmp/stacks/$name" "$out/chroot-$name"
        (cd "$REPO" && "$host_py" scripts/compare_stacks.py "$out/host-$name" "$out/chroot-$name" \
            --label "$name")
    done
    rm -rf "$out" "$ROOT_DIR/tmp/stacks"
}

main() {
    local what="${1:-all}"
    check_host
    # one run at a time per root file system (a CI run and a manual one may overlap)
    exec 9>"$ROOT_DIR.lock"
    flock 9
    trap umount_all EXIT
    trap 'exit 130' INT TERM
    build_rootfs
    [ "$what" = build ] && return 0
    sync_tree
    mount_all
    case $what in
        exec) in_chroot "cd $TREE && $2" ;;
        compare) run_compare ;;
        *)
            local rc=0
            run_tests || rc=$?
            run_compare
            umount_all
            return "$rc" ;;
    esac
    umount_all
}

main "$@"; exit $?
