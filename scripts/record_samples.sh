#!/usr/bin/env bash
# Record the small real-TCP sample captures in sample_captures/.
#
#   sudo scripts/record_samples.sh                         # record all of them
#   sudo scripts/record_samples.sh bulk_loss zero_window   # only these
#   sudo OUT=/tmp/caps scripts/record_samples.sh           # somewhere else
#
# Needs root and Linux network namespaces, plus iproute2 (ip, tc), ethtool,
# tcpdump, dumpcap, tshark, capinfos and python3 (standard library only); on
# Debian/Ubuntu: apt-get install -y iproute2 ethtool tcpdump tshark.
#
# Two throw-away namespaces, pcapan_a (10.99.0.1, fd99::1) and pcapan_b
# (10.99.0.2, fd99::2), joined by a veth pair va <-> vb, are created for the
# run and deleted on exit (NS_A, NS_B, VA, VB, A4, B4, A6, B6 override the
# names and addresses: lab_no_teardown and lab_tso were recorded with gra/grb,
# gva/gvb, 10.77.0.1/10.77.0.2); no packet leaves them. scripts/_traffic.py plays the
# client (in pcapan_a) and the server (in pcapan_b) of each scenario; the
# TCP/IP stack on both ends is the running Linux kernel's.
#
# Loss comes from a tbf qdisc (token bucket with a short queue) on the
# sender's veth. TCP hands the device GSO bursts of several segments; tbf
# splits a burst larger than its bucket into segments and queues what fits,
# and the segments that do not fit are lost for real (a burst refused whole
# would only be retried by TCP, unseen on the wire).
#
# Prints one line per capture: packets, bytes, link type and the count of each
# Wireshark TCP analysis label (tcp.analysis.*) tshark finds in it. A capture
# that must show some labels and lacks one is recorded again, up to ATTEMPTS
# (default 5) times: which segments a queue drops differs from run to run.
#
# Re-runnable: leftover namespaces of the same names are removed first and
# every file is replaced. Content is the same every run (same scenarios,
# addresses, ports where fixed), bytes are not (timestamps, ISNs, ephemeral
# ports, exactly which segments the queue drops).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE/../sample_captures}
NS_A=${NS_A:-pcapan_a}  # namespace names: override to run beside another recording
NS_B=${NS_B:-pcapan_b}
VA=${VA:-va}            # the veth pair's ends: client's, server's
VB=${VB:-vb}
A4=${A4:-10.99.0.1}     # addresses: client, server
B4=${B4:-10.99.0.2}
A6=${A6:-fd99::1}
B6=${B6:-fd99::2}
ALL=(http_like bulk_loss zero_window keepalive port_reuse reset offload cooked_v2 dumpcap lab_upload lab_offload
     lab_no_teardown lab_tso)

[[ $(id -u) == 0 ]] || { echo "record_samples.sh: needs root (network namespaces, captures)" >&2; exit 1; }
for tool in ip tc ethtool tcpdump dumpcap tshark capinfos python3; do
    command -v "$tool" >/dev/null || { echo "record_samples.sh: $tool not found" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/pcapan-rec.XXXXXX)
chmod 755 "$TMP"
PIDS=()

cleanup() {
    local rc=$? p
    if [[ $rc != 0 && -s $TMP/traffic.log ]]; then
        echo "record_samples.sh: failed; traffic log:" >&2
        tail -n 20 "$TMP/traffic.log" >&2
    fi
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
client() { ip netns exec "$NS_A" python3 "$HERE/_traffic.py" "$@" 2>>"$TMP/traffic.log"; }  # client side, in pcapan_a

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
    ip link add $VA netns "$NS_A" type veth peer name $VB netns "$NS_B"
    ip -n "$NS_A" addr add "$A4/24" dev $VA
    ip -n "$NS_B" addr add "$B4/24" dev $VB
    ip -n "$NS_A" addr add "$A6/64" dev $VA nodad
    ip -n "$NS_B" addr add "$B6/64" dev $VB nodad
    ip -n "$NS_A" link set $VA up
    ip -n "$NS_B" link set $VB up
    sleep 2  # let the MLD reports of the new addresses pass before any capture
}

# Per-capture link settings, both ends alike unless told: segmentation
# offload (off: the stack hands the veth MTU-sized packets; gso: software GSO
# bursts, segmented in software after the qdisc or split by tbf, see above), checksum offload (off: checksums
# are computed before the packet reaches the capture), no qdisc, and fresh
# neighbour caches so each capture starts with its own ARP exchange.
links() {  # links off|gso|tso [tx-checksum-a on|off] [tx-checksum-b on|off]
    local gso=off tso=off
    [[ $1 == gso || $1 == tso ]] && gso=on
    [[ $1 == tso ]] && tso=on
    ina ethtool -K $VA tx "${2:-off}" >/dev/null
    inb ethtool -K $VB tx "${3:-off}" >/dev/null
    ina ethtool -K $VA tso "$tso" gso "$gso" >/dev/null
    inb ethtool -K $VB tso off gso "$gso" >/dev/null
    ina ip link set $VA gso_max_size 65536
    ina tc qdisc del dev $VA root 2>/dev/null || true
    inb tc qdisc del dev $VB root 2>/dev/null || true
    ina ip neigh flush dev $VA
    inb ip neigh flush dev $VB
}

lossy() {  # token bucket with a short queue on the client's (sender's) side
    ina tc qdisc add dev $VA root tbf rate "${1:-40mbit}" burst "${2:-16kb}" limit "${3:-12000}"
}

CAP_PID=
capture() {  # capture NS IFACE FILE tcpdump-args...
    local ns=$1 iface=$2 file=$3
    shift 3
    ip netns exec "$ns" tcpdump -i "$iface" -n -U --immediate-mode -Z root -w "$TMP/$file" "$@" 2>"$TMP/cap.err" &
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
    ip netns exec "$ns" python3 "$HERE/_traffic.py" "$@" --ready "$TMP/$name.ready" 2>>"$TMP/traffic.log" &
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

finish_open() {  # finish_open FILE: stop the capture now (connections still open), then wait for the servers
    local p
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    for p in "${SRV_PIDS[@]}"; do
        wait "$p" || echo "record_samples.sh: server $p exited with $?" >&2
    done
    SRV_PIDS=()
    mv "$TMP/$1" "$OUT/$1"
    chmod 644 "$OUT/$1"
    summary "$OUT/$1"
}

labels() {  # labels FILE: "name=count ..." frames carrying each tcp.analysis.* label
    tshark -r "$1" -Y tcp.analysis.flags -T pdml 2>/dev/null | awk '
        /<packet>/ { delete seen }
        match($0, /name="tcp\.analysis\.[a-z_]+"/) {
            name = substr($0, RSTART + 19, RLENGTH - 20)
            if (name !~ /^(flags|acks_frame|ack_rtt|bytes_in_flight|push_bytes_sent|initial_rtt|retransmitted_frame|rto|rto_frame|duplicate_ack_num|duplicate_ack_frame|reused_ports_frame)$/ && !(name in seen)) {
                seen[name] = 1; count[name]++
            }
        }
        END { for (name in count) print name "=" count[name] }' | sort | paste -sd ' ' -
}

summary() {  # one line: file, packets, bytes, link type, analysis labels
    local f=$1 n enc
    n=$(capinfos -M -c -T "$f" | awk -F'\t' 'NR==2 {print $2}')
    enc=$(capinfos -T -E "$f" | awk -F'\t' 'NR==2 {print $2}')
    LABELS=$(labels "$f")
    printf '%-16s %5s packets %7s bytes  %-10s %s\n' "$(basename "$f")" "$n" "$(stat -c %s "$f")" \
        "$enc" "${LABELS:-(no TCP analysis labels)}"
}

# --- the captures ------------------------------------------------------------
# Each rec_NAME records sample_captures/NAME.*; NEED[NAME] lists the analysis
# labels it must show, as LABEL or LABEL:MINIMUM-FRAME-COUNT.
declare -A NEED

NEED[http_like]=""
rec_http_like() {
    links off
    capture "$NS_A" $VA http_like.pcap -s 0
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 20000
    client http-client --host "$B4" --port 8080
    finish http_like.pcap
}

NEED[bulk_loss]="retransmission:20 fast_retransmission duplicate_ack:20 out_of_order:5 lost_segment:10"
rec_bulk_loss() {
    # Two 1.5 MB uploads through a 20 Mbit/s token bucket with a 12 kB queue on
    # the client's interface (data path) and a 400 kbit/s one on the server's
    # (ACK path, like an asymmetric access line). The second upload starts
    # while the first keeps the ACK queue busy, so its SYN/ACK waits there and
    # its initial RTT, seen at the receiver, is milliseconds: then, as on a
    # real path, retransmissions arriving within that RTT of newer data are
    # out-of-order to Wireshark. Captured on the receiver, so segments the
    # queue dropped are missing: "previous segment not captured".
    links gso
    lossy 20mbit 4kb 12000
    inb tc qdisc add dev $VB root tbf rate 400kbit burst 2kb limit 3000
    capture "$NS_B" $VB bulk_loss.pcap -s 128
    server "$NS_B" sink serve-sink --host "$B4" --port 5001 --count 2
    client bulk-client --host "$B4" --port 5001 --size 1500000 &
    local first=$!
    PIDS+=("$first")
    client bulk-client --host "$B4" --port 5001 --size 1500000 --delay 0.3
    wait "$first"
    finish bulk_loss.pcap
}

NEED[zero_window]="zero_window window_full window_update keep_alive"
rec_zero_window() {
    # The server's socket buffer is small (32 kB) and it does not read for
    # 2 s, then reads 12 kB three times half a second apart, then the rest.
    # Linux probes the closed window
    # with a zero-length segment one below the next sequence number, which
    # Wireshark labels a keep-alive (its zero_window_probe is a 1-byte probe
    # at the next sequence number, which Linux does not send).
    links off
    capture "$NS_A" $VA zero_window.pcap -s 128
    server "$NS_B" sink serve-sink --host "$B4" --port 5001 --rcvbuf 32768 --pause 2 \
        --slow-reads 3 --slow-size 12000 --slow-delay 0.5
    client bulk-client --host "$B4" --port 5001 --size 200000
    finish zero_window.pcap
}

NEED[keepalive]="keep_alive keep_alive_ack"
rec_keepalive() {
    links off
    capture "$NS_A" $VA keepalive.pcap -s 200
    server "$NS_B" sink serve-sink --host "$B4" --port 5002
    client keepalive-client --host "$B4" --port 5002 --idle 4.5
    finish keepalive.pcap
}

NEED[port_reuse]="reused_ports"
rec_port_reuse() {
    # The server closes first each time, so the TIME_WAIT is on its side and
    # the client can bind port 45000 again at once.
    links off
    capture "$NS_A" $VA port_reuse.pcap -s 200
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 600 --count 3
    client reuse-client --host "$B4" --port 8080 --sport 45000 --count 3 --gap 0.3
    finish port_reuse.pcap
}

NEED[reset]=""
rec_reset() {
    links off
    capture "$NS_A" $VA reset.pcap -s 200
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 3000 --keep-open
    client reset-client --host "$B4" --port 8080 --closed-port 8081
    finish reset.pcap
}

NEED[offload]=""
rec_offload() {
    # Checksum offload on for the client's veth only: Linux hands va packets
    # whose TCP/UDP checksum holds just the pseudo-header sum, for "the NIC"
    # to complete, and a capture on the sending interface sees them so. The
    # server computes its checksums in software, so incoming ones are right.
    links off on off
    capture "$NS_A" $VA offload.pcap -s 0
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 1500
    server "$NS_B" udp serve-udp --host "$B4" --port 5353 --count 2
    client http-client --host "$B4" --port 8080
    client udp-client --host "$B4" --port 5353 --count 2
    finish offload.pcap
}

NEED[cooked_v2]=""
rec_cooked_v2() {
    links off
    capture "$NS_A" any cooked_v2.pcap -s 200 -y LINUX_SLL2
    server "$NS_B" http6 serve-http --host "$B6" --port 8080 --size 3000
    server "$NS_B" http4 serve-http --host "$B4" --port 8081 --size 2000
    client http-client --host "$B6" --port 8080
    client http-client --host "$B4" --port 8081
    finish cooked_v2.pcap
}

NEED[dumpcap]="retransmission"
rec_dumpcap() {
    # As a Wireshark user would record on the client: dumpcap, pcapng. Three
    # DNS-style queries to port 5353, a small HTTP-like download, a 1 MB
    # upload through the lossy queue, three more queries. The queue is on the
    # captured interface and drops before the capture point, so the upload
    # shows gaps as well as retransmissions.
    links gso
    ina ip link set $VA gso_max_size 8192  # small bursts: a drop loses a few segments
    lossy 20mbit 4kb 60000
    capture_dumpcap "$NS_A" $VA dumpcap.pcapng -s 200 -q
    server "$NS_B" udp serve-udp --host "$B4" --port 5353 --count 6
    server "$NS_B" http serve-http --host "$B4" --port 8080 --size 8000
    server "$NS_B" sink serve-sink --host "$B4" --port 5001
    client udp-client --host "$B4" --port 5353 --count 3 --gap 0.2
    client http-client --host "$B4" --port 8080
    client bulk-client --host "$B4" --port 5001 --size 1000000
    client udp-client --host "$B4" --port 5353 --count 3 --gap 0.2 --first 3
    finish dumpcap.pcapng
}

# --- TCP lab submissions (for pcapan check) ------------------------------------
# What a student hands in for the TCP lab: dumpcap on the client, pcapng, full
# packets, a 150 kB HTTP POST upload to port 8080 among background traffic
# (DNS-style UDP queries, a short HTTP-like download from port 8081).
lab_submission() {  # lab_submission FILE
    capture_dumpcap "$NS_A" $VA "$1" -q
    server "$NS_B" udp serve-udp --host "$B4" --port 5353 --count 4
    server "$NS_B" http serve-http --host "$B4" --port 8081 --size 3000
    server "$NS_B" post serve-post --host "$B4" --port 8080
    client udp-client --host "$B4" --port 5353 --count 2 --gap 0.1
    client http-client --host "$B4" --port 8081
    client post-client --host "$B4" --port 8080 --size 152138
    client udp-client --host "$B4" --port 5353 --count 2 --first 2
    finish "$1"
}

NEED[lab_upload]="retransmission duplicate_ack"
rec_lab_upload() {
    # The upload goes through the lossy token bucket on the client's veth, so
    # it shows retransmissions and duplicate ACKs (the queue drops before the
    # capture point, so also gaps).
    links gso
    lossy 20mbit 16kb 12000
    lab_submission lab_upload.pcapng
}

NEED[lab_offload]=""
rec_lab_offload() {
    # Transmit checksum offload on the capturing (client) side: every packet
    # the student's machine sent carries an unfilled checksum; no loss.
    links off on off
    lab_submission lab_offload.pcapng
}

NEED[lab_no_teardown]=""
rec_lab_no_teardown() {
    # The student stops capturing once the upload is answered, before the
    # connection is closed: the client holds it open for 3 s after the reply,
    # and the capture ends in that time. No FIN, no RST.
    links off
    capture_dumpcap "$NS_A" $VA lab_no_teardown.pcapng -q
    server "$NS_B" udp serve-udp --host "$B4" --port 5353 --count 2 --answer "$B4"
    server "$NS_B" post serve-post --host "$B4" --port 8080
    client udp-client --host "$B4" --port 5353 --count 2 --gap 0.1
    rm -f "$TMP/posted"
    client post-client --host "$B4" --port 8080 --size 152138 --hold 3 --done "$TMP/posted" &
    PIDS+=($!)
    wait_for "$TMP/posted"
    sleep 0.3
    finish_open lab_no_teardown.pcapng
}

NEED[lab_tso]=""
rec_lab_tso() {
    # Captured on the sending machine with segmentation offload on (TSO and
    # GSO, which need transmit checksum offload): TCP hands the veth
    # super-segments of many MSS, and the capture shows them as they were
    # handed over, larger than the MSS, with unfilled checksums.
    links tso on off
    lab_submission lab_tso.pcapng
}

for name in "${@:-${ALL[@]}}"; do
    declare -F "rec_$name" >/dev/null || { echo "record_samples.sh: unknown capture $name (one of: ${ALL[*]})" >&2; exit 2; }
done
mkdir -p "$OUT"
setup
for name in "${@:-${ALL[@]}}"; do
    for attempt in $(seq "${ATTEMPTS:-5}"); do
        "rec_$name"
        missing=
        for need in ${NEED[$name]}; do
            label=${need%%:*} least=1
            [[ $need == *:* ]] && least=${need#*:}
            count=$(tr ' ' '\n' <<<"$LABELS" | awk -F= -v l="$label" '$1 == l {print $2}')
            ((${count:-0} >= least)) || missing+=" $label (${count:-0} < $least)"
        done
        [[ -z $missing ]] && break
        echo "record_samples.sh: $name lacks$missing (attempt $attempt)" >&2
    done
done
