#!/usr/bin/env bash
# Installs everything the test suite needs on Debian 12 (as root). Called by
# ./scripts/test.sh, so the README's test command does its own set-up; quick when all is
# there already (apt-get runs only for what is missing).
set -euo pipefail

# Debian packages:
#   busybox-static   /bin/busybox: the offline test image
#   procps util-linux iproute2: ps, setpriv/unshare/nsenter, ip
#   nftables         the daemon's NAT and published ports
#   iptables         the test that simulates a Docker engine's FORWARD policy
#   gcc libc6-dev    static helpers (UDP echo server, raw syscall probes)
#   podman runc      a second engine for the image interchange test; runc and crun are
#   crun tini        OCI runtimes containers run under (--runtime), tini-static --init's
#   curl             HTTP checks from the host
#   python3-venv python3-pip: docker-py and docker-compose 1.29.2
#   qemu-system-x86  the cgroup v2 VM test (scripts/v2vm; it fetches Debian's kernel package)
#   file             tells a static busybox from a dynamic one (scripts/v2vm)
#   docker-registry skopeo: a real registry (distribution 2.8) and an independent client of
#                    it, for the pull tests
#   openssl          a CA, server and client certificates for the registry TLS test
packages=(busybox-static procps util-linux iproute2 nftables iptables gcc libc6-dev podman runc
    crun tini curl python3-venv python3-pip qemu-system-x86 file docker-registry skopeo openssl)
need=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "install-test-deps: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# docker-py, for the python3 the tests call (the first python3 on PATH).
if ! python3 -c 'import docker, sys; sys.exit(docker.__version__ != "7.1.0")' 2>/dev/null; then
    echo "install-test-deps: pip install docker==7.1.0" >&2
    python3 -m pip install --quiet docker==7.1.0 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages docker==7.1.0
fi

# docker-compose 1.29.2 (Python, PyPI) in its own venv: its pins predate PyYAML 6 wheels and
# requests 2.32, so the working set is given here.
compose=/opt/berth-ci/compose-v1
if ! "$compose/bin/docker-compose" version >/dev/null 2>&1; then
    echo "install-test-deps: docker-compose 1.29.2 into $compose" >&2
    rm -rf "$compose"
    python3 -m venv "$compose"
    "$compose/bin/pip" install --quiet "PyYAML==6.0.1" "docker==6.1.3" \
        "requests<2.32" "urllib3<2" texttable "jsonschema<4" dockerpty docopt \
        "python-dotenv<1" distro "websocket-client<1"
    "$compose/bin/pip" install --quiet --no-deps docker-compose==1.29.2
fi

# The docker 28 CLI is part of this machine kind (/usr/local/bin/docker); Debian has only
# 20.10's, so it cannot be installed here: say so instead of failing later, test by test.
if [ ! -x /usr/local/bin/docker ]; then
    echo "install-test-deps: /usr/local/bin/docker (the docker 28 CLI) is missing;" \
        "the end-to-end tests drive berth with it" >&2
    exit 1
fi
