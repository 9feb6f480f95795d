# SPDX-License-Identifier: LGPL-2.1-or-later
# A private single-node Slurm cluster for tests: munged on its own socket
# and key, slurmctld and slurmd on free ports, all state under one
# directory.  Source this file, then:
#
#   slurm_cluster_start DIR     start it (exports SLURM_CONF); fails with
#                               the daemons' logs when it does not come up
#   slurm_cluster_stop          stop the daemons (also from a trap)
#
# SLURM_CLUSTER_USERS=1 lets users other than root submit;
# SLURM_CLUSTER_CGROUP_PLUGIN sets cgroup.conf's CgroupPlugin= where
# autodetection fails.
#
# Needs Debian's slurm-wlm and munge (tools/install-deps installs them).

SLURM_CLUSTER_DIR=
SLURM_CLUSTER_PIDS=()

slurm_cluster_missing() { # prints what is missing, if anything
        local t
        for t in munged slurmctld slurmd sbatch squeue scontrol scancel; do
                command -v "$t" >/dev/null || { echo "$t"; return; }
        done
}

slurm_free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slurm_cluster_start() {
        local d=$1 ctld_port slurmd_port
        SLURM_CLUSTER_DIR=$d
        mkdir -p "$d/state" "$d/spool" "$d/log" "$d/munge"
        # other users submit too when SLURM_CLUSTER_USERS=1: they need the
        # munge socket and slurm.conf (the key stays root's)
        if [ "${SLURM_CLUSTER_USERS:-0}" = 1 ]; then
                chmod 0755 "$d" "$d/munge"
        else
                chmod 0700 "$d/munge"
        fi
        head -c 1024 /dev/urandom > "$d/munge/munge.key"
        chmod 0400 "$d/munge/munge.key"
        munged --key-file="$d/munge/munge.key" --socket="$d/munge/munge.sock" \
                --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
                --seed-file="$d/munge/seed" --force || return 1
        SLURM_CLUSTER_PIDS+=("$(cat "$d/munge/munged.pid")")

        ctld_port=$(slurm_free_port)
        slurmd_port=$(slurm_free_port)
        cat > "$d/slurm.conf" <<CONF
ClusterName=marianne-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MinJobAge=300
NodeName=localhost CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
        # a container with a unified /sys/fs/cgroup on a hybrid host fools
        # slurmd's cgroup autodetection, which gives up ("Hybrid mode")
        if [ -n "${SLURM_CLUSTER_CGROUP_PLUGIN:-}" ]; then
                echo "CgroupPlugin=$SLURM_CLUSTER_CGROUP_PLUGIN" > "$d/cgroup.conf"
        fi
        export SLURM_CONF=$d/slurm.conf
        slurmctld -f "$SLURM_CONF" || return 1
        slurmd -f "$SLURM_CONF" || return 1
        for _ in $(seq 100); do
                [ -s "$d/slurmctld.pid" ] && [ -s "$d/slurmd.pid" ] &&
                        sinfo -h -o '%t' 2>/dev/null | grep -qx idle && break
                sleep 0.1
        done
        [ -s "$d/slurmctld.pid" ] && SLURM_CLUSTER_PIDS+=("$(cat "$d/slurmctld.pid")")
        [ -s "$d/slurmd.pid" ] && SLURM_CLUSTER_PIDS+=("$(cat "$d/slurmd.pid")")
        if ! sinfo -h -o '%t' 2>/dev/null | grep -qx idle; then
                echo "the Slurm cluster did not come up:" >&2
                tail -n 20 "$d/log/slurmctld.log" "$d/log/slurmd.log" "$d/munge/munged.log" >&2 2>/dev/null
                return 1
        fi
}

slurm_cluster_stop() {
        local pid
        [ -n "$SLURM_CLUSTER_DIR" ] || return 0
        # our cluster's jobs first, so no step daemon outlives it
        scancel --partition=debug 2>/dev/null || true
        for _ in $(seq 30); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.1; done
        for pid in "${SLURM_CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
        for _ in $(seq 50); do
                local alive=0
                for pid in "${SLURM_CLUSTER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
                [ $alive = 0 ] && break
                sleep 0.1
        done
        for pid in "${SLURM_CLUSTER_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
        SLURM_CLUSTER_PIDS=()
        SLURM_CLUSTER_DIR=
}
