"""The docs site without Quarto: every notebook is in the sidebar, and nbdev's notebook processing (what `nbdev_docs`
does before it hands over to Quarto) builds every page, with a rendered `show_doc` for every public function and class."""
import importlib, inspect, json, re, shutil, subprocess, sys
from pathlib import Path
import pytest, yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'

def notebooks()->list: return sorted(p.relative_to(NBS).as_posix() for p in NBS.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)

def sidebar_entries(node)->list:
    if isinstance(node, str): return [node]
    if isinstance(node, list): return [e for n in node for e in sidebar_entries(n)]
    return sidebar_entries(node.get('contents', [])) + ([node['href']] if 'href' in node else [])

def test_every_notebook_is_in_the_sidebar():
    q = yaml.safe_load((NBS / '_quarto.yml').read_text())
    listed = set(sidebar_entries(q['website']['sidebar']['contents']))
    assert set(notebooks()) - listed == set(), 'add these notebooks to nbs/_quarto.yml'
    assert listed - set(notebooks()) == set(), 'the sidebar lists notebooks that do not exist'

@pytest.fixture(scope='module')
def proc(tmp_path_factory):
    "nbdev's processing of all notebooks in a copy of the project (writes _proc/ there)"
    d = tmp_path_factory.mktemp('docs')
    for name in ('settings.ini', 'setup.py'): shutil.copy2(ROOT / name, d / name)
    shutil.copytree(NBS, d / 'nbs'); shutil.copytree(ROOT / 'xnn', d / 'xnn')
    r = subprocess.run([sys.executable, '-c', 'from nbdev.serve import proc_nbs; proc_nbs("nbs", n_workers=1)'], cwd=d,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    return d / '_proc', r.stderr

def test_processing_builds_every_page(proc):
    out, log = proc
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob('*.ipynb')) == notebooks()
    assert 'Found cells containing imports and other code' not in log   # the docs build would run those cells

def _modules():
    for f in sorted((ROOT / 'xnn').rglob('*.py')):
        m = re.search(r'File to edit: (\S+\.ipynb)', f.read_text()[:400])
        if m: yield '.'.join(f.relative_to(ROOT).with_suffix('').parts), (f.parent / m.group(1)).resolve().relative_to(NBS).as_posix()

def test_show_doc_for_every_public_function(proc):
    out, _ = proc
    missing = []
    for mod, nb in _modules():
        m = importlib.import_module(mod)
        public = [n for n in getattr(m, '__all__', []) if inspect.isfunction(getattr(m, n)) or inspect.isclass(getattr(m, n))]
        cells = json.loads((out / nb).read_text())['cells']
        shown = {mm.group(1) for c in cells if c['cell_type'] == 'code' and c.get('outputs')
                 for mm in [re.search(r'show_doc\((\w+)', ''.join(c['source']))] if mm}
        missing += [f'{mod}.{n}' for n in public if n not in shown]
    assert not missing, f'no rendered show_doc for: {missing}'
