#!/bin/sh
# Peak resident memory of `gameday replay` on a journal, in a real terminal (tmux):
#   benches/replay_rss.sh BIN JOURNAL
# Starts the replay in a detached 200×50 tmux session, waits for its first frame (the REPLAY
# banner), seeks to the start and back to the end (each seek refolds the run), then reads the
# process's VmHWM (peak RSS) from /proc before quitting with q. Also checks that the journal's
# sha256 did not change. Needs tmux.
set -eu
bin=${1:?usage: replay_rss.sh BIN JOURNAL}
journal=${2:?usage: replay_rss.sh BIN JOURNAL}
command -v tmux >/dev/null || { echo "tmux is not installed" >&2; exit 2; }
session="gameday-replay-rss-$$"
before=$(sha256sum "$journal" | cut -d' ' -f1)
start=$(date +%s.%N)
tmux new-session -d -s "$session" -x 200 -y 50 "exec '$bin' replay '$journal'"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
pid=$(tmux display-message -p -t "$session" '#{pane_pid}')

wait_for() { # TEXT SECONDS
    i=0
    while ! tmux capture-pane -p -t "$session" | grep -q "$1"; do
        i=$((i + 1))
        if [ "$i" -gt $(($2 * 20)) ]; then
            echo "timed out waiting for '$1'; screen:" >&2
            tmux capture-pane -p -t "$session" >&2
            exit 1
        fi
        sleep 0.05
    done
}

wait_for REPLAY 120
first=$(date +%s.%N)
hwm_first=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
# Seek to the start, then the end: two refolds of the whole run.
tmux send-keys -t "$session" '['
sleep 1
tmux send-keys -t "$session" ']'
sleep 2
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
tmux send-keys -t "$session" q
i=0
while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 200 ] || { echo "replay did not quit" >&2; exit 1; }
    sleep 0.05
done
after=$(sha256sum "$journal" | cut -d' ' -f1)
echo "replay first frame after $(echo "$first - $start" | bc) s"
echo "replay peak RSS at first frame: $(echo "scale=1; $hwm_first / 1024" | bc) MiB"
echo "replay peak RSS after two seeks: $(echo "scale=1; $hwm / 1024" | bc) MiB (now $(echo "scale=1; $rss / 1024" | bc) MiB)"
if [ "$before" = "$after" ]; then
    echo "journal sha256 unchanged: $after"
else
    echo "JOURNAL CHANGED: $before -> $after" >&2
    exit 1
fi
