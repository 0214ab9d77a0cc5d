#!/usr/bin/env bash
# A one-node Slurm on this machine, to try `elu-lab sweep --slurm` without a cluster (and for CI).
#
#   scripts/slurm-local.sh start    # start munged, slurmctld and slurmd; prints what to export
#   scripts/slurm-local.sh status   # the daemons' pids and `sinfo`
#   scripts/slurm-local.sh stop     # stop exactly the processes `start` started, by pid
#
# Needs Debian's `slurm-wlm` and `munge` (apt-get install slurm-wlm munge) and root (slurmd
# runs jobs as their owner). Everything it writes (slurm.conf, a munge key and socket, pid files,
# logs, the controller's state) lives in one directory, $ELU_LAB_SLURM_STATE (default
# /tmp/elu-lab-slurm), which it prints; nothing under /etc is touched. Clients find this Slurm
# through SLURM_CONF=<that directory>/slurm.conf. Works in containers: no systemd, no cgroups
# (proctrack/linuxproc, task/none).
set -euo pipefail

state=${ELU_LAB_SLURM_STATE:-/tmp/elu-lab-slurm}
host=$(hostname -s)
ctld_port=${ELU_LAB_SLURM_PORT:-6817}
slurmd_port=$((ctld_port + 1))

die() { echo "slurm-local: $*" >&2; exit 1; }

# A start that fails stops what it started, then says why.
fail_start() {
    stop >/dev/null 2>&1 || true
    die "$@"
}

alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits up to $2 seconds for the command $1 to succeed.
wait_for() {
    local i
    for ((i = 0; i < $2 * 5; i++)); do
        if eval "$1" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}

write_conf() {
    cat >"$state/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh: a one-node Slurm for trying array jobs.
ClusterName=elulab
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=300
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    [[ $(id -u) == 0 ]] || die "run as root (slurmd starts jobs as their owner)"
    for tool in munged mungekey slurmctld slurmd sinfo sbatch setpriv; do
        command -v "$tool" >/dev/null || die "$tool is missing: apt-get install slurm-wlm munge"
    done
    if alive "$state/slurmctld.pid" || alive "$state/slurmd.pid" || alive "$state/munged.pid"; then
        die "already running in $state (scripts/slurm-local.sh stop first)"
    fi
    mkdir -p "$state/ctld" "$state/slurmd" "$state/munge"
    chmod 755 "$state"
    # munge: a key of its own, a socket of its own, run as the munge user.
    chown munge:munge "$state/munge"
    chmod 700 "$state/munge"
    if [[ ! -s "$state/munge/munge.key" ]]; then
        mungekey --create --keyfile="$state/munge/munge.key"
    fi
    chown munge:munge "$state/munge/munge.key"
    chmod 600 "$state/munge/munge.key"
    chmod 711 "$state/munge" # clients reach the socket; the key stays the munge user's
    setpriv --reuid=munge --regid=munge --init-groups \
        munged --foreground --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
        --pid-file="$state/munge/munged.pid" --seed-file="$state/munge/munged.seed" \
        --log-file="$state/munge/munged.log" >"$state/munged.out" 2>&1 &
    echo $! >"$state/munged.pid"
    wait_for "munge --socket=$state/munge/munge.socket -n </dev/null" 10 ||
        fail_start "munged did not start: see $state/munge/munged.log and $state/munged.out"

    write_conf
    export SLURM_CONF="$state/slurm.conf"
    slurmctld -D -i -f "$SLURM_CONF" >"$state/slurmctld.out" 2>&1 &
    echo $! >"$state/slurmctld.pid"
    wait_for "scontrol ping | grep -q UP" 30 ||
        fail_start "slurmctld did not start: see $state/slurmctld.log and $state/slurmctld.out"
    slurmd -D -f "$SLURM_CONF" >"$state/slurmd.out" 2>&1 &
    echo $! >"$state/slurmd.pid"
    wait_for "sinfo -h -N -o %t | grep -Eq '^(idle|mix|alloc)'" 60 ||
        fail_start "slurmd did not come up: see $state/slurmd.log and $state/slurmd.out"
    echo "Slurm is running on $host ($(nproc) CPUs); state, conf and logs in $state"
    echo "Use it with:  export SLURM_CONF=$state/slurm.conf"
}

stop() {
    local name pidfile pid i stopped=0
    # slurmd first (it ends its jobs), then the controller, then munge.
    for name in slurmd slurmctld munged; do
        pidfile="$state/$name.pid"
        [[ -s "$pidfile" ]] || continue
        pid=$(cat "$pidfile")
        # Only the daemon started here: a pid reused by another program is left alone.
        if kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
            kill -TERM "$pid"
            for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            if kill -0 "$pid" 2>/dev/null; then
                echo "slurm-local: $name ($pid) did not stop in 20 s; killing it" >&2
                kill -KILL "$pid"
            fi
            stopped=$((stopped + 1))
        fi
        rm -f "$pidfile"
    done
    echo "Slurm stopped ($stopped processes); logs are kept in $state"
}

status() {
    local name pidfile
    for name in munged slurmctld slurmd; do
        pidfile="$state/$name.pid"
        if alive "$pidfile"; then echo "$name: running (pid $(cat "$pidfile"))"; else echo "$name: not running"; fi
    done
    if alive "$state/slurmctld.pid"; then
        SLURM_CONF="$state/slurm.conf" sinfo
    fi
    echo "state: $state (export SLURM_CONF=$state/slurm.conf)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
