#!/usr/bin/env bash
# Multi-host test on one machine: two network namespaces ("hosts" nodea = 10.77.0.1 and
# nodeb = 10.77.0.2) joined by a veth pair, one MPI rank in each, talking TCP over that link only —
# the path two real machines use. mpirun runs in nodea and starts nodeb's daemon through an "rsh
# agent" that enters nodeb's namespace (on real hosts that agent is ssh; see README, "Distributed
# training"). Shared memory is switched off (btl self,tcp), so every byte crosses the veth link.
#
#   sudo tools/netns_two_hosts.sh [BINARY [ARGS...]]
#   default: target/release/ember-dist-check collectives, then ... ddp
# Needs root, iproute2 and util-linux (unshare), Open MPI. Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/ember-dist-check}
shift || true
CHECKS=("$@")
[ ${#CHECKS[@]} -gt 0 ] || CHECKS=(collectives ddp)
BIN=$(realpath "$BIN")
A=ember-nodea B=ember-nodeb
WORK=$(mktemp -d)

cleanup() {
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup
WORK=$(mktemp -d)

ip netns add "$A"
ip netns add "$B"
ip link add veth-ember-a type veth peer name veth-ember-b
ip link set veth-ember-a netns "$A"
ip link set veth-ember-b netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev veth-ember-a
ip -n "$B" addr add 10.77.0.2/24 dev veth-ember-b
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set veth-ember-a up
ip -n "$B" link set veth-ember-b up
echo "veth link up: nodea 10.77.0.1 <-> nodeb 10.77.0.2"
tx_bytes() { ip netns exec "$A" cat /sys/class/net/veth-ember-a/statistics/tx_bytes; }

# the "ssh" of this two-host cluster: `agent HOST COMMAND...` runs COMMAND inside HOST's
# namespace, with its own host name (mpirun tells hosts apart by name)
cat > "$WORK/agent" <<AGENT
#!/usr/bin/env bash
host=\$1; shift
case "\$host" in
  10.77.0.2|nodeb) ns=$B; name=nodeb ;;
  *) ns=$A; name=nodea ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name; exec \$*"
AGENT
chmod +x "$WORK/agent"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$WORK/hosts"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
for check in "${CHECKS[@]}"; do
    echo "== mpirun -np 2 across the veth link: $(basename "$BIN") $check"
    ip netns exec "$A" unshare --uts sh -c "hostname nodea; exec mpirun --allow-run-as-root -np 2 \
        --hostfile $WORK/hosts --mca plm_rsh_agent $WORK/agent \
        --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
        -x EMBER_DIST_TIMEOUT=${EMBER_DIST_TIMEOUT:-60} $BIN $check" || status=1
done
# evidence that the ranks talked over the link (not loopback or shared memory)
echo "bytes sent by nodea over the veth link: $(tx_bytes)"
exit $status
