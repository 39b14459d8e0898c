"""`benchmarks/bench_pipeline.py` at two tiny sizes: every stage runs in its own process and the result file has every
stage with its wall time, peak RSS and scaling exponent, the targets and valid README rows. No speed is asserted."""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))
from bench_pipeline import STAGES, class_counts, exponent, film_plan  # noqa: E402

def test_class_balance_and_test_folder():
    assert class_counts(5856) == dict(normal=1583, bacteria=2780, virus=1493)
    assert sum(class_counts(600).values()) == 600 and class_counts(600)['bacteria'] == 285
    plan = film_plan(5856)
    assert sum(f.startswith('test/') for f, *_ in plan) == 624                        # Kaggle's test folder, as in the real set
    assert len({(f, n) for f, n, *_ in plan}) == 5856                                   # no two films share a name

def test_exponent():
    assert abs(exponent([10, 100, 1000], [1, 10, 100]) - 1) < 1e-9
    assert abs(exponent([10, 100], [1, 100]) - 2) < 1e-9
    assert exponent([10], [1]) is None

def test_tiny_run(tmp_path):
    r = subprocess.run([sys.executable, 'benchmarks/bench_pipeline.py', '--sizes', '24,36', '--px', '96,128', '--size', '64', '--explain-share', '1',
                        '--cache', str(tmp_path / 'films'), '--work', str(tmp_path / 'work'), '--out', str(tmp_path / 'out')],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1].startswith('ratio: ')
    doc = json.loads((tmp_path / 'out/pipeline.json').read_text())
    f = doc['figures']
    assert f['sizes'] == [24, 36] and set(f['stages']) == set(STAGES)
    for s, v in f['stages'].items():
        assert len(v['wall_s']) == len(v['rss_mib']) == len(v['films']) == 2, s
        assert all(w > 0 for w in v['wall_s']) and all(m > 10 for m in v['rss_mib']), s   # a Python process holds > 10 MiB
        assert isinstance(v['exponent'], float), s
    assert f['stages']['wrangle']['films'] == [24, 36]                                   # every film kept
    assert f['stages']['FiftyOne heat maps']['films'] == f['stages']['xnn_explain (IG + Grad-CAM)']['films']
    assert set(f['targets']) == {'exponent', 'rss_growth', 'fiftyone'} and all(isinstance(t['passed'], bool) for t in f['targets'].values())
    assert f['probe']['36']['occlusion_s_per_film'] > 0 and f['probe']['36']['lime_projected_s'] > 0
    assert len(doc['rows']) == len(STAGES) and all(set(r) == {'benchmark', 'baseline', 'xnn', 'ratio'} for r in doc['rows'])
    assert not (tmp_path / 'work/n24').exists()                                          # each size's working files removed
