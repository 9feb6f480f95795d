# Shared by the fake Slurm commands: state lives in $FAKE_SLURM_DIR, or
# beside $SLURM_CONF (the only variable the runner passes on to sbatch).
#   counter  the last job id handed out
#   states   one line per job: "ID STATE EXITCODE" (tests edit it)
#   log      one line per call: the command and its arguments
set -eu
if [ -z "${FAKE_SLURM_DIR:-}" ] && [ -n "${SLURM_CONF:-}" ]; then
        FAKE_SLURM_DIR=$(dirname "$SLURM_CONF")
fi
: "${FAKE_SLURM_DIR:?FAKE_SLURM_DIR not set}"
D=$FAKE_SLURM_DIR
touch "$D/states" "$D/log"
echo "$(basename "$0") $*" >> "$D/log"

job_line() {
        awk -v id="$1" '$1 == id { print; exit }' "$D/states"
}

set_state() {
        awk -v id="$1" -v st="$2" -v ec="$3" '$1 == id { $2 = st; $3 = ec } { print }' "$D/states" > "$D/states.new"
        mv "$D/states.new" "$D/states"
}
