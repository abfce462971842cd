#!/usr/bin/env bash
# Record the small real-TCP sample captures in sample_captures/.
#
#   sudo scripts/record_samples.sh            # record all of them
#   sudo scripts/record_samples.sh bulk_loss zero_window   # only these
#   OUT=/tmp/caps sudo -E scripts/record_samples.sh        # elsewhere
#
# Needs root, Linux network namespaces, iproute2 (ip, tc), ethtool, tcpdump,
# dumpcap, tshark/capinfos and python3 (standard library only).
#
# Two throw-away namespaces, pcapan_a (10.99.0.1, fd99::1) and pcapan_b
# (10.99.0.2, fd99::2), joined by a veth pair va <-> vb, are created for the
# run and deleted on exit; no packet leaves them. scripts/_traffic.py plays the
# client (in pcapan_a) and the server (in pcapan_b) of each scenario. Loss
# comes from a tbf qdisc on the sender's veth (a token bucket with a short
# queue): when a TSO/GSO burst is split by tbf and only part of it fits the
# queue, the rest is dropped for real and TCP has to recover.
#
# Re-runnable: leftover namespaces of the same names are removed first and
# every file is replaced. Content is the same every run (same scenarios,
# addresses, ports where fixed), bytes are not (timestamps, ISNs, ephemeral
# ports, exactly which segments the queue drops).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE/../sample_captures}
NS_A=pcapan_a
NS_B=pcapan_b
A4=10.99.0.1
B4=10.99.0.2
A6=fd99::1
B6=fd99::2
ALL=(http_like bulk_loss zero_window keepalive port_reuse reset offload cooked_v2 dumpcap)

[[ $(id -u) == 0 ]] || { echo "record_samples.sh: needs root (network namespaces, captures)" >&2; exit 1; }
for tool in ip tc ethtool tcpdump dumpcap tshark capinfos python3; do
    command -v "$tool" >/dev/null || { echo "record_samples.sh: $tool not found" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/pcapan-rec.XXXXXX)
chmod 755 "$TMP"
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ina() { ip netns exec "$NS_A" "$@"; }
inb() { ip netns exec "$NS_B" "$@"; }
client() { ip netns exec "$NS_A" python3 "$HERE/_traffic.py" "$@"; }  # client side, in pcapan_a

wait_for() {  # wait_for FILE [PATTERN]: until FILE exists (and holds PATTERN), max 10 s
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ -e $1 ]] && { [[ -z ${2:-} ]] || grep -q "$2" "$1"; }; then return 0; fi
        sleep 0.1
    done
    echo "record_samples.sh: timed out waiting for $1 ${2:-}" >&2
    cat "$1" >&2 2>/dev/null || true
    return 1
}

setup() {
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    local ns
    for ns in "$NS_A" "$NS_B"; do
        # No router solicitations / RAs: keep the captures to our own traffic.
        ip netns exec "$ns" sysctl -q -w net.ipv6.conf.default.router_solicitations=0 \
            net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.accept_dad=0
        ip -n "$ns" link set lo up
    done
    ip link add va netns "$NS_A" type veth peer name vb netns "$NS_B"
    ip -n "$NS_A" addr add "$A4/24" dev va
    ip -n "$NS_B" addr add "$B4/24" dev vb
    ip -n "$NS_A" addr add "$A6/64" dev va nodad
    ip -n "$NS_B" addr add "$B6/64" dev vb nodad
    ip -n "$NS_A" link set va up
    ip -n "$NS_B" link set vb up
    sleep 2  # let the MLD reports of the new addresses pass before any capture
}

# Per-capture link settings: segmentation offload on/off on both ends, no qdisc,
# fresh neighbour caches (each capture starts with its own ARP / ND exchange).
links() {  # links on|off
    ina ethtool -K va tso "$1" gso "$1" tx on >/dev/null
    inb ethtool -K vb tso "$1" gso "$1" tx on >/dev/null
    ina tc qdisc del dev va root 2>/dev/null || true
    inb tc qdisc del dev vb root 2>/dev/null || true
    ina ip neigh flush dev va
    inb ip neigh flush dev vb
}

lossy() {  # token bucket with a short queue on the client's (sender's) side
    ina tc qdisc add dev va root tbf rate "${1:-40mbit}" burst "${2:-16kb}" limit "${3:-12000}"
}

CAP_PID=
capture() {  # capture NS IFACE FILE tcpdump-args...
    local ns=$1 iface=$2 file=$3
    shift 3
    ip netns exec "$ns" tcpdump -i "$iface" -n -U -Z root -w "$TMP/$file" "$@" 2>"$TMP/cap.err" &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    wait_for "$TMP/cap.err" "listening on"
}

capture_dumpcap() {  # capture_dumpcap NS IFACE FILE dumpcap-args...
    local ns=$1 iface=$2 file=$3
    shift 3
    ip netns exec "$ns" dumpcap -i "$iface" -w "$TMP/$file" "$@" 2>"$TMP/cap.err" &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    wait_for "$TMP/cap.err" "Capturing on"
    sleep 0.3
}

SRV_PIDS=()
server() {  # server NS NAME _traffic.py-args... (returns once it listens)
    local ns=$1 name=$2
    shift 2
    rm -f "$TMP/$name.ready"
    ip netns exec "$ns" python3 "$HERE/_traffic.py" "$@" --ready "$TMP/$name.ready" &
    SRV_PIDS+=($!)
    PIDS+=($!)
    wait_for "$TMP/$name.ready"
}

finish() {  # finish FILE: wait for the servers, stop the capture, move it to OUT
    local p
    for p in "${SRV_PIDS[@]}"; do
        wait "$p" || echo "record_samples.sh: server $p exited with $?" >&2
    done
    SRV_PIDS=()
    sleep 0.5
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    mv "$TMP/$1" "$OUT/$1"
    chmod 644 "$OUT/$1"
    summary "$OUT/$1"
}

summary() {
    local f=$1 n size enc flags
    n=$(capinfos -M -c -T "$f" | awk -F'\t' 'NR==2 {print $2}')
    enc=$(capinfos -T -E "$f" | awk -F'\t' 'NR==2 {print $2}')
    size=$(stat -c %s "$f")
    # Count the Wireshark TCP analysis labels (tcp.analysis.retransmission, ...)
    flags=$(tshark -r "$f" -Y tcp.analysis.flags -T pdml 2>/dev/null |
            grep -o 'name="tcp\.analysis\.[a-z_]*"' | sed 's/name="tcp\.analysis\.//; s/"$//' |
            grep -Ev '^(flags|acks_frame|ack_rtt|bytes_in_flight|push_bytes_sent|initial_rtt|retransmitted_frame|rto|rto_frame|duplicate_ack_num|duplicate_ack_frame|reused_ports_frame)$' |
            sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}' || true)
    printf '%-18s %6s packets %8s bytes  %-28s %s\n' "$(basename "$f")" "$n" "$size" "$enc" "${flags:-(no TCP analysis labels)}"
}

# --- the captures ------------------------------------------------------------

rec_http_like() {
    links off
    capture "$NS_A" va http_like.pcap -s 0
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 20000
    client http-client --host "$B4" --port 8080
    finish http_like.pcap
}

rec_bulk_loss() {
    # Two uploads share the lossy bottleneck; the second starts while the
    # first keeps the queue full, so its handshake ACK waits in that queue
    # and its initial RTT (as seen by the receiver) is milliseconds, not
    # microseconds: like a real path, retransmissions arriving within that
    # RTT of newer data are out-of-order to Wireshark.
    links on
    lossy "${BULK_RATE:-20mbit}" "${BULK_BURST:-8kb}" "${BULK_LIMIT:-12000}"
    [[ -n ${ACK_RATE-400kbit} ]] && inb tc qdisc add dev vb root tbf rate "${ACK_RATE:-400kbit}" burst "${ACK_BURST:-2kb}" limit "${ACK_LIMIT:-3000}"
    capture "$NS_B" vb bulk_loss.pcap -s 128
    server "$NS_B" sink serve-sink --host "$B4" --port 5001 --count 2
    client bulk-client --host "$B4" --port 5001 --size "${BULK_SIZE:-2000000}" &
    local first=$!
    PIDS+=("$first")
    client bulk-client --host "$B4" --port 5001 --size "${BULK_SIZE:-2000000}" --delay 0.3
    wait "$first"
    finish bulk_loss.pcap
}

rec_zero_window() {
    links off
    capture "$NS_A" va zero_window.pcap -s 128
    server "$NS_B" sink serve-sink --host "$B4" --port 5001 --rcvbuf 4096 --pause 2.5 \
        --slow-reads 3 --slow-size 2000 --slow-delay 0.3
    client bulk-client --host "$B4" --port 5001 --size 150000
    finish zero_window.pcap
}

rec_keepalive() {
    links off
    capture "$NS_A" va keepalive.pcap -s 200
    server "$NS_B" sink serve-sink --host "$B4" --port 5002
    client keepalive-client --host "$B4" --port 5002 --idle 4.5
    finish keepalive.pcap
}

rec_port_reuse() {
    links off
    capture "$NS_A" va port_reuse.pcap -s 200
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 600 --count 3
    client reuse-client --host "$B4" --port 8080 --sport 45000 --count 3 --gap 0.3
    finish port_reuse.pcap
}

rec_reset() {
    links off
    capture "$NS_A" va reset.pcap -s 200
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 3000 --keep-open
    client reset-client --host "$B4" --port 8080 --closed-port 8081
    finish reset.pcap
}

rec_offload() {
    # Checksum offload stays on for the sender: Linux hands va packets whose
    # TCP/UDP checksum is only the pseudo-header part, to be completed "by the
    # NIC", and that is what a capture on the sending interface sees.
    links off
    ina ethtool -K va tx on >/dev/null
    capture "$NS_A" va offload.pcap -s 0
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 1500
    server "$NS_B" udp serve-udp --host "$B4" --port 5353 --count 2
    client http-client --host "$B4" --port 8080
    client udp-client --host "$B4" --port 5353 --count 2
    finish offload.pcap
}

rec_cooked_v2() {
    links off
    capture "$NS_A" any cooked_v2.pcap -s 200 -y LINUX_SLL2
    server "$NS_B" http6 serve-http --host "$B6" --port 8080 --size 3000
    server "$NS_B" http4 serve-http --host "$B4" --port 8081 --size 2000
    client http-client --host "$B6" --port 8080
    client http-client --host "$B4" --port 8081
    finish cooked_v2.pcap
}

rec_dumpcap() {
    links on
    lossy 40mbit 16kb 12000
    capture_dumpcap "$NS_A" va dumpcap.pcapng -s 200 -q
    server "$NS_B" udp serve-udp --host "$B4" --port 5353 --count 6
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 8000
    server "$NS_B" sink serve-sink --host "$B4" --port 5001
    client udp-client --host "$B4" --port 5353 --count 3 --gap 0.2
    client http-client --host "$B4" --port 8080
    client bulk-client --host "$B4" --port 5001 --size 1000000
    client udp-client --host "$B4" --port 5353 --count 3 --gap 0.2
    finish dumpcap.pcapng
}

mkdir -p "$OUT"
setup
for name in "${@:-${ALL[@]}}"; do
    declare -F "rec_$name" >/dev/null || { echo "record_samples.sh: unknown capture $name (one of: ${ALL[*]})" >&2; exit 1; }
    "rec_$name"
done
