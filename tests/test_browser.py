"""The attribution browser in a real browser: Voila serves a notebook with it on 127.0.0.1, Playwright drives Debian's
Chromium — images render, "next" changes the film. Screenshots go to test-artifacts/ (README uses them).
Every step waits for exactly the condition it asserts (no fixed sleeps): the flakes of issue 13."""
import os, subprocess, sys
from pathlib import Path
import nbformat, pytest
from conftest import ART, app_shows, film_path, free_port, png_complete, stop, wait_file, wait_http, wait_port, wait_view

@pytest.fixture(scope='module')
def run_dir(explained_run):
    "The shared explained run, with a notebook that opens the attribution browser on it"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from xnn.dashboard import AttributionBrowser\nAttributionBrowser('expl', 'data', export_dir='exports')")])
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3', language='python')
    nbformat.write(nb, explained_run / 'dashboard.ipynb')
    return explained_run

def test_dashboard_in_voila(run_dir, page):
    port = free_port()
    env = dict(os.environ, PATH=f'{Path(sys.executable).parent}:{os.environ["PATH"]}', MPLBACKEND='Agg')
    proc = subprocess.Popen([sys.executable, '-m', 'voila', 'dashboard.ipynb', '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1'],
                            cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_port(port, proc)            # Voila renders the page by running the notebook: one request, with a long timeout
        page.set_viewport_size({'width': 1400, 'height': 1000})
        page.goto(f'http://127.0.0.1:{port}/', timeout=240_000)
        first = wait_view(page, 4, timeout=120_000)             # the film and three methods, every image loaded
        page.get_by_role('button', name='next ▶').click()
        after = wait_view(page, 4, first, ('images', 'badges'), timeout=60_000)   # another film: new badges *and* new images
        assert film_path(after) != film_path(first)
        ART.mkdir(exist_ok=True); page.screenshot(path=str(ART / 'dashboard.png'), full_page=True)
        from xnn.artifacts import film_stem
        page.get_by_role('button', name='export PNG').click()
        assert wait_file(run_dir / 'exports' / f'{film_stem(film_path(after))}.view.png', png_complete, 60)
    finally: stop(proc)

def test_fiftyone_app_screenshot(run_dir, page):
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
        page.add_init_script('window.IS_PLAYWRIGHT = true')   # the App's own switch for automated browsers: no product pop-up, no analytics
        page.goto(f'http://127.0.0.1:{port}/datasets/{name}', timeout=120_000)
        app_shows(page, name, len(ds))
        ART.mkdir(exist_ok=True); page.screenshot(path=str(ART / 'fiftyone_app.png'))
    finally:
        stop(proc)
        if fo.dataset_exists(name): fo.delete_dataset(name)

def test_streamlit_app_with_api(run_dir, page):
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
        page.set_viewport_size({'width': 1400, 'height': 1250})   # Streamlit scrolls inside its own container
        page.goto(f'http://127.0.0.1:{ui_port}/', timeout=120_000)
        page.locator('input[type=file]').set_input_files(str(film), timeout=60_000)
        # the uploader lists the name while the file still travels; the page says "Ready" once Streamlit's server holds it
        # (a click before that explains nothing: the CI failure of 8dae4a6)
        page.get_by_text(f'Ready: {film.name}').wait_for(state='visible', timeout=60_000)
        page.get_by_role('button', name='Predict and explain').click()
        # two overlays, or a warning/error the page shows instead: then fail with its words, not after the whole timeout
        page.wait_for_function("() => document.querySelectorAll('[data-testid=stImage] img').length >= 2"
                               " || document.querySelector('[data-testid=stAlert], [data-testid=stException]') !== null", timeout=120_000)
        alerts = page.locator('[data-testid=stAlert], [data-testid=stException]')
        assert alerts.count() == 0, f'the page shows: {alerts.all_inner_texts()}'
        # each element renders on its own; wait for exactly what is asserted, not for the overlays before it (the old flake)
        page.get_by_text('Download report card (HTML)').wait_for(state='visible', timeout=60_000)
        page.get_by_text(f'{film.name}:').first.wait_for(state='visible', timeout=60_000)
        assert page.get_by_text('Download report card (HTML)').count() == 1
        ART.mkdir(exist_ok=True); page.screenshot(path=str(ART / 'app.png'), full_page=True)
    finally: stop(ui); stop(api)
