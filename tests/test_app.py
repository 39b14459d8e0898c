"""The Streamlit page (`xnn_app`) with `streamlit.testing.v1.AppTest` against a real API on 127.0.0.1: upload, predict,
overlays, report card download; no file; API down; API refuses the file."""
import io, os
import numpy as np, pytest
from PIL import Image
from conftest import ThreadServer, small_checkpoint

@pytest.fixture(scope='module')
def api(tmp_path_factory):
    from xnn.serve import create_app
    with ThreadServer(create_app(small_checkpoint(tmp_path_factory.mktemp('app') / 'small.ckpt'))) as srv: yield srv.url

def film_png()->bytes:
    rng = np.random.default_rng(1)
    b = io.BytesIO(); Image.fromarray((rng.random((32, 28)) * 255).astype(np.uint8)).resize((320, 280)).save(b, 'PNG')
    return b.getvalue()

def page(url:str):
    from streamlit.testing.v1 import AppTest
    import xnn.app
    os.environ['XNN_API'] = url
    try: return AppTest.from_file(xnn.app.__file__, default_timeout=120).run()
    finally: del os.environ['XNN_API']

def test_upload_predict_explain_download(api):
    at = page(api)
    assert not at.exception and not at.error
    assert at.multiselect(key='methods').value == ['integrated_gradients', 'gradcam']
    at.multiselect(key='methods').set_value(['integrated_gradients', 'gradcam', 'occlusion'])
    at.slider(key='steps').set_value(8)
    at.file_uploader(key='upload').upload('film.png', film_png(), 'image/png').run()
    at.button(key='go').click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    res = at.session_state['result']
    assert [x['method'] for x in res['explanations']] == ['integrated_gradients', 'gradcam', 'occlusion']
    assert abs(sum(res['probabilities'].values()) - 1) < 1e-5
    assert at.subheader[0].value.startswith(f'film.png: {res["label"]}')
    assert len(at.image) == 3                                           # one overlay per method, side by side
    assert [im.captions[0] if hasattr(im, 'captions') and im.captions else '' for im in at.image][2].startswith('occlusion')
    assert 'green' in ' '.join(m.value for m in at.markdown)
    dl = at.download_button(key='download')
    assert dl.label == 'Download report card (HTML)'
    at.download_button(key='download').click().run()                   # a rerun keeps the results
    assert at.session_state['result']['label'] == res['label'] and at.subheader[0].value == f'film.png: {res["label"]} ({res["probability"]:.1%})'

def test_predict_without_a_file(api):
    at = page(api)
    at.button(key='go').click().run()
    assert not at.exception
    assert 'Choose an X-ray file first' in at.warning[0].value
    assert 'result' not in at.session_state

def test_no_methods(api):
    at = page(api)
    at.multiselect(key='methods').set_value([])
    at.file_uploader(key='upload').upload('film.png', film_png(), 'image/png').run()
    at.button(key='go').click().run()
    assert 'at least one attribution method' in at.warning[0].value

def test_api_refuses_the_file(api):
    at = page(api)
    at.file_uploader(key='upload').upload('scan.png', b'this is not a png', 'image/png').run()
    at.button(key='go').click().run()
    assert not at.exception
    assert 'The API refused scan.png' in at.error[0].value and 'not an image' in at.error[0].value and 'HTTP 415' in at.error[0].value

def test_api_down():
    from conftest import free_port
    at = page(f'http://127.0.0.1:{free_port()}')
    assert not at.exception
    assert 'not reachable' in at.error[0].value and 'xnn_serve --ckpt' in at.error[0].value
    assert len(at.button) == 0 and len(at.file_uploader) == 0

def test_api_goes_down_after_the_page_loaded(tmp_path):
    from xnn.serve import create_app
    srv = ThreadServer(create_app(small_checkpoint(tmp_path / 's.ckpt'))).__enter__()
    at = page(srv.url)
    at.file_uploader(key='upload').upload('film.png', film_png(), 'image/png').run()
    srv.__exit__()
    at.button(key='go').click().run()
    assert not at.exception
    assert any('not reachable' in e.value for e in at.error)
