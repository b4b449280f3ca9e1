"""``python -m pipeline.submit`` against KFP endpoints that refuse, are wrong or unauthorised.

Real sockets only: a port on 127.0.0.1 that nothing listens on (connection refused) and a
tiny HTTP server in a thread that answers like a misconfigured endpoint (401, 404, a login
redirect, an HTML page) or like a KFP API that is healthy but refuses the upload (403). The
real ``kfp.Client`` is used; each case must end in one line naming the host and what to
check, a non-zero exit status, no traceback and never the token.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import kfp
import pytest
from kfp import compiler

from pipeline.options import CompileOptions
from pipeline.pipeline import build_pipeline
from pipeline.submit import (
    EXIT_SERVER,
    HEALTHZ_PATH,
    KfpServerError,
    build_parser,
    main,
    plan_submission,
    submit,
)

FAKE_TOKEN = "fake-kfp-token-must-not-leak-0123456789"


#: Images of the test packages: not the placeholders (see the fixture).
COMPONENT_IMAGE = "registry.example/rlsd-component:1"
TRAINER_IMAGE = "registry.example/rlsd-trainer:1"


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """The pipeline compiled with images of its own (the default ones are placeholders that
    submit refuses: test_pipeline_images.py)."""
    path = tmp_path_factory.mktemp("endpoint") / "rlsd.yaml"
    options = CompileOptions(rounds=1, component_image=COMPONENT_IMAGE)
    compiler.Compiler().compile(build_pipeline(options), str(path),
                                pipeline_parameters={"trainer_image": TRAINER_IMAGE})
    return path


def refused_port() -> int:
    """A port on 127.0.0.1 that was just free: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


Answer = Callable[[str, str], tuple[int, dict[str, str], bytes]]


@pytest.fixture
def server() -> Iterator[Callable[[Answer], str]]:
    """``server(answer)`` -> ``http://127.0.0.1:PORT``; ``answer(method, path)`` gives the
    status, headers and body of every request. Stopped after the test."""
    started: list[http.server.HTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, headers, body = answer(self.command, self.path)
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def _json(status: int, data: dict) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def _run(package: Path, host: str, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("KFP_HOST", host)
    monkeypatch.setenv("KFP_TOKEN", FAKE_TOKEN)
    monkeypatch.delenv("KFP_NAMESPACE", raising=False)
    code = main(["--package", str(package)])
    out, err = capsys.readouterr()
    assert FAKE_TOKEN not in out + err
    assert "Traceback" not in out + err
    assert out == ""  # nothing was created
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pipeline.submit: error: ")
    return code, lines[0]


def test_refused_connection_is_one_line_naming_the_host(package, monkeypatch, capsys):
    host = f"http://127.0.0.1:{refused_port()}"
    code, line = _run(package, host, monkeypatch, capsys)
    assert code == EXIT_SERVER != 0
    assert f"cannot reach the KFP API at {host}: connection refused; check KFP_HOST" in line


@pytest.mark.parametrize(("status", "expected"), [
    (401, "refused GET /apis/v2beta1/healthz: HTTP 401 Unauthorized (token expired); check "
          "the token (KFP_TOKEN, or the file named by KF_PIPELINES_SA_TOKEN_PATH)"),
    (403, "HTTP 403 Forbidden (token expired); check the token"),
    (404, "answered HTTP 404 Not Found to GET /apis/v2beta1/healthz; check KFP_HOST: it must "
          "be the KFP API endpoint"),
    (503, "failed GET /apis/v2beta1/healthz: HTTP 503 Service Unavailable (token expired); "
          "check that the KFP API server is healthy"),
])
def test_wrong_or_unauthorised_endpoint(package, server, monkeypatch, capsys, status,
                                        expected):
    seen = []

    def answer(method: str, path: str):
        seen.append((method, path))
        return _json(status, {"message": "token expired", "code": 16})

    host = server(answer)
    code, line = _run(package, host, monkeypatch, capsys)
    assert code == EXIT_SERVER
    assert host in line and expected in line
    assert seen == [("GET", HEALTHZ_PATH)]  # one question, no retries, no upload


def test_login_redirect_and_html_pages_are_not_the_api(package, server, monkeypatch, capsys):
    host = server(lambda method, path: (302, {"Location": "/dex/auth?client_id=x"}, b""))
    code, line = _run(package, host, monkeypatch, capsys)
    assert code == EXIT_SERVER
    assert f"redirects GET {HEALTHZ_PATH} to {host}/dex/auth, as a login page does" in line

    host = server(lambda method, path: (200, {"Content-Type": "text/html"},
                                        b"<html>Kubeflow Central Dashboard</html>"))
    code, line = _run(package, host, monkeypatch, capsys)
    assert code == EXIT_SERVER
    assert "not the KFP API (not JSON" in line and host in line


def test_healthy_api_that_refuses_the_upload(package, server, monkeypatch, capsys):
    """The health check passes; kfp's client then gets 403 on its first API call."""
    def answer(method: str, path: str):
        if path.startswith(HEALTHZ_PATH):
            return _json(200, {"multi_user": False})
        return _json(403, {"message": "user cannot list pipelines in namespace kubeflow"})

    host = server(answer)
    code, line = _run(package, host, monkeypatch, capsys)
    assert code == EXIT_SERVER
    assert (f"the KFP API at {host} refused uploading pipeline 'rlsd-rlsd-1-rounds': HTTP 403 "
            "Forbidden (user cannot list pipelines in namespace kubeflow); check the token"
            in line)


@pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")
def test_kfp_client_errors_are_translated_too(package):
    """Without the preflight (KFP_HOST unset: kfp picks the endpoint), a refused connection
    inside kfp's client (urllib3's MaxRetryError) becomes the same one-line error."""
    host = f"http://127.0.0.1:{refused_port()}"
    client = kfp.Client(host=host, namespace="team-a")  # a namespace: no health check here
    plan = plan_submission(build_parser().parse_args(["--package", str(package)]), {})
    with pytest.raises(KfpServerError) as info:
        submit(plan, client, host)
    assert str(info.value).startswith(f"cannot reach the KFP API at {host}: connection refused")


def test_credentials_in_the_host_are_not_shown(package, monkeypatch, capsys):
    port = refused_port()
    code, line = _run(package, f"http://127.0.0.1:{port}/pipeline?token={FAKE_TOKEN}",
                      monkeypatch, capsys)
    assert code == EXIT_SERVER
    assert f"http://127.0.0.1:{port}/pipeline:" in line


def test_what_counts_as_a_server_error():
    """kfp's health-check loop gives up with a TimeoutError; a local file error is not the
    server's and keeps its own exception."""
    from pipeline.submit import translate_error

    gave_up = translate_error(TimeoutError("Failed getting healthz endpoint after 5 attempts."),
                              None, "the health check")
    assert str(gave_up).startswith("cannot reach the KFP API at kfp's default endpoint "
                                   "(KFP_HOST is unset): no healthy answer after kfp's retries")
    assert translate_error(FileNotFoundError(2, "No such file"), "http://h", "upload") is None
    assert translate_error(ValueError("bad"), "http://h", "upload") is None
