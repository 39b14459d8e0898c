"""The benchmarks' bookkeeping: each attribution method's cost in words agrees with the model evaluations counted at the options the
API uses; `bench_methods.py` runs and writes its result file; the README's benchmark tables are the result files' (a stale README fails)."""
import inspect, json, subprocess, sys
from pathlib import Path
import pytest, torch
from xnn.data.loaders import Preprocess
from xnn.explain import METHODS, explain
from xnn.models import cam_shape, create_model
from xnn.trust import count_evaluations

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from make_readme import benchmark_markdown, method_cost_table, read_results, results_table   # noqa: E402

def occlusion_positions(h:int, window=None, stride=None)->int:
    "Window positions of `occlusion` on an h × h film, with its own defaults (a window of h/8, moved by half a window)"
    window = window or max(4, h // 8); stride = stride or max(2, window // 2)
    return ((h - window) // stride + 1) ** 2

# method: (the registry's cost in words, model evaluations per film besides the prediction `explain` makes first,
#          from the options `o` (the function's defaults, then `MethodSpec.fast`), the film's side `h` and the CAM layer's channels `c`)
COST = {
    'integrated_gradients': ('n_steps forward+backward', lambda o, h, c: o['n_steps'] + 2),   # + f(x) and f(baseline): the completeness gap
    'saliency': ('1', lambda o, h, c: 1),
    'smoothgrad': ('nt_samples', lambda o, h, c: o['nt_samples']),
    'gradient_shap': ('n_samples', lambda o, h, c: o['n_samples']),
    'deeplift': ('1', lambda o, h, c: 2),                    # one pass of the film and its baseline together
    'input_x_gradient': ('1', lambda o, h, c: 1),
    'guided_backprop': ('1', lambda o, h, c: 1),
    **{m: ('1 forward+backward', lambda o, h, c: 1) for m in ('gradcam', 'gradcam_pp', 'hirescam', 'xgradcam', 'layercam')},
    'eigencam': ('1 forward', lambda o, h, c: 1),
    'scorecam': ('channels of the layer (one forward per channel)', lambda o, h, c: c + 1),       # + the pass that records the activations
    'ablationcam': ('channels of the layer (one forward per channel)', lambda o, h, c: c + 2),    # + that pass and the unablated score
    'guided_gradcam': ('2 forward+backward', lambda o, h, c: 2),
    'occlusion': ('(H/stride)·(W/stride)', lambda o, h, c: occlusion_positions(h, o['window'], o['stride']) + 1),   # + the unoccluded film
    'feature_ablation': ('cells²', lambda o, h, c: o['cells'] ** 2 + 1),                        # + the unablated film
    'lime': ('n_samples', lambda o, h, c: o['n_samples']),
}

def options(method:str)->dict:
    "The options a method runs with in the API and `xnn_explain`: its function's defaults, overridden by `MethodSpec.fast`"
    spec = METHODS[method]
    return {k: p.default for k, p in inspect.signature(spec.fn).parameters.items() if p.default is not inspect.Parameter.empty} | spec.fast

def test_every_method_has_a_cost_entry():
    assert set(COST) == set(METHODS), 'add the new method to COST: its cost in words and its evaluations per film'

@pytest.fixture(scope='module')
def small():
    torch.manual_seed(0)
    m = create_model('small_cnn', preprocess=Preprocess(32)).eval()
    x = torch.randn(2, 3, 32, 32)
    return m, x[:2], cam_shape(m, x[:1])[1]

@pytest.mark.parametrize('method', list(METHODS))
def test_cost_words_match_counted_evaluations(small, method):
    m, x, channels = small
    words, extra = COST[method]
    assert METHODS[method].cost == words, f'{method}: the registry says {METHODS[method].cost!r}; update COST with the evaluations it means'
    def count(films):
        with count_evaluations(m) as n: explain(m, x[:films], method, seed=0, **METHODS[method].fast)
        return n.films
    one, two = count(1), count(2)
    per_film = two - one                       # what one more film costs; a call may add a fixed probe (IG sizes its passes on one film)
    assert per_film == 1 + extra(options(method), x.shape[-1], channels)
    assert 0 <= one - per_film <= 1, f'{method}: a call costs {one - per_film} evaluations besides its films'

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
    assert [m['evaluations_per_film'] for m in f['methods']] == [2, 1 + occlusion_positions(32) + 1]
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
