#!/usr/bin/env bash
# Run every test: the notebooks (nbdev_test, slow cells included) and the pytest suite in tests/.
# Prints, as its last line, `N passed, N failed` counting notebooks and pytest tests together.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f .venv/bin/activate ] && source .venv/bin/activate
export FIFTYONE_DO_NOT_TRACK=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
art=test-artifacts; mkdir -p "$art"
start=$(date +%s)

echo "== nbdev_test (2 workers, --flags slow)"
nbdev_test --n_workers 2 --flags slow --do_print --timing 2>&1 | tee "$art/nbdev_test.log"
nb_rc=${PIPESTATUS[0]}
nb_total=$(grep -c '^- Completed' "$art/nbdev_test.log" || true)
nb_failed=$(sed -n '/Failed On The Following Notebooks/,$p' "$art/nbdev_test.log" | grep -c $'^\t' || true)
if [ "$nb_rc" -ne 0 ] && [ "$nb_failed" -eq 0 ]; then nb_failed=1; fi
nb_passed=$(( nb_total > nb_failed ? nb_total - nb_failed : 0 ))

echo "== pytest tests/"
python -m pytest tests -q -p no:cacheprovider --junitxml="$art/pytest.xml" -o junit_family=xunit2
py_rc=$?
read -r py_passed py_failed < <(python - "$art/pytest.xml" "$py_rc" <<'PY'
import sys, xml.etree.ElementTree as ET
path, rc = sys.argv[1], int(sys.argv[2])
try: root = ET.parse(path).getroot()
except Exception: print(0, 0 if rc in (0, 5) else 1); sys.exit()
suites = [root] if root.tag == 'testsuite' else list(root)
n = lambda k: sum(int(s.get(k, 0)) for s in suites)
failed = n('failures') + n('errors')
passed = n('tests') - failed - n('skipped')
if rc not in (0, 5) and failed == 0: failed = 1  # pytest itself broke (collection, usage)
print(passed, failed)
PY
)

echo "notebooks: $nb_passed passed, $nb_failed failed; pytest: $py_passed passed, $py_failed failed; $(( $(date +%s) - start )) s"
total_failed=$(( nb_failed + py_failed ))
echo "$(( nb_passed + py_passed )) passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
