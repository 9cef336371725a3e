#!/bin/sh
# splitbench phone-side runner: runs a benchmark command over a batch of model parts in ONE adb
# call, with cool-down between runs and the phone's state recorded around every run.
#
# Why a shell script: it must run on any Android phone (toybox/mksh, no Python) and on the kit's
# emulated phone (dash); so it is plain POSIX sh, reads its inputs from files the kit pushes and
# writes its results to files the kit pulls (no parsing of a live stream over adb).
#
# usage: runner.sh -o OUT_DIR -l LIST_FILE [-x TIMEOUT_S] [-c MAX_TEMP_MC] [-w MAX_WAIT_S]
#                  [-s STEP_S] [-a AFFINITY_MASK] [-t TEMP_FILE] [-P] [-E] [-G FLAG]
#                  -- COMMAND [ARG...]
#        runner.sh -m PREFIX     (print the phone's state as PREFIX.key=value lines and exit)
#
#   LIST_FILE   one part per line: "NAME GRAPH" (NAME is [A-Za-z0-9._-]+; GRAPH is the rest of
#               the line and may contain spaces)
#   -x          kill a part's run after TIMEOUT_S seconds (writes OUT/NAME.timeout); 0 = never
#   -c -w -s    before each part, while the temperature is above MAX_TEMP_MC (milli-degrees C)
#               wait in steps of STEP_S seconds (default 2), at most MAX_WAIT_S seconds
#               (default 120) in total for that part
#   -a          run the command under `taskset AFFINITY_MASK` when taskset exists
#   -t          read the temperature from this file (milli-degrees C) instead of the first
#               readable thermal zone
#   -P          also pass --profiling_output_csv_file=OUT/NAME.csv
#   -E          also pass --etdump_path=OUT/NAME.etdump (ExecuTorch's executor_runner)
#   -G FLAG     the flag that names the model file (default --graph; executor_runner:
#               --model_path)
#
# For each part it runs:  COMMAND ARG... --graph=GRAPH [--profiling_output_csv_file=OUT/NAME.csv]
# and writes OUT/NAME.stdout (stdout and stderr), OUT/NAME.rc (exit status; 128+N when killed
# by signal N), OUT/NAME.meta (key=value: temperatures before/after, per-core frequency and
# governor, battery level/status, timestamps, cool-down wait) and, if it had to be killed,
# OUT/NAME.timeout. OUT/runner.pid holds "pid pgid" of this script and OUT/child.pid the pid of
# the running command, so the kit can kill both if the whole adb call times out.
#
# SPLITBENCH_SYSFS (default /sys) moves the sysfs root, for testing on a computer.

SYSFS=${SPLITBENCH_SYSFS:-/sys}
OUT=
LIST=
TIMEOUT=0
MAX_TEMP=
MAX_WAIT=120
STEP=2
AFFINITY=
TEMP_FILE=
PROFILE_CSV=0
ETDUMP=0
GRAPH_FLAG=--graph
STATE_ONLY=

# read_file FILE: first line of FILE, or nothing when unreadable.
read_file() {
  [ -r "$1" ] || return 1
  value=
  IFS= read -r value 2>/dev/null < "$1" || [ -n "$value" ] || return 1
  printf '%s' "$value"
}

# temperature: "MILLI_C SOURCE" from TEMP_FILE, the first thermal zone with a plausible
# reading, or the battery (tenths of a degree); nothing when none is readable.
temperature() {
  if [ -n "$TEMP_FILE" ]; then
    t=$(read_file "$TEMP_FILE") && is_uint "$t" && { echo "$t $TEMP_FILE"; return 0; }
    return 1
  fi
  for zone in "$SYSFS"/class/thermal/thermal_zone*/temp; do
    t=$(read_file "$zone") || continue
    is_uint "$t" || continue # negative or garbage: a disabled sensor
    [ "$t" -gt 0 ] || continue
    [ "$t" -lt 1000 ] && t=$((t * 1000)) # a few drivers report whole degrees
    echo "$t $zone"
    return 0
  done
  t=$(read_file "$SYSFS/class/power_supply/battery/temp") || return 1
  is_uint "$t" || return 1
  echo "$((t * 100)) $SYSFS/class/power_supply/battery/temp"
}

now_uptime() {
  up=$(read_file /proc/uptime) || { echo unknown; return; }
  echo "${up%% *}"
}

# state PREFIX: temperature, per-core frequency and governor, battery, as key=value lines.
state() {
  p=$1
  echo "$p.epoch_s=$(date +%s)"
  echo "$p.uptime_s=$(now_uptime)"
  if reading=$(temperature); then
    echo "$p.temp_mC=${reading%% *}"
    echo "$p.temp_source=${reading#* }"
  else
    echo "$p.temp_mC=unknown"
  fi
  for cpu in "$SYSFS"/devices/system/cpu/cpu[0-9]*; do
    [ -d "$cpu" ] || continue
    n=${cpu##*/}
    echo "$p.$n.cur_khz=$(read_file "$cpu/cpufreq/scaling_cur_freq" || echo unknown)"
    echo "$p.$n.max_khz=$(read_file "$cpu/cpufreq/cpuinfo_max_freq" || echo unknown)"
    echo "$p.$n.governor=$(read_file "$cpu/cpufreq/scaling_governor" || echo unknown)"
    echo "$p.$n.online=$(read_file "$cpu/online" || echo unknown)"
  done
  bat=$SYSFS/class/power_supply/battery
  echo "$p.battery_level=$(read_file "$bat/capacity" || echo unknown)"
  echo "$p.battery_status=$(read_file "$bat/status" || echo unknown)"
  echo "$p.battery_temp_dC=$(read_file "$bat/temp" || echo unknown)"
}

usage() {
  echo "usage: runner.sh -o OUT_DIR -l LIST_FILE [-x S] [-c MC] [-w S] [-s S] [-a MASK]" \
    "[-t FILE] [-P] [-E] [-G FLAG] -- COMMAND [ARG...]" >&2
  exit 2
}

is_uint() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  return 0
}

while getopts o:l:x:c:w:s:a:t:m:PEG: opt; do
  case $opt in
    o) OUT=$OPTARG ;;
    l) LIST=$OPTARG ;;
    x) TIMEOUT=$OPTARG ;;
    c) MAX_TEMP=$OPTARG ;;
    w) MAX_WAIT=$OPTARG ;;
    s) STEP=$OPTARG ;;
    a) AFFINITY=$OPTARG ;;
    t) TEMP_FILE=$OPTARG ;;
    P) PROFILE_CSV=1 ;;
    E) ETDUMP=1 ;;
    G) case $OPTARG in --[a-z_]*) GRAPH_FLAG=$OPTARG ;; *) usage ;; esac ;;
    m) STATE_ONLY=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
if [ -n "$STATE_ONLY" ]; then
  state "$STATE_ONLY"
  exit 0
fi
[ -n "$OUT" ] && [ -n "$LIST" ] && [ $# -gt 0 ] || usage
is_uint "$TIMEOUT" && is_uint "$MAX_WAIT" && is_uint "$STEP" || usage
[ -z "$MAX_TEMP" ] || is_uint "$MAX_TEMP" || usage
[ "$STEP" -gt 0 ] || STEP=1
[ -r "$LIST" ] || { echo "runner.sh: cannot read $LIST" >&2; exit 2; }
mkdir -p "$OUT" || exit 2

# Our pid and process group: the kit kills the group (and the pids) when it gives up.
# Field 5 of /proc/PID/stat is the process group (the command name, field 2, is "(sh)" here).
field5() {
  set -f
  # shellcheck disable=SC2086
  set -- $1
  set +f
  echo "${5-}"
}
pgid=
if [ -r /proc/$$/stat ]; then
  read -r stat_line < /proc/$$/stat && pgid=$(field5 "$stat_line")
fi
echo "$$ $pgid" > "$OUT/runner.pid"

# cool_down: wait while hotter than MAX_TEMP, at most MAX_WAIT seconds; prints seconds waited.
cool_down() {
  waited=0
  if [ -n "$MAX_TEMP" ]; then
    while [ "$waited" -lt "$MAX_WAIT" ]; do
      reading=$(temperature) || break
      [ "${reading%% *}" -gt "$MAX_TEMP" ] || break
      sleep "$STEP"
      waited=$((waited + STEP))
    done
  fi
  echo "$waited"
}

# watchdog PID NAME: kill PID after TIMEOUT seconds, leaving NAME.timeout as the reason. Polls
# every second so it ends soon after PID does; its output goes nowhere so that it never holds
# the adb connection open.
watchdog() {
  elapsed=0
  while kill -0 "$1" 2>/dev/null; do
    if [ "$elapsed" -ge "$TIMEOUT" ]; then
      echo "$TIMEOUT" > "$OUT/$2.timeout"
      kill -9 "$1" 2>/dev/null
      return
    fi
    sleep 1
    elapsed=$((elapsed + 1))
  done
}

prefix=
if [ -n "$AFFINITY" ]; then
  if command -v taskset >/dev/null 2>&1; then
    prefix=taskset
    affinity_state=$AFFINITY
  else
    affinity_state=unavailable
  fi
else
  affinity_state=none
fi

# start_part NAME GRAPH COMMAND [ARG...]: start one run in the background; sets $child.
start_part() {
  part_name=$1
  part_graph=$2
  shift 2
  set -- "$@" "$GRAPH_FLAG=$part_graph"
  [ "$PROFILE_CSV" = 1 ] && set -- "$@" "--profiling_output_csv_file=$OUT/$part_name.csv"
  [ "$ETDUMP" = 1 ] && set -- "$@" "--etdump_path=$OUT/$part_name.etdump"
  [ -n "$prefix" ] && set -- taskset "$AFFINITY" "$@"
  "$@" > "$OUT/$part_name.stdout" 2>&1 < /dev/null &
  child=$!
  echo "$child" > "$OUT/child.pid"
}

while IFS= read -r line || [ -n "$line" ]; do
  case $line in '' | '#'*) continue ;; esac
  name=${line%% *}
  graph=${line#* }
  case $name in *[!A-Za-z0-9._-]* | '' | . | ..)
    echo "runner.sh: skipping bad part name '$name'" >&2
    continue ;;
  esac
  [ "$graph" != "$line" ] || { echo "runner.sh: no graph for '$name'" >&2; continue; }
  meta=$OUT/$name.meta
  rm -f "$OUT/$name.rc" "$OUT/$name.timeout" "$OUT/$name.csv" "$OUT/$name.etdump"
  {
    echo "name=$name"
    echo "graph=$graph"
    echo "affinity=$affinity_state"
  } > "$meta"
  waited=$(cool_down)
  echo "cooldown_wait_s=$waited" >> "$meta"
  state before >> "$meta"
  start_part "$name" "$graph" "$@"
  if [ "$TIMEOUT" -gt 0 ]; then
    watchdog "$child" "$name" > /dev/null 2>&1 < /dev/null &
  fi
  wait "$child"
  rc=$?
  state after >> "$meta"
  echo "rc=$rc" >> "$meta"
  echo "$rc" > "$OUT/$name.rc.tmp" && mv -f "$OUT/$name.rc.tmp" "$OUT/$name.rc"
done < "$LIST"
rm -f "$OUT/child.pid"
echo done > "$OUT/runner.done"
exit 0
