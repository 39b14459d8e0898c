"Shared fixtures: a small synthetic data set made once per test session, and the venv's console scripts."
import os, shutil, signal, socket, subprocess, sys, time, urllib.request
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

def wait_http(url:str, proc, seconds:float=120):
    "Poll `url` until it answers; fail with the server's output if `proc` dies or time runs out"
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None: raise AssertionError(f'server exited: {proc.stdout.read()[-3000:]}')
        try: return urllib.request.urlopen(url, timeout=5).read().decode(errors='replace')
        except OSError: time.sleep(1)
    raise AssertionError(f'{url} did not answer within {seconds} s')

def stop(proc):
    "Terminate a server started with start_new_session=True, and everything it started"
    os.killpg(proc.pid, signal.SIGTERM)
    try: proc.wait(20)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL)

def wait_port(port:int, proc, seconds:float=120):
    "Wait until something listens on 127.0.0.1:`port` (for servers whose pages are expensive to render)"
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None: raise AssertionError(f'server exited: {proc.stdout.read()[-3000:]}')
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
