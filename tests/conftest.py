"""Shared fixtures: a small synthetic data set and a small explained run made once per test session, the venv's console
scripts, servers on free loopback ports, and Debian's Chromium for the browser tests."""
import os, re, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent

def script(name:str)->str:
    "Path of an installed console script (the venv's), falling back to PATH"
    p = BIN / name
    return str(p) if p.exists() else (shutil.which(name) or name)

@pytest.fixture(scope='session')
def synth(tmp_path_factory)->Path:
    "OUT folder of a small synthetic data set (Kaggle layout + masks)"
    from xnn.data.synthetic import SynthConfig, synthesize
    out = tmp_path_factory.mktemp('synth')
    synthesize(out, SynthConfig(patients=30, size=96, seed=11), force=True)
    return out

@pytest.fixture(autouse=True)
def _offline_env(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('FIFTYONE_DO_NOT_TRACK', 'true')
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    yield

def small_checkpoint(path:Path)->Path:
    "An untrained small_cnn checkpoint at 64 px (seeded): enough to exercise serving, UIs and reports"
    import torch
    from xnn.data.loaders import Preprocess
    from xnn.models import create_model
    from xnn.train import save_classifier
    torch.manual_seed(0)
    return save_classifier(create_model('small_cnn', preprocess=Preprocess(64)), path)

def tree_hashes(root:Path)->dict:
    "SHA-1 of every file under `root`, plus the set of folders (to see deletions/additions)"
    from xnn.core import file_sha1
    out = {str(p.relative_to(root)): file_sha1(p) for p in sorted(root.rglob('*')) if p.is_file() and not p.is_symlink()}
    out['__dirs__'] = sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_dir())
    return out

os.environ.setdefault('MPLBACKEND', 'Agg')

def free_port()->int:
    "A free TCP port on the loopback interface"
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _output(proc)->str: return proc.stdout.read()[-3000:] if proc.stdout else '(output not captured)'

def wait_http(url:str, proc, seconds:float=120):
    "Poll `url` until it answers; fail with the server's output if `proc` dies or time runs out"
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None: raise AssertionError(f'server exited: {_output(proc)}')
        try: return urllib.request.urlopen(url, timeout=5).read().decode(errors='replace')
        except OSError: time.sleep(1)
    raise AssertionError(f'{url} did not answer within {seconds} s')

def stop(proc):
    "Terminate a server started with start_new_session=True, and everything it started"
    try: os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError: return            # it (and its group) already exited
    try: proc.wait(20)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait(20)

def wait_file(path:Path, check=lambda p: True, seconds:float=60)->Path:
    "Poll until `path` exists and `check(path)` holds (e.g. the PNG is complete); fail after `seconds`"
    deadline = time.time() + seconds
    while time.time() < deadline:
        if path.exists() and check(path): return path
        time.sleep(0.2)
    raise AssertionError(f'{path} was not written within {seconds} s')

def wait_port(port:int, proc, seconds:float=120):
    "Wait until something listens on 127.0.0.1:`port` (for servers whose pages are expensive to render)"
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None: raise AssertionError(f'server exited: {_output(proc)}')
        with socket.socket() as s:
            if s.connect_ex(('127.0.0.1', port)) == 0: return
        time.sleep(0.5)
    raise AssertionError(f'nothing listens on port {port} after {seconds} s')

class ThreadServer:
    "A uvicorn server for an ASGI app in a background thread on a free 127.0.0.1 port (for in-process UI tests)"
    def __init__(self, app):
        import threading, uvicorn
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host='127.0.0.1', port=self.port, log_level='warning', lifespan='on'))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
    @property
    def url(self)->str: return f'http://127.0.0.1:{self.port}'
    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive(): raise AssertionError('uvicorn did not start')
            time.sleep(0.1)
        return self
    def __exit__(self, *exc):
        self.server.should_exit = True; self.thread.join(30)

# --- a small explained run (synthetic films, untrained small_cnn, three methods), shared by the browser tests ---
@pytest.fixture(scope='session')
def explained_run(tmp_path_factory)->Path:
    "Folder with `data` (xnn_wrangle output), `m.ckpt` and `expl` (explain_split of six train films, three methods)"
    from xnn.data.synthetic import SynthConfig, synthesize
    from xnn.data.wrangle import wrangle
    from xnn.report import explain_split
    d = tmp_path_factory.mktemp('explained')
    synthesize(d / 'synth', SynthConfig(patients=16, size=96, seed=2, difficulty=0.))
    wrangle(d / 'synth/chest_xray', d / 'data', seed=0, verbose=False)
    explain_split(small_checkpoint(d / 'm.ckpt'), d / 'data', d / 'expl', split='train',
                  methods=('integrated_gradients', 'gradcam', 'occlusion'),
                  limit=6, batch_size=6, steps=4, sanity_images=2, progress=False)
    return d

# --- Chromium through Playwright ---
ART = Path(__file__).resolve().parents[1] / 'test-artifacts'
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
                 '--disable-component-update', '--disable-sync']

@pytest.fixture(scope='session')
def browser():
    if not Path(CHROMIUM).exists(): pytest.fail('Chromium is missing: apt-get install chromium (make install-browser, .ci/run do it)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    "Keep each phase's report on the test item (the `page` fixture reads it)"
    rep = yield
    setattr(item, f'rep_{rep.when}', rep)
    return rep

@pytest.fixture
def page(browser, request):
    "A fresh page (own context: no storage shared between tests), 1400×900, closed after the test; on failure its screenshot goes to test-artifacts/failed-<test>.png"
    ctx = browser.new_context(viewport={'width': 1400, 'height': 900})
    pg = ctx.new_page()
    yield pg
    if getattr(request.node, 'rep_call', None) is not None and request.node.rep_call.failed:
        ART.mkdir(exist_ok=True)
        try: pg.screenshot(path=str(ART / f'failed-{request.node.name}.png'))
        except Exception as e: print(f'no failure screenshot: {e}')
    ctx.close()

# The attribution browser's view: its badges, its image sources, and whether every image has loaded
_VIEW = """() => { const imgs = [...document.querySelectorAll('.widget-image')], b = document.querySelector('.xnn-badges');
    return {badges: b ? b.innerText : null, srcs: imgs.map(i => i.src), loaded: imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0)}; }"""

def wait_view(page, n:int, prev:dict=None, changed:tuple=(), timeout:float=120_000)->dict:
    "Wait until the attribution browser shows `n` loaded images and, compared with `prev`, new 'images' and/or 'badges'; return that view"
    js = f"""([n, prev, changed]) => {{ const v = ({_VIEW})();
        if (!v.loaded || v.srcs.length !== n) return null;
        if (changed.includes('images') && v.srcs.some(s => prev.srcs.includes(s))) return null;
        if (changed.includes('badges') && v.badges === prev.badges) return null;
        return v; }}"""
    return page.wait_for_function(js, arg=[n, prev or {}, list(changed)], timeout=timeout).json_value()

def film_path(view:dict)->str:
    "The film a view shows: the badges' first line"
    return view['badges'].split('\n')[0].strip()

def png_complete(p:Path)->bool:
    "Whether `p` is a whole PNG (not one still being written)"
    from PIL import Image
    try: Image.open(p).load(); return True
    except (OSError, SyntaxError): return False

def app_shows(page, name:str, n:int, loaded:int=8, timeout:float=120_000):
    "Wait until the FiftyOne App in `page` (a page or a frame) shows dataset `name`, 'n samples' and `loaded` rendered thumbnails"
    page.wait_for_function("""([name, n, loaded]) => {
        const ds = document.querySelector('[data-cy=selector-dataset]'), count = document.querySelector('[data-cy=entry-counts]');
        return ds && ds.value === name && count && count.innerText.trim() === `${n} samples`
               && document.querySelectorAll('[data-cy=looker] canvas[canvas-loaded=true]').length >= Math.min(n, loaded); }""",
        arg=[name, n, loaded], timeout=timeout)

# warnings, advertisements, device banners, logging records, and Lightning's remarks on reruns and new MLflow experiments
NOISE = re.compile(r'Warning|warn\(|💡|Tip:|deprecated|litlogger|available: False|\bINFO\b|exists and is not empty|Creating it')

def output_lines(r)->list:
    "Every line a finished process wrote to stdout or stderr, progress-bar redraws included"
    return [l for l in (r.stdout + r.stderr).replace('\r', '\n').splitlines() if l.strip()]

def noise(r)->list:
    "The lines of third-party chatter (`NOISE`) in a finished process's output: a user must not see any"
    return [l for l in output_lines(r) if NOISE.search(l)]
