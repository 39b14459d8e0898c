"""The attribution browser in a real browser: Voila serves a notebook with it on 127.0.0.1, Playwright drives Debian's
Chromium — images render, "next" changes the film. Screenshots go to test-artifacts/ (README uses them)."""
import os, re, shutil, subprocess, sys, time
from pathlib import Path
import nbformat, pytest
from conftest import free_port, stop, wait_http, wait_port

ART = Path(__file__).resolve().parents[1] / 'test-artifacts'
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
        '--disable-component-update', '--disable-sync']

@pytest.fixture(scope='module')
def browser():
    if not Path(CHROMIUM).exists(): pytest.fail('Chromium is missing: apt-get install chromium (make install-browser, .ci/run do it)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()

@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    from xnn.data.loaders import Preprocess
    from xnn.data.synthetic import SynthConfig, synthesize
    from xnn.data.wrangle import wrangle
    from xnn.models import create_model
    from xnn.report import explain_split
    from xnn.train import save_classifier
    d = tmp_path_factory.mktemp('browse')
    synthesize(d / 'synth', SynthConfig(patients=16, size=96, seed=2, difficulty=0.))
    wrangle(d / 'synth/chest_xray', d / 'data', seed=0, verbose=False)
    ck = save_classifier(create_model('small_cnn', preprocess=Preprocess(64)), d / 'm.ckpt')
    explain_split(ck, d / 'data', d / 'expl', 'train', ('integrated_gradients', 'gradcam', 'occlusion'), limit=6, batch_size=6, steps=4,
                  sanity_images=2, progress=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from xnn.dashboard import AttributionBrowser\nAttributionBrowser('expl', 'data', export_dir='exports')")])
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3', language='python')
    nbformat.write(nb, d / 'dashboard.ipynb')
    return d

def test_dashboard_in_voila(run_dir, browser):
    port = free_port()
    env = dict(os.environ, PATH=f'{Path(sys.executable).parent}:{os.environ["PATH"]}', MPLBACKEND='Agg')
    proc = subprocess.Popen([sys.executable, '-m', 'voila', 'dashboard.ipynb', '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1'],
                            cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_port(port, proc)            # Voila renders the page by running the notebook: one request, with a long timeout
        page = browser.new_page(viewport={'width': 1400, 'height': 1000})
        page.goto(f'http://127.0.0.1:{port}/', timeout=240_000)
        page.wait_for_function("() => [...document.querySelectorAll('.widget-image')].filter(i => i.naturalWidth > 0).length >= 3", timeout=120_000)
        srcs = lambda: page.eval_on_selector_all('.widget-image', 'els => els.map(e => e.src)')
        before, label = srcs(), page.inner_text('.xnn-badges')
        page.get_by_role('button', name='next ▶').click()
        page.wait_for_function("(b) => document.querySelector('.xnn-badges').innerText !== b", arg=label, timeout=60_000)
        after = srcs()
        assert after != before and len(after) == len(before)
        ART.mkdir(exist_ok=True); page.screenshot(path=str(ART / 'dashboard.png'), full_page=True)
        page.get_by_role('button', name='export PNG').click()
        deadline = time.time() + 30
        while time.time() < deadline and not list((run_dir / 'exports').glob('*.png')): time.sleep(0.5)
        assert list((run_dir / 'exports').glob('*.png'))
    finally: stop(proc)

def test_fiftyone_app_screenshot(run_dir, browser):
    "The FiftyOne App with the data set, predictions and heat maps, rendered in Chromium"
    import fiftyone as fo
    from xnn.fiftyone import add_explanations, add_predictions, build_dataset, save_views
    name, port = f'xnn-test-{os.getpid()}-shot', free_port()
    ds = build_dataset(run_dir / 'data', name, persistent=True)
    add_predictions(ds, run_dir / 'm.ckpt'); add_explanations(ds, run_dir / 'expl'); save_views(ds)
    script = Path(sys.executable).parent / 'xnn_fiftyone'
    proc = subprocess.Popen([str(script), '--data', str(run_dir / 'data'), '--name', name, '--port', str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_http(f'http://127.0.0.1:{port}/', proc, 180)
        page = browser.new_page(viewport={'width': 1400, 'height': 900})
        page.goto(f'http://127.0.0.1:{port}/datasets/{name}', timeout=120_000)
        page.wait_for_timeout(12_000)
        assert 'fiftyone' in page.content().lower()
        try: page.get_by_text('Dismiss', exact=True).click(timeout=3_000)   # the App's product pop-up
        except Exception: pass
        ART.mkdir(exist_ok=True); page.screenshot(path=str(ART / 'fiftyone_app.png'))
    finally:
        stop(proc)
        if fo.dataset_exists(name): fo.delete_dataset(name)

def test_streamlit_app_with_api(run_dir, browser, tmp_path):
    "xnn_serve and xnn_app as real processes on loopback; Chromium uploads a film and sees the overlays"
    from conftest import script
    api_port, ui_port = free_port(), free_port()
    api = subprocess.Popen([script('xnn_serve'), '--ckpt', str(run_dir / 'm.ckpt'), '--port', str(api_port)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    ui = subprocess.Popen([script('xnn_app'), '--api', f'http://127.0.0.1:{api_port}', '--port', str(ui_port)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_http(f'http://127.0.0.1:{api_port}/health', api, 120)
        wait_http(f'http://127.0.0.1:{ui_port}/', ui, 120)
        film = next((run_dir / 'data/processed/test').rglob('*.jpeg'))
        page = browser.new_page(viewport={'width': 1400, 'height': 1250})   # Streamlit scrolls inside its own container
        page.goto(f'http://127.0.0.1:{ui_port}/', timeout=120_000)
        page.locator('input[type=file]').set_input_files(str(film), timeout=60_000)
        page.get_by_text(re.compile(film.name[-9:] + '$')).wait_for(timeout=30_000)     # the uploader shows the (shortened) name
        page.get_by_role('button', name='Predict and explain').click()
        page.wait_for_function("() => document.querySelectorAll('[data-testid=stImage] img').length >= 2", timeout=120_000)
        # each element renders on its own; wait for exactly what is asserted, not for the overlays before it (the old flake)
        page.get_by_text('Download report card (HTML)').wait_for(state='visible', timeout=60_000)
        page.get_by_text(f'{film.name}:').first.wait_for(state='visible', timeout=60_000)
        assert page.get_by_text('Download report card (HTML)').count() == 1
        ART.mkdir(exist_ok=True); page.screenshot(path=str(ART / 'app.png'), full_page=True)
    finally: stop(ui); stop(api)
