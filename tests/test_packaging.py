"""Packaging: `pip install xnn` is the library (data, models, training, explanations, trust, reports); servers, the UI,
FiftyOne and the notebook front ends are extras. Checks that settings.ini/setup.py, `xnn.core.EXTRAS`, the imports in
the code, environment.yml, the pre-commit hooks and the GitHub workflow agree — all offline and in seconds."""
import ast, configparser, importlib.metadata as md, json, os, re, runpy, subprocess, sys
from pathlib import Path
import pytest, yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# The modules of `pip install xnn`; everything else in xnn/ names the extra it needs.
CORE = ('xnn.core', 'xnn.data.synthetic', 'xnn.data.wrangle', 'xnn.data.eda', 'xnn.data.loaders', 'xnn.models', 'xnn.metrics',
        'xnn.train', 'xnn.evaluate', 'xnn.run', 'xnn.explain', 'xnn.trust', 'xnn.artifacts', 'xnn.report', 'xnn.demo')
OPTIONAL = {'xnn.serve': 'serve', 'xnn.app': 'ui', 'xnn.fiftyone': 'fiftyone', 'xnn.dashboard': 'notebooks'}
EXTRA_PACKAGES = ('fastapi', 'uvicorn', 'multipart', 'python_multipart', 'streamlit', 'fiftyone', 'umap', 'jupyterlab', 'voila', 'ipywidgets')

def names(reqs)->set: return {canonicalize_name(Requirement(r).name) for r in reqs}

@pytest.fixture(scope='module')
def setup_kwargs()->dict:
    "What setup.py passes to `setuptools.setup`, read by running setup.py with `setup` replaced"
    import setuptools
    got, real, cwd = {}, setuptools.setup, os.getcwd()
    setuptools.setup = lambda **kw: got.update(kw)
    try: os.chdir(ROOT); runpy.run_path(str(ROOT / 'setup.py'), run_name='__main__')
    finally: setuptools.setup = real; os.chdir(cwd)
    return got

@pytest.fixture(scope='module')
def settings():
    ini = configparser.ConfigParser(delimiters=['=']); ini.read(ROOT / 'settings.ini', encoding='utf-8')
    return ini['DEFAULT']

def test_core_install_holds_no_extra(setup_kwargs, settings):
    extras, core = setup_kwargs['extras_require'], names(setup_kwargs['install_requires'])
    declared = settings['extras'].split()
    assert set(extras) == {*declared, 'all', 'dev'}, f'setup.py extras {sorted(extras)} do not match settings.ini extras {declared} + all, dev'
    for e in declared:
        assert extras[e] == settings[f'{e}_requirements'].split() and extras[e], f'setup.py extra {e!r} does not list settings.ini {e}_requirements'
        assert not core & names(extras[e]), f'install_requires holds packages of the {e!r} extra: {sorted(core & names(extras[e]))}'
    assert names(extras['all']) == set().union(*(names(extras[e]) for e in declared)), "the 'all' extra is not the union of the others"
    for pkg in ('fastapi', 'uvicorn', 'python-multipart', 'streamlit', 'fiftyone', 'umap-learn', 'jupyterlab', 'voila', 'ipywidgets', 'httpx'):
        assert pkg not in core and pkg in names(extras['all']), f'{pkg}: expected in an extra, not in install_requires'

def test_EXTRAS_modules_come_from_their_extra(setup_kwargs):
    from xnn.core import EXTRAS
    extras, provided_by = setup_kwargs['extras_require'], md.packages_distributions()
    assert set(EXTRAS) == set(extras) - {'all', 'dev'}, f'xnn.core.EXTRAS has {sorted(EXTRAS)}; settings.ini extras differ'
    for e, modules in EXTRAS.items():
        for m in modules:
            assert m in provided_by, f'xnn.core.EXTRAS[{e!r}]: module {m!r} is not installed here, so its distribution is unknown'
            dists = names(provided_by[m])
            assert dists & names(extras[e]), f'xnn.core.EXTRAS[{e!r}]: module {m!r} comes from {sorted(dists)}, which settings.ini {e}_requirements lacks'

def _unconditional(reqs)->list:
    "Names of the requirements in `reqs` that hold without extras, on this Python"
    return [canonicalize_name(r.name) for r in map(Requirement, reqs) if not r.marker or r.marker.evaluate({'extra': ''})]

def _requires(dist:str)->list:
    "Names of `dist`'s unconditional requirements, from the installed metadata"
    try: return _unconditional(md.distribution(dist).requires or [])
    except md.PackageNotFoundError: return []

def _closure(roots)->set:
    seen, todo = set(), list(roots)
    while todo:
        n = todo.pop()
        if n not in seen: seen.add(n); todo += _requires(n)
    return seen

def _imports(path:Path)->set:
    "Top-level names of the absolute imports anywhere in `path` (lazy ones too), except those under `try` (optional by design)"
    found = set()
    def visit(node, in_try=False):
        for ch in ast.iter_child_nodes(node):
            if isinstance(ch, ast.Import) and not in_try: found.update(a.name.split('.')[0] for a in ch.names)
            elif isinstance(ch, ast.ImportFrom) and not in_try and not ch.level: found.add(ch.module.split('.')[0])
            visit(ch, in_try or isinstance(ch, ast.Try))
    visit(ast.parse(path.read_text()))
    return found - set(sys.stdlib_module_names) - {'xnn', '__future__'}

def test_every_import_is_a_declared_requirement(setup_kwargs):
    "Each third-party module a file of xnn imports (at the top or inside a function) is installed by `pip install xnn`, plus its extra"
    provided_by, extras = md.packages_distributions(), setup_kwargs['extras_require']
    core = _closure(names(setup_kwargs['install_requires']))
    for f in sorted((ROOT / 'xnn').rglob('*.py')):
        mod = '.'.join(f.relative_to(ROOT).with_suffix('').parts).removesuffix('.__init__')
        if mod == 'xnn._modidx': continue
        extra = OPTIONAL.get(mod)
        allowed = core | (_closure(names(extras[extra])) if extra else set())
        for m in sorted(_imports(f)):
            dists = names(provided_by.get(m, []))
            assert dists, f'{f.relative_to(ROOT)} imports {m!r}, which no installed distribution provides'
            assert dists & allowed, (f'{f.relative_to(ROOT)} imports {m!r} (from {sorted(dists)}), which '
                                     f'{"the " + repr(extra) + " extra" if extra else "pip install xnn"} does not install')

_BLOCKED_RUN = '''
import json, sys
BLOCK = set(sys.argv[1].split(','))
class Block:
    "A finder that makes BLOCK and their submodules unimportable, as if they were not installed"
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCK: raise ModuleNotFoundError(f'No module named {name!r} (hidden by test_packaging)', name=name)
sys.meta_path.insert(0, Block())
for m in BLOCK: sys.modules[m] = None      # also how find_spec() learns that a module is absent
out = {}
for m in sys.argv[2].split(','):
    try: __import__(m); out[m] = None
    except Exception as e: out[m] = f'{type(e).__name__}: {e}'
print(json.dumps(out))
'''

@pytest.fixture(scope='module')
def without_extras()->dict:
    "Import every module of xnn in a fresh Python where the extras' packages cannot be imported: module → None or the error"
    mods = ('fastapi', 'streamlit', 'jupyterlab') + CORE + tuple(OPTIONAL)
    env = dict(os.environ, FIFTYONE_DO_NOT_TRACK='true', HF_HUB_OFFLINE='1', MPLBACKEND='Agg')
    r = subprocess.run([sys.executable, '-c', _BLOCKED_RUN, ','.join(EXTRA_PACKAGES), ','.join(mods)],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0, f'the import check itself failed:\n{r.stderr[-3000:]}'
    return json.loads(r.stdout.strip().splitlines()[-1])

def test_core_modules_import_without_extras(without_extras):
    for m in ('fastapi', 'streamlit', 'jupyterlab'): assert without_extras[m], f'{m} was not hidden: the check proves nothing'
    broken = {m: e for m, e in without_extras.items() if m in CORE and e}
    assert not broken, f'core modules need an extra to import: {broken}'

@pytest.mark.parametrize('mod', ['xnn.serve', 'xnn.fiftyone', 'xnn.dashboard'])
def test_optional_module_names_its_extra(without_extras, mod):
    err, extra = without_extras[mod], OPTIONAL[mod]
    assert err and err.startswith(('ImportError', 'ModuleNotFoundError')), f'import {mod} without its extra gave {err!r}, not an ImportError'
    assert f"pip install 'xnn[{extra}]'" in err, f"import {mod} without its extra does not say pip install 'xnn[{extra}]': {err}"

def test_environment_yml_agrees_with_settings(settings):
    env = yaml.safe_load((ROOT / 'environment.yml').read_text())
    assert env['channels'] == ['conda-forge'], f"environment.yml channels {env['channels']}: expected conda-forge only"
    deps = env['dependencies']
    py = next(d for d in deps if isinstance(d, str) and d.startswith('python='))
    assert py == 'python=3.11' and tuple(map(int, settings['min_python'].split('.'))) <= (3, 11), f'environment.yml: {py}'
    assert 'pip' in deps, 'environment.yml: pip is not a conda dependency'
    pip = next(d['pip'] for d in deps if isinstance(d, dict))
    pins = [l.strip() for l in (ROOT / 'constraints.txt').read_text().splitlines() if re.match(r'torch(vision)?==', l.strip())]
    assert len(pins) == 2 and all(p in pip for p in pins), f'environment.yml pip section {pip} lacks the torch pins of constraints.txt {pins}'
    local = next(p for p in pip if p.startswith('-e '))
    got = set(re.fullmatch(r'-e \.\[([\w,]+)\]', local).group(1).split(','))
    assert 'all' in got and got <= {'all', 'dev'}, f'environment.yml installs {local}: expected -e .[all]'

def test_github_workflow_runs_make_test_on_311():
    wf = yaml.safe_load((ROOT / '.github/workflows/test.yml').read_text())
    assert {'push', 'pull_request'} <= set(wf.get('on') or wf.get(True)), '.github/workflows/test.yml: not run on push and pull requests'
    steps = [s for job in wf['jobs'].values() for s in job['steps']]
    assert all(job['runs-on'].startswith('ubuntu') for job in wf['jobs'].values())
    py = [s['with']['python-version'] for s in steps if s.get('uses', '').startswith('actions/setup-python')]
    assert py == ['3.11'], f'.github/workflows/test.yml sets up Python {py}, expected 3.11'
    runs = [s.get('run', '') for s in steps]
    assert any(re.search(r'(^|\s)make test(\s|$)', r) for r in runs), '.github/workflows/test.yml never runs make test'
    assert any('make install-browser' in r for r in runs), '.github/workflows/test.yml does not install the browser'

def test_pre_commit_hooks_are_local():
    cfg = yaml.safe_load((ROOT / '.pre-commit-config.yaml').read_text())
    assert [r['repo'] for r in cfg['repos']] == ['local'], '.pre-commit-config.yaml: remote hook repositories cannot be fetched here'
    hooks = {h['id']: h for h in cfg['repos'][0]['hooks']}
    assert {'ruff', 'nbdev-clean', 'nbdev-export'} <= set(hooks), f'.pre-commit-config.yaml lacks hooks: {sorted(hooks)}'
    assert all(h['language'] in ('system', 'pygrep') for h in hooks.values())
    assert re.fullmatch(r'ruff check( --\S+)* xnn tests benchmarks tools', hooks['ruff']['entry']), f"ruff hook runs {hooks['ruff']['entry']!r}"

def test_core_install_resolves_without_extras(tmp_path):
    "pip resolves `pip install xnn` (dry run) to a set without the extras' packages; skipped where no index answers in time"
    for f in ('setup.py', 'settings.ini', 'pyproject.toml', 'README.md', 'LICENSE', 'MANIFEST.in'): (tmp_path / f).write_bytes((ROOT / f).read_bytes())
    (tmp_path / 'xnn').mkdir(); (tmp_path / 'xnn/__init__.py').write_text((ROOT / 'xnn/__init__.py').read_text())
    cmd = [sys.executable, '-m', 'pip', 'install', '--dry-run', '--ignore-installed', '--no-build-isolation', '-q', '--report', str(tmp_path / 'r.json'), str(tmp_path)]
    try: r = subprocess.run(cmd, capture_output=True, text=True, timeout=50)
    except subprocess.TimeoutExpired: pytest.skip('pip took over 50 s to resolve (no pip cache or slow index)')
    if r.returncode and re.search(r'connection|network|resolve host|No matching distribution|Could not find', r.stderr, re.I):
        pytest.skip(f'no package index answered: {r.stderr.strip().splitlines()[-1]}')
    assert r.returncode == 0, f'pip could not resolve xnn:\n{r.stderr[-2000:]}'
    report = json.loads((tmp_path / 'r.json').read_text())['install']
    got = {canonicalize_name(i['metadata']['name']): i for i in report}
    assert 'torch' in got and 'xnn' in got
    for pkg in ('streamlit', 'fiftyone', 'jupyterlab', 'voila', 'ipywidgets', 'umap-learn', 'python-multipart', 'httpx'):
        assert pkg not in got, f'pip install xnn pulls {pkg}, which belongs to an extra'
    for pkg in ('fastapi', 'uvicorn'):    # MLflow's own server brings these; nothing else may
        by = sorted(n for n, i in got.items() if pkg in _unconditional(i['metadata'].get('requires_dist', [])))
        assert pkg not in got or all(b.startswith('mlflow') for b in by), f'pip install xnn pulls {pkg} through {by}'

def test_make_and_ci_use_the_extras_and_the_hooks():
    make, ci = (ROOT / 'Makefile').read_text(), (ROOT / '.ci/run').read_text()
    assert "-e '.[all,dev]'" in make, 'Makefile: make install does not install every extra and the dev tools'
    lint = re.search(r'^lint:.*\n((?:\t.*\n)+)', make, re.M)
    assert lint and 'pre-commit run --all-files' in lint.group(1), 'Makefile: make lint does not run the pre-commit hooks'
    assert 'pre-commit run --all-files' in ci and ci.index('pre-commit run') < ci.index('tools/run_tests.sh'), '.ci/run: no pre-commit before the tests'
    assert ci.count('echo "0 passed, 1 failed"') >= 2, '.ci/run: a failed check must end with the line 0 passed, 1 failed'
