"""JupyterLab, where readers work: start it on 127.0.0.1 as `make lab` does, open chapters in headless Chromium through
Lab's own UI, run every cell from the Run menu, and fail on an error output or a cell that never finishes. The landing
page and one model chapter (04, the transformer block: the quickest that builds and trains layers) run here.

The server runs on a copy of `nbs/` (with `data/` and `configs/` beside it) and throwaway Jupyter config, data, settings
and workspace folders, so the checkout and the user's Jupyter set-up stay untouched; its kernels import this checkout's
`aic_gpt`; it is shut down at the end, kernels included. Each chapter opens in a workspace of its own, and Run All waits
until the notebook's kernel session has settled (Lab, opening a notebook by URL, now and then starts a second kernel
and drops the first). Skips, saying why, where no Chromium (or no Playwright, which drives it) is installed.
`LAB_SCREENSHOTS=dir` keeps a screenshot of each chapter after its run (else they go to pytest's tmp folder);
`pytest -s` prints how long each chapter took. A self-test runs a notebook that raises and one that never finishes.
"""
import contextlib, json, os, re, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHAPTERS = ["index.ipynb", "04_blocks.ipynb"]
START_TIMEOUT = 120          # s for the server to answer, and for Lab to show a notebook with an idle kernel
RUN_TIMEOUT = 300            # s for Run All to finish a chapter (04: 7 s alone, 40-110 s beside the rest of the suite)
# Lab's settings for a check: every cell in the page (no windowing, so every prompt can be read), the notebook's kernel
# started without asking, no autosave (the copies stay as they were), no news or update pop-ups.
SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                           "autoStartDefaultKernel": True},
            "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                               "checkForUpdates": False}}


def chromium():
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, path: str, token: str, method: str = "GET", body=None):
    "Call Jupyter Server's REST API; return the decoded JSON answer."
    req = urllib.request.Request(f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r: return json.loads(r.read() or b"null")


@contextlib.contextmanager
def lab_server(tmp: Path):
    "JupyterLab on a free port of 127.0.0.1 with a random token, serving a copy of the chapters; yields (base URL, token)."
    work = tmp / "work"
    shutil.copytree(ROOT / "nbs", work / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_proc", ".quarto"))
    for d in ("data", "configs"):
        if (ROOT / d).exists(): (work / d).symlink_to(ROOT / d, target_is_directory=True)
    for name, value in SETTINGS.items():
        f = tmp / "settings" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_DATA_DIR": str(tmp / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "IPYTHONDIR": str(tmp / "ipython"), "PYTHONWARNINGS": "ignore",
           "OMP_NUM_THREADS": "1"}    # the kernel shares 2 cores with Lab and Chromium: OpenMP threads would fight them
    env.pop("IN_TEST", None)                    # a reader's kernel, not nbdev-test's
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))   # this checkout's aic_gpt
    port, token = free_port(), secrets.token_hex(16)
    cmd = [str(BIN / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           f"--LabApp.user_settings_dir={tmp / 'settings'}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    if os.geteuid() == 0: cmd.append("--allow-root")        # as `make lab` does for root
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited with {proc.returncode}:\n{(tmp / 'lab.log').read_text()[-3000:]}")
            with contextlib.suppress(OSError, ValueError):
                api(base, "/api/status", token); break
            if time.monotonic() > deadline:
                raise AssertionError(f"jupyter lab did not answer in {START_TIMEOUT}s:\n{(tmp / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token
    finally:
        with contextlib.suppress(OSError, ValueError): api(base, "/api/shutdown", token, "POST")   # kernels too
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try: proc.wait(timeout=10)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
        log.close()


# The state of the notebook on screen: each code cell's prompt ("[3]:", "[*]:", "[ ]:"), its error outputs, and the kernel.
STATE_JS = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => !p.classList.contains('lm-mod-hidden'));
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {
    kernel: status ? status.getAttribute('data-status') : null,
    prompts: cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || ''),
    errors: cells.map((c, i) => [...c.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(o => o.textContent).filter(t => /Traceback|^\\s*\\w*(Error|Exception)\\b/m.test(t))
        .map(t => `cell ${i + 1}: ${t.trim().slice(-1500)}`)).flat(),
  };
}"""


def wait_for(page, pred, timeout: float, what: str):
    "Poll STATE_JS until `pred(state)` holds; return the state; fail saying `what` on timeout."
    deadline, state = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        state = page.evaluate(STATE_JS)
        if state and pred(state): return state
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:.0f}s; last state: {state}")


def settled_kernel(base: str, token: str, path: str, quiet: float = 1.0, timeout: float = 60) -> str:
    "The id of the kernel of the one session on `path`, once it has stayed the same for `quiet` seconds."
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        ids = [x["kernel"]["id"] for x in api(base, "/api/sessions", token) if x["path"] == path and x.get("kernel")]
        now = ids[0] if len(ids) == 1 else None
        if now != last: last, since = now, time.monotonic()
        elif now and time.monotonic() - since >= quiet: return now
        time.sleep(0.25)
    raise AssertionError(f"{path}: no single settled kernel session in {timeout:.0f}s (last: {last})")


def run_in_lab(page, base: str, token: str, nb: str, shot: Path | None = None, timeout: float = RUN_TIMEOUT) -> dict:
    "Open `nbs/<nb>` in Lab, run all its cells from the Run menu, wait for every cell; return the final state."
    # Each chapter in a workspace of its own, so Lab restores no other notebook beside it
    path = f"nbs/{nb}"
    page.goto(f"{base}/lab/workspaces/{Path(nb).stem}/tree/{path}?token={token}")
    wait_for(page, lambda s: s["kernel"] == "idle" and s["prompts"], START_TIMEOUT, f"Lab did not show {nb} with an idle kernel")
    kernel = settled_kernel(base, token, path)
    t0 = time.monotonic()
    for attempt in range(3):     # the menu acts on the notebook Lab holds current: focus it first, and retry if Run All missed
        dialogs = page.locator(".jp-Dialog")
        if dialogs.count(): raise AssertionError(f"{nb}: JupyterLab shows a dialog: {dialogs.first.inner_text()!r}")
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        item = page.locator(".lm-Menu-item:not(.lm-mod-disabled)", has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")))
        item.click()
        with contextlib.suppress(AssertionError):
            wait_for(page, lambda s: any(p.strip() != "[ ]:" for p in s["prompts"]), 10, "Run All did not start"); break
    else: raise AssertionError(f"{nb}: Run All Cells (the Run menu) started nothing, three times")
    # Run All queues every cell at once ("[*]:"), so "done" is every prompt numbered and the kernel idle, twice in a row
    # (the chapters are stored clean, every prompt "[ ]:", so a number means this run)
    done = lambda s: s["errors"] or (s["kernel"] == "idle" and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in s["prompts"]))
    try: state = wait_for(page, done, timeout, f"{nb}: not every cell finished")
    except AssertionError as e:
        if shot: page.screenshot(path=str(shot))
        now = [x["kernel"]["id"] for x in api(base, "/api/sessions", token) if x["path"] == path]
        if now != [kernel]: raise AssertionError(f"{e}\n(Lab swapped the kernel mid-run: {kernel} -> {now})") from None
        raise
    if not state["errors"]: state = wait_for(page, done, 10, f"{nb}: the kernel went busy again")
    state["seconds"] = time.monotonic() - t0
    if shot:
        imgs = page.locator(".jp-OutputArea-output img")
        (imgs.first if imgs.count() else page.locator(".jp-CodeCell").last).scroll_into_view_if_needed()
        page.screenshot(path=str(shot))
    return state


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not chromium():
        pytest.skip("no Chromium installed (`apt-get install chromium`): the chapters were not run in JupyterLab")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the JupyterLab check needs Playwright (`pip install playwright`, dev extras)")
    if not (BIN / "jupyter-lab").exists(): pytest.skip(f"no jupyter-lab next to {sys.executable} (dev extras)")
    tmp = tmp_path_factory.mktemp("lab")
    with lab_server(tmp) as (base, token), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(viewport=dict(width=1280, height=900))
            context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda r: r.abort())   # Lab works offline
            yield context, base, token, tmp
        finally: browser.close()


@pytest.mark.parametrize("nb", CHAPTERS)
def test_chapter_runs_in_lab(lab, nb):
    "Run All in JupyterLab finishes every cell of the chapter without an error output."
    context, base, token, tmp = lab
    shots = Path(os.environ.get("LAB_SCREENSHOTS") or tmp)
    shots.mkdir(parents=True, exist_ok=True)
    page = context.new_page()
    try: state = run_in_lab(page, base, token, nb, shots / f"lab-{Path(nb).stem}.png")
    finally: page.close()
    assert not state["errors"], f"{nb} shows an error in JupyterLab:\n" + "\n\n".join(state["errors"])
    print(f"\n{nb}: {len(state['prompts'])} code cells ran in JupyterLab in {state['seconds']:.1f}s")


def test_checker_catches_lab_failures(lab):
    "The check above fails on a cell that raises (its traceback named) and on a cell that never finishes."
    import nbformat
    context, base, token, tmp = lab
    for name, cells in (("_check_error.ipynb", ["print('before')", "1 / 0", "print('after')"]),
                        ("_check_hang.ipynb", ["import time", "time.sleep(600)"])):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = dict(name="python3", display_name="python3", language="python")
        nbformat.write(nb, tmp / "work" / "nbs" / name)
    page = context.new_page()
    try:
        state = run_in_lab(page, base, token, "_check_error.ipynb")
        assert len(state["errors"]) == 1 and "ZeroDivisionError" in state["errors"][0] and state["errors"][0].startswith("cell 2:"), state
        with pytest.raises(AssertionError, match="not every cell finished"):
            run_in_lab(page, base, token, "_check_hang.ipynb", timeout=3)
    finally:
        page.close()
        for x in api(base, "/api/sessions", token):      # stop the sleeping kernel now, not at the server's shutdown
            if x["path"].startswith("nbs/_check_"): api(base, f"/api/sessions/{x['id']}", token, "DELETE")
