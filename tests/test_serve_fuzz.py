"""A property-based fuzz of `xnn_serve`'s OpenAPI document with schemathesis: every documented operation gets schema-valid
and schema-violating requests (query parameters, content types, multipart forms, raw bodies, films that decode and bytes
that do not, with and without the API key) from a real uvicorn on 127.0.0.1, and every answer must be documented —
no 5xx, a documented status code and content type, a body that fits its schema (`{error, detail}` for the errors), and a
401 for /predict and /explain without the key. Seeded and derandomized: the same requests on every run."""
import io
import numpy as np, pytest, schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.transport.serialization import Binary   # how schemathesis carries bytes for `format: binary`
from conftest import ThreadServer, small_checkpoint

KEY = 'fuzz-key-0123456789'
EXAMPLES = 25   # per operation and phase: the whole module stays well under 90 s on 2 cores

def _film(fmt:str, size:tuple, seed:int)->bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray((rng.random((size[1] // 8, size[0] // 8)) * 255).astype(np.uint8)).resize(size)
    b = io.BytesIO(); img.save(b, fmt); return b.getvalue()

# Films the model can read, next to arbitrary bytes: without them nearly every upload would stop at the decoder (415)
FILMS = [_film('PNG', (96, 80), 0), _film('JPEG', (80, 96), 1), _film('PNG', (64, 64), 2), b'\xff\xd8' + bytes(60_000)]  # the last: over the limit
schemathesis.openapi.format('binary', st.one_of(st.sampled_from(FILMS), st.binary(max_size=2048)).map(Binary))

CONFIG = schemathesis.Config.from_dict({
    'seed': 0,
    'generation': {'mode': 'all', 'max-examples': EXAMPLES, 'deterministic': True, 'database': 'none'},
    'auth': {'openapi': {'apiKey': {'api_key': KEY}}},
    'checks': {  # schema-valid bytes need not be a film, so 'positive' data may also earn the documented 4xx answers
        'positive_data_acceptance': {'expected-statuses': ['2xx', '400', '413', '415', '422']},
        'negative_data_rejection': {'expected-statuses': ['400', '401', '413', '415', '422']}},
})

@schemathesis.check
def xnn_error_body(ctx, response, case):
    "Every error answer is xnn's `{error, detail}`: two non-empty strings (schemathesis skips its schema check for some negative cases)"
    if response.status_code < 400: return None
    body = response.json()
    assert isinstance(body, dict) and set(body) == {'error', 'detail'} and all(isinstance(v, str) and v for v in body.values()), \
        f'HTTP {response.status_code} answered {body!r}, not {{error, detail}}'
    return None

@pytest.fixture(scope='module')
def api(tmp_path_factory):
    "xnn_serve's app for an untrained small_cnn, with an API key and a small upload limit, on a free loopback port"
    from xnn.serve import create_app
    ckpt = small_checkpoint(tmp_path_factory.mktemp('fuzz') / 'small.ckpt')
    with ThreadServer(create_app(ckpt, max_upload_mb=0.05, decoders=1, api_key=KEY)) as server: yield server

@pytest.fixture(scope='module')
def api_schema(api):
    return schemathesis.openapi.from_url(f'{api.url}/openapi.json', config=CONFIG)

schema = schemathesis.pytest.from_fixture('api_schema')

@pytest.fixture(autouse=True)
def _node_id(request):
    "schemathesis 4.32's lazy schemas read `node._nodeid`, which pytest 9.2 no longer has: give it the node's id"
    if not hasattr(request.node, '_nodeid'): request.node._nodeid = request.node.nodeid

@schema.parametrize()
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(timeout=60)
