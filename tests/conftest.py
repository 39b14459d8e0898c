"Shared fixtures: a small synthetic data set made once per test session, and the venv's console scripts."
import os, shutil, sys
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

def tree_hashes(root:Path)->dict:
    "SHA-1 of every file under `root`, plus the set of folders (to see deletions/additions)"
    from xnn.core import file_sha1
    out = {str(p.relative_to(root)): file_sha1(p) for p in sorted(root.rglob('*')) if p.is_file() and not p.is_symlink()}
    out['__dirs__'] = sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_dir())
    return out

os.environ.setdefault('MPLBACKEND', 'Agg')
