"""The benchmarks' bookkeeping: each attribution method's registered cost (`method_cost`, what `/model`
reports) equals the model evaluations counted at the options the API uses; `bench_methods.py` runs and writes its result file; the README's benchmark tables are the result files' (a stale README fails)."""
import json, subprocess, sys
from pathlib import Path
import pytest, torch
from xnn.data.loaders import Preprocess
from xnn.explain import METHODS, explain, method_cost, occlusion_grid
from xnn.models import cam_shape, create_model
from xnn.trust import count_evaluations

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from make_readme import benchmark_markdown, method_cost_table, read_results, results_table   # noqa: E402

def test_every_method_states_its_cost():
    for name, spec in METHODS.items():
        assert spec.cost and spec.evaluations is not None, f'{name}: register its cost in words and its evaluations per film'

@pytest.fixture(scope='module')
def small():
    torch.manual_seed(0)
    m = create_model('small_cnn', preprocess=Preprocess(32)).eval()
    x = torch.randn(2, 3, 32, 32)
    return m, x[:2], cam_shape(m, x[:1])[1]

@pytest.mark.parametrize('method', list(METHODS))
def test_registered_cost_matches_counted_evaluations(small, method):
    "The registry's formula (what `/model` and the cost table report) against the evaluations counted on a real call"
    m, x, channels = small
    def count(films):
        with count_evaluations(m) as n: explain(m, x[:films], method, seed=0, **METHODS[method].fast)
        return n.films
    one, two = count(1), count(2)
    per_film = two - one                       # what one more film costs; a call may add a fixed probe (IG sizes its passes on one film)
    assert per_film == method_cost(method, x.shape[-1], channels), f'{method}: {METHODS[method].cost!r} is not what it costs'
    assert 0 <= one - per_film <= 1, f'{method}: a call costs {one - per_film} evaluations besides its films'

def test_method_cost_of_film_dependent_options():
    assert method_cost('integrated_gradients', 224, n_steps='auto') is None          # chosen per film
    assert method_cost('scorecam', 224) is None                                      # needs the layer's channels
    assert method_cost('occlusion', 224, window=32, stride=16) == 1 + occlusion_grid(224, 32, 16)[2] + 1 == 171

def test_bench_methods_writes_its_result(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / 'benchmarks/bench_methods.py'), '--films', '2', '--size', '32', '--model', 'small_cnn',
                        '--methods', 'saliency,occlusion', '--max-seconds', '5', '--split-films', '10', '--out', str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1].startswith('ratio: ')
    doc = json.loads((tmp_path / 'methods.json').read_text())
    f = doc['figures']
    assert doc['name'] == 'methods' and len(doc['rows']) == 1 and f['split_films'] == 10
    assert [m['method'] for m in f['methods']] == ['saliency', 'occlusion']
    assert [m['evaluations_per_film'] for m in f['methods']] == [method_cost('saliency', 32), method_cost('occlusion', 32)]
    assert all(m['films_per_s'] > 0 and m['projected_split_s'] == pytest.approx(10 / m['films_per_s']) for m in f['methods'])
    t = method_cost_table(doc)
    assert list(t.index) == ['`saliency`', '`occlusion`'] and '10-film split' in t

def _result(name, rows=1, **figures):
    return dict(name=name, script=f'benchmarks/bench_{name}.py', date='2025-01-02T03:04:05+00:00', figures=figures,
                machine=dict(cpu='Some CPU', cores=2, gpu=None), rows=[dict(benchmark=f'{name} {i}', baseline='b', xnn='x', ratio='2×') for i in range(rows)])

def test_tables_from_whatever_results_exist(tmp_path):
    assert 'No benchmark results yet' in benchmark_markdown(tmp_path)
    for d in (_result('serve'), _result('loading', 2), _result('pipeline', stages=[dict(stage='decode', seconds=1.5), dict(stage='forward', seconds=2.)])):
        (tmp_path / f"{d['name']}.json").write_text(json.dumps(d))
    assert [d['name'] for d in read_results(tmp_path)] == ['loading', 'serve', 'pipeline']      # the README's order, whatever exists
    t = results_table(read_results(tmp_path))
    assert list(t.index) == ['loading 0', 'loading 1', 'serve 0', 'pipeline 0'] and (t.measured == '2025-01-02, Some CPU (2 cores, no GPU)').all()
    md = benchmark_markdown(tmp_path)
    assert '| decode ' in md and 'What each method costs' not in md      # pipeline's stages shown; no methods.json, no cost table
    per_size = _result('pipeline', stages={'wrangle': dict(films=[600, 2000], wall_s=[1.5, 4.25], exponent=None)})
    (tmp_path / 'pipeline.json').write_text(json.dumps(per_size))
    assert '| wrangle | 600 / 2000 | 1.5 / 4.25 | —  ' in benchmark_markdown(tmp_path)      # a figure per size, joined; none shown as —
    (tmp_path / 'broken.json').write_text('{')
    with pytest.raises(ValueError, match='broken.json is not valid JSON'): read_results(tmp_path)

def test_readme_shows_the_result_files():
    "README.md holds exactly the tables the result files give: re-run `make nbs NB=nbs/index.ipynb` after a benchmark"
    md = benchmark_markdown()
    assert md.strip() in (ROOT / 'README.md').read_text(), 'the README benchmark tables are stale: run make nbs NB=nbs/index.ipynb'
