"""`aic-gpt-serve` as a reader runs it: a process of its own on a free loopback port, serving the real SmolLM2, talked
to with PyPI's `openai` client (plain, streamed, several requests at once), each greedy answer equal to `chat()`
alone; a few bad requests; SIGTERM drains the in-flight request and exits 0 (chapter 12)."""
import json, os, signal, subprocess, threading, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor
import pytest

for _m in ('fastapi', 'uvicorn', 'openai'):
    pytest.importorskip(_m, reason=f"{_m} is not installed: `pip install -e '.[dev]'` (make setup) installs the server's packages")
from openai import OpenAI, BadRequestError, NotFoundError

QUESTIONS = ["What is the capital of France?", "Name a colour.", "What is 2+2?"]


@pytest.fixture(scope='module')
def served():
    "(base url, the server process, (model, tokenizer) loaded here for the references)."
    from aic_gpt.core import pretrained_file
    try: pretrained_file('smollm2')
    except ImportError as e: pytest.skip(f"no real model: {e}")
    from aic_gpt.server import free_port, server_command
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(server_command('--port', port, '--slots', 4, '--max-len', 512, '--threads', 1, '--drain-timeout', 30),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    import torch
    from aic_gpt.checkpoint import load_pretrained                      # loads while the server starts
    torch.set_num_threads(1)
    model, tok = load_pretrained('smollm2')
    base, t0 = f"http://127.0.0.1:{port}", time.perf_counter()
    while True:
        try: urllib.request.urlopen(base + '/health', timeout=5); break
        except OSError:
            if proc.poll() is not None or time.perf_counter() - t0 > 180:
                proc.kill(); pytest.fail(f"the server did not start:\n{proc.stdout.read()}")
            time.sleep(0.25)
    yield base, proc, (model, tok)
    if proc.poll() is None: proc.kill(); proc.wait()


def answer(client, q, **kw):
    return client.chat.completions.create(model='smollm2', messages=[{'role': 'user', 'content': q}], temperature=0, **kw)


def test_openai_client(served):
    from aic_gpt.inference import chat
    base, _, (model, tok) = served
    client = OpenAI(base_url=base + '/v1', api_key='none')
    ref = {q: chat(model, tok, [{'role': 'user', 'content': q}], max_new_tokens=6) for q in QUESTIONS}
    r = answer(client, QUESTIONS[0], max_tokens=6)                                       # plain
    assert r.choices[0].message.content == ref[QUESTIONS[0]]
    assert r.usage.prompt_tokens == len(tok.apply_chat_template([{'role': 'user', 'content': QUESTIONS[0]}], add_generation_prompt=True))
    chunks = list(answer(client, QUESTIONS[1], max_tokens=6, stream=True, stream_options={'include_usage': True}))   # streamed
    assert ''.join(c.choices[0].delta.content or '' for c in chunks if c.choices) == ref[QUESTIONS[1]]
    assert chunks[-1].usage.completion_tokens <= 6
    with ThreadPoolExecutor(len(QUESTIONS)) as ex:                                          # several at once
        got = list(ex.map(lambda q: answer(client, q, max_tokens=6).choices[0].message.content, QUESTIONS))
    assert got == [ref[q] for q in QUESTIONS]
    assert [m.id for m in client.models.list().data] == ['smollm2']


def test_bad_requests(served):
    base, _, _ = served
    client = OpenAI(base_url=base + '/v1', api_key='none', max_retries=0)
    with pytest.raises(NotFoundError, match='unknown model'):
        client.chat.completions.create(model='gpt-4o', messages=[{'role': 'user', 'content': 'Hi'}])
    with pytest.raises(BadRequestError, match='temperature'): answer(client, 'Hi', max_tokens=4, extra_body={'temperature': -1})
    with pytest.raises(BadRequestError, match='context'): answer(client, 'Hi', max_tokens=100_000)
    with pytest.raises(BadRequestError, match='temprature: unknown field'): answer(client, 'Hi', max_tokens=4, extra_body={'temprature': 1})
    req = urllib.request.Request(base + '/v1/chat/completions', b'{"model": ', {'Content-Type': 'application/json'})
    with pytest.raises(urllib.error.HTTPError) as e: urllib.request.urlopen(req)
    assert e.value.code == 400 and 'not valid JSON' in json.load(e.value)['error']['message']
    assert answer(client, 'Hi', max_tokens=2).usage.completion_tokens <= 2                    # still serving


def test_sigterm_drains_and_exits_0(served):
    base, proc, _ = served
    client = OpenAI(base_url=base + '/v1', api_key='none')
    first, result = threading.Event(), {}
    def stream():
        for ch in answer(client, 'Tell me about the sea.', max_tokens=24, stream=True, stream_options={'include_usage': True}):
            first.set()
            if ch.choices and ch.choices[0].finish_reason: result['finish'] = ch.choices[0].finish_reason
            if ch.usage: result['tokens'] = ch.usage.completion_tokens
    t = threading.Thread(target=stream); t.start()
    assert first.wait(60), 'no first token'
    proc.send_signal(signal.SIGTERM)
    t.join(60)
    assert proc.wait(60) == 0, proc.stdout.read()
    assert result == {'finish': 'length', 'tokens': 24}
