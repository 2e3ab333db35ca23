#!/usr/bin/env bash
# The whole benchmark in one command:  bench/run.sh [chat-bench options]
#
# Installs ngircd and InspIRCd from Debian if they are missing (without
# letting their packages start system services), writes their configuration
# into a temporary directory (127.0.0.1 only, flood protection and per-IP
# limits off, room for 5,000 clients), starts them and our release server in
# the foreground as children of this script, runs chat-bench against all
# three, and stops them. Results go to $BENCH_OUT (default bench-results/):
# results.md, raw.csv, fanout.svg, and the servers' logs.
#
# Environment: BENCH_PORT (first of three consecutive ports, default 17301),
# BENCH_OUT (results directory). Extra arguments go to chat-bench, e.g.
#   bench/run.sh --runs 1 --workloads fanout --fanout 100
set -euo pipefail
cd "$(dirname "$0")/.."

port=${BENCH_PORT:-17301}
out=${BENCH_OUT:-bench-results}
ours_port=$port
ngircd_port=$((port + 1))
inspircd_port=$((port + 2))

install_peers() {
    local missing=()
    command -v ngircd >/dev/null || [ -x /usr/sbin/ngircd ] || missing+=(ngircd)
    command -v inspircd >/dev/null || [ -x /usr/sbin/inspircd ] || missing+=(inspircd)
    [ ${#missing[@]} -eq 0 ] && return
    # The packages' install scripts would start the daemons as system
    # services; a policy-rc.d that says 101 forbids that for the install.
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    [ -n "$made_policy" ] && rm -f "$policy"
    return 0
}

install_peers
PATH=$PATH:/usr/sbin

# 5,000 idle clients plus their server ends, twice over for our server's
# reader/writer pairs sharing one descriptor: well past the usual 1024.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files: $(ulimit -n)"

cargo build --release -p chat-server -p chat-bench

tmp=$(mktemp -d /tmp/chat-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    mkdir -p "$out"
    cp "$tmp"/*.log "$out"/ 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$tmp/ngircd.conf" <<EOF
[Global]
    Name = ngircd.bench
    Info = chat-bench peer
    Listen = 127.0.0.1
    Ports = $ngircd_port
    MotdPhrase = bench
[Limits]
    MaxConnections = 0
    MaxConnectionsIP = 0
    MaxJoins = 0
    MaxNickLength = 30
    PingTimeout = 600
    PongTimeout = 600
    # 0 turns command penalties (the per-client throttle) off.
    MaxPenaltyTime = 0
[Options]
    DNS = no
    Ident = no
    PAM = no
EOF

cat >"$tmp/inspircd.motd" <<EOF
bench
EOF
cat >"$tmp/inspircd.conf" <<EOF
<server name="inspircd.bench" description="chat-bench peer" network="Bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="$inspircd_port" type="clients">
<connect name="bench" allow="127.*" timeout="60" pingfreq="600"
         hardsendq="64M" softsendq="8M" recvq="8M"
         threshold="1000000" commandrate="100000000" fakelag="yes"
         localmax="100000" globalmax="100000" maxconnwarn="no" limit="100000"
         resolvehostnames="no" useident="no" maxchans="100">
<files motd="$tmp/inspircd.motd">
<dns server="127.0.0.1" timeout="1">
<pid file="$tmp/inspircd.pid">
<performance netbuffersize="65536" somaxconn="1024" softlimit="20000"
             clonesonconnect="no" timeskipwarn="0">
<security maxtargets="20" userstats="Pu">
<limits maxnick="30" maxline="512">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$tmp/inspircd-internal.log">
EOF

./target/release/chat-server lobby "$ours_port" --bind 127.0.0.1 \
    --max-users 6000 --max-connections 7000 \
    >"$tmp/ours-status.txt" 2>"$tmp/ours.log" &
ours_pid=$!
pids+=("$ours_pid")
ngircd --nodaemon --config "$tmp/ngircd.conf" >"$tmp/ngircd.log" 2>&1 &
ngircd_pid=$!
pids+=("$ngircd_pid")
inspircd --nofork --runasroot --config "$tmp/inspircd.conf" >"$tmp/inspircd.log" 2>&1 &
inspircd_pid=$!
pids+=("$inspircd_pid")

wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "error: nothing listens on 127.0.0.1:$1 ($2); see $out/$2.log" >&2
    return 1
}
wait_port "$ours_port" ours
wait_port "$ngircd_port" ngircd
wait_port "$inspircd_port" inspircd

./target/release/chat-bench \
    --target "ours=lobby@127.0.0.1:$ours_port#$ours_pid" \
    --target "ngircd=irc@127.0.0.1:$ngircd_port#$ngircd_pid" \
    --target "inspircd=irc@127.0.0.1:$inspircd_port#$inspircd_pid" \
    --out "$out" "$@"
echo "results in $out/"
