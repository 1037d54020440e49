#!/bin/sh
# Idle CPU of the console: `gameday replay JOURNAL` left alone in tmux for SECS seconds; prints the
# share of one core used (utime+stime from /proc/<pid>/stat over wall time).
# usage: benches/idle_cpu.sh path/to/gameday path/to/journal.jsonl [secs]
set -eu
bin=$1 journal=$2 secs=${3:-30}
name=gameday-idle-$$
tmux new-session -d -s "$name" -x 160 -y 48 "$bin replay $journal"
trap 'tmux kill-session -t "$name" 2>/dev/null || true' EXIT
pid=""
for _ in $(seq 1 100); do
  pid=$(tmux list-panes -t "$name" -F '#{pane_pid}' 2>/dev/null || true)
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] && break
  sleep 0.1
done
sleep 2 # let it draw the first frame
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s.%N)
sleep "$secs"
t1=$(ticks); s1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s0="$s0" -v s1="$s1" \
  'BEGIN { printf "cpu: %.2f%% of one core over %.1f s (%d ticks)\n", 100*(b-a)/hz/(s1-s0), s1-s0, b-a }'
