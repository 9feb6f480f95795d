#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The private single-node Slurm cluster the Slurm runner is tested
# against (tests/slurm/cluster.sh) comes up and does what the runner
# relies on: sbatch --parsable, one squeue for several jobs, suspend and
# resume, hold and release, scancel, and scontrol show job after the end.
LIB_REQUIRED_TOOLS="python3"
. "$(dirname "$0")/lib.sh"
. "$SOURCE_DIR/tests/slurm/cluster.sh"

missing=$(slurm_cluster_missing)
[ -z "$missing" ] || skip "$missing is not installed (tools/run-tests installs slurm-wlm and munge)"
[ "$(id -u)" = 0 ] || skip "the test cluster runs slurmd as root"
trap 'rc=$?; slurm_cluster_stop; set +e; (exit $rc); cleanup' EXIT
slurm_cluster_start "$TEST_DIR/slurm" || fail "the Slurm cluster did not start"

cd "$TEST_DIR"
a=$(sbatch --parsable --job-name=marianne.a --wrap 'sleep 30') || fail "sbatch"
b=$(sbatch --parsable --job-name=marianne.b --hold --wrap 'exit 3') || fail "sbatch --hold"
states() { squeue -h -o '%i %t' -j "$a,$b" | sort; }
for _ in $(seq 100); do states | grep -q "^$a R$" && break; sleep 0.1; done
states | grep -q "^$a R$" || fail "job $a does not run: $(states)"
states | grep -q "^$b PD$" || fail "held job $b is not pending: $(states)"

scontrol suspend "$a" || fail "scontrol suspend"
states | grep -q "^$a S$" || fail "job $a is not suspended: $(states)"
scontrol resume "$a" || fail "scontrol resume"
states | grep -q "^$a R$" || fail "job $a did not resume: $(states)"

scontrol release "$b" || fail "scontrol release"
for _ in $(seq 100); do scontrol show job "$b" -o | grep -q "JobState=FAILED" && break; sleep 0.1; done
scontrol show job "$b" -o | grep -q "JobState=FAILED .*ExitCode=3:0" || fail "job $b: $(scontrol show job "$b" -o)"

scancel "$a" || fail "scancel"
for _ in $(seq 100); do [ -z "$(squeue -h -j "$a" -t R,S,PD)" ] && break; sleep 0.1; done
[ -z "$(squeue -h -j "$a" -t R,S,PD)" ] || fail "job $a is still queued after scancel"
for _ in $(seq 100); do scontrol show job "$a" -o | grep -q "JobState=CANCELLED" && break; sleep 0.1; done
scontrol show job "$a" -o | grep -q "JobState=CANCELLED" || fail "job $a: $(scontrol show job "$a" -o)"
echo OK
