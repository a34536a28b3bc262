#!/bin/bash
# Peak memory of a command and every process it starts (e.g. a posting run's engine process).
#   bench/memwatch.sh OUT -- COMMAND [ARGS...]
# Samples VmRSS of the command and all its descendants every 2 s into OUT.log; writes the peak
# of their sum and each process's own peak (kB) to OUT. The command's output goes to /dev/null.
set -u
out=$1; shift; shift
"$@" > /dev/null 2>&1 &
pid=$!
declare -A maxof
maxs=0
desc() { local p=$1; for k in $(pgrep -P "$p"); do echo "$k"; desc "$k"; done; }
while kill -0 $pid 2>/dev/null; do
  s=0; line="$(date +%T)"
  for k in $pid $(desc $pid); do
    v=$(awk '/VmRSS/{print $2}' /proc/$k/status 2>/dev/null); v=${v:-0}
    name=$(tr '\0' ' ' < /proc/$k/cmdline 2>/dev/null | cut -c1-60)
    s=$((s + v)); line="$line | $k $v $name"
    [ "${maxof[$name]:-0}" -lt "$v" ] && maxof[$name]=$v
  done
  [ $s -gt $maxs ] && maxs=$s
  echo "$line | sum=$s" >> "$out.log"
  sleep 2
done
wait $pid; rc=$?
{ echo "rc=$rc max_sum_kB=$maxs"; for k in "${!maxof[@]}"; do echo "max ${maxof[$k]} kB: $k"; done; } > "$out"
