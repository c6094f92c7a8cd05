"""Documents streamed live through bluesky's 0MQ proxy to a remote consumer.

The proxy runs as ``labctl proxy serve`` in its own process (stopped by PID); the lab publishes
to it because its config has a ``publish`` section; a ``RemoteDispatcher`` on another thread
receives the documents as a consumer on another computer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bluesky.preprocessors as bpp
import numpy as np
import pytest
from bluesky.plans import count
from typer.testing import CliRunner

from labctl.cli import app
from labctl.config import load_config, parse_config
from labctl.errors import ConfigError
from labctl.lab.session import Lab
from labctl.plans.techniques import measure
from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def proxy() -> Iterator[tuple[str, str]]:
    """``labctl proxy serve`` on two free loopback ports: (publish address, consume address)."""
    publish, consume = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-m",
            "labctl",
            "proxy",
            "serve",
            "--in",
            publish,
            "--out",
            consume,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "0MQ proxy" in line, line
        assert publish in line
        assert consume in line
        yield publish, consume
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


class Consumer:
    """A ``RemoteDispatcher`` on its own thread, collecting every document it receives."""

    def __init__(self, address: str) -> None:
        from bluesky.callbacks.zmq import RemoteDispatcher

        self.documents: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.dispatcher = RemoteDispatcher(address)
        self.dispatcher.subscribe(lambda name, doc: self.documents.put((name, doc)))
        self.thread = threading.Thread(target=self._run, name="zmq-consumer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            self.dispatcher.start()

    def run_documents(self, uid: str, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        """The documents of run ``uid``, from its start to its stop document."""
        received: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                name, doc = self.documents.get(timeout=0.1)
            except queue.Empty:
                continue
            if name == "start" and doc["uid"] == uid:
                received = [(name, doc)]
            elif received:
                received.append((name, doc))
                if name == "stop":
                    return received
        raise AssertionError(f"run {uid[:8]} did not arrive whole: {[n for n, _ in received]}")

    def stop(self) -> None:
        loop = self.dispatcher.loop

        def cancel() -> None:
            for task in asyncio.all_tasks(loop):
                task.cancel()

        loop.call_soon_threadsafe(cancel)
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


def test_a_consumer_receives_the_labs_runs_live(proxy: tuple[str, str], tmp_path: Path) -> None:
    publish, consume = proxy
    prepare_store(tmp_path / "data" / "tiled")
    document = copy.deepcopy(sim_lab_document())
    document["publish"] = {"proxy": publish, "prefix": "sim-lab"}
    consumer = Consumer(consume)
    try:
        with Lab.from_config(load_config(write_config(tmp_path, document))) as lab:
            # 0MQ drops what is sent before both connections are up: warm up until a run arrives.
            deadline = time.monotonic() + 15
            while True:
                (warm_up,) = lab.RE(count([lab.devices["glovebox"]]))
                try:
                    consumer.run_documents(warm_up, timeout=1.0)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise

            @bpp.run_decorator(md={"purpose": "published"})
            def experiment() -> Any:
                yield from measure(
                    lab.devices["potentiostat"],
                    {"kind": "ca", "potential": "0.1 V", "duration": "0.5 s", "interval": "10 ms"},
                )

            (uid,) = lab.RE(experiment())
            (counted,) = lab.RE(count([lab.devices["glovebox"]], 3))
            assert lab.store is not None
            stored = lab.store.run(uid).stream("ca")
        documents = consumer.run_documents(uid)
        assert [name for name, _ in documents] == ["start", "descriptor", "event", "stop"]
        start, descriptor, event, stop = (doc for _, doc in documents)
        assert start["purpose"] == "published"
        assert start["lab"] == "sim-lab"
        assert descriptor["name"] == "ca"
        assert descriptor["data_keys"]["potentiostat_current"]["shape"] == [50]
        np.testing.assert_allclose(
            event["data"]["potentiostat_current"], stored["potentiostat_current"].iloc[0]
        )
        assert stop["exit_status"] == "success"
        names = [name for name, _ in consumer.run_documents(counted)]
        assert names == ["start", "descriptor", "event", "event", "event", "stop"]
    finally:
        consumer.stop()


def test_publish_section_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"publish\.proxy"):
        parse_config("lab: {name: x}\npublish: {proxy: 'no port here'}\n")
    with pytest.raises(ConfigError, match=r"publish\.prefix"):
        parse_config("lab: {name: x}\npublish: {proxy: '127.0.0.1:5577', prefix: 'a b'}\n")
    loaded = parse_config("lab: {name: x}\npublish: {proxy: 'labhost:5577'}\n")
    assert loaded.model.publish is not None
    assert loaded.model.publish.proxy == "labhost:5577"
    assert parse_config("lab: {name: x}\n").model.publish is None
    document = copy.deepcopy(sim_lab_document())
    document["publish"] = {"proxy": "127.0.0.1:5577"}
    result = CliRunner().invoke(app, ["validate", str(write_config(tmp_path, document))])
    assert result.exit_code == 0, result.output
    assert "publish: documents live to the 0MQ proxy at 127.0.0.1:5577" in result.output
