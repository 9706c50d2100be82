"""Faults on a Dask cluster of worker processes, in the middle of a fit.

The data are generated lazily, chunk by chunk, by a deterministic function of
the chunk's index (:func:`_chunk`): the scheduler can recompute any chunk that a
dead worker held, and every pass of the fit calls the generator again. The
generator also counts its calls (one file per call in a directory shared with
the workers), which is how a test knows the fit has run some iterations, and
carries the injected fault:

- recoverable (``"block"``): the call that comes after the first ``after``
  calls writes its worker's pid and waits; a thread of the test kills that
  worker process (``SIGKILL``) as soon as the pid appears. The scheduler runs
  the lost tasks again on the other worker (a task may outlive one worker:
  ``allowed-failures`` is 1), and the fit must end where the fit without a
  fault ends.
- unrecoverable: one poisoned chunk, at its first call after the first
  ``after`` calls, raises ``OSError`` (``"raise"``, at every call from then
  on), or kills its own worker (``"kill"``, once), which the scheduler gives
  up on with ``KilledWorker`` (``allowed-failures`` is 0). The fit must
  raise, and leave the estimator's attributes exactly as they were.
"""

import copy
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close_to_scale

from sklearn_otmix import OTGaussianMixture

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

N_CHUNKS, CHUNK_ROWS, N_FEATURES = 8, 2000, 3
CENTRES = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
SCALES = np.array([1.0, 0.5, 2.0])
# Longest wait for any event of a test (a blocked task, a worker started).
TIMEOUT = 60.0


def _chunk_function():
    """The generator, a local function: the workers get it by value (pickle
    cannot name it), without importing this module and the test suite's
    conftest, which every new worker process would do again."""

    def generated_chunk(block_info=None, *, seed, directory):
        """Rows of chunk ``i``: a function of ``(seed, i)`` only. Counts the
        call and injects the fault armed in ``directory`` (see the module
        docstring)."""
        (start, stop), _ = block_info[None]["array-location"]
        index = block_info[None]["chunk-location"][0]
        rng = np.random.default_rng([seed, index])
        component = rng.integers(0, len(CENTRES), stop - start)
        rows = CENTRES[component] + rng.normal(size=(stop - start, N_FEATURES)) * (
            SCALES[component][:, None]
        )
        directory = Path(directory)
        try:
            fault = (directory / "fault").read_text()
        except FileNotFoundError:  # not armed, or disarmed
            return rows
        mode, after, poisoned = fault.split()
        (directory / "calls" / uuid.uuid4().hex).touch()
        if len(os.listdir(directory / "calls")) <= int(after):
            return rows
        if mode != "block" and index != int(poisoned):
            return rows
        if mode == "raise":
            raise OSError(f"injected fault: chunk {index} of the data is unreadable")
        if mode == "kill":
            try:
                # One worker killed: the scheduler then gives the task up.
                os.close(os.open(directory / "killed", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return rows
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "block":
            try:
                # Exactly one call (the first past ``after``) waits to be killed.
                os.close(os.open(directory / "claimed", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return rows
            (directory / "pid.tmp").write_text(str(os.getpid()))
            os.replace(directory / "pid.tmp", directory / "pid")
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                time.sleep(0.01)
            raise RuntimeError("the test did not kill the blocked worker")
        return rows

    return generated_chunk


_chunk = _chunk_function()


def _lazy_data(directory, seed=0):
    """A lazily generated Dask array, recomputed on every pass of a fit."""
    return da.map_blocks(
        _chunk,
        chunks=((CHUNK_ROWS,) * N_CHUNKS, (N_FEATURES,)),
        dtype=np.float64,
        token="generated-chunk",
        seed=seed,
        directory=str(directory),
    )


def _arm(directory, mode, after, poisoned=N_CHUNKS // 2):
    """Arm the fault: the calls are counted from now."""
    (directory / "calls").mkdir(exist_ok=True)
    for name in os.listdir(directory / "calls"):
        os.remove(directory / "calls" / name)
    (directory / "fault.tmp").write_text(f"{mode} {after} {poisoned}")
    os.replace(directory / "fault.tmp", directory / "fault")


def _disarm(directory):
    """No more faults: chunks still computed for the failed call, and their
    recomputations, go through."""
    (directory / "fault").unlink(missing_ok=True)


def _n_calls(directory):
    return len(os.listdir(directory / "calls"))


class _Cluster:
    """A scheduler and its worker processes, each a process of its own that
    the tests start, kill and reap themselves.

    No nanny: a killed worker stays dead (the scheduler goes on with the other
    one) until :meth:`healthy` starts another for the next test, so that no
    test waits on a restart that a nanny may or may not make in time. The
    scheduler gives a task up once ``allowed_failures + 1`` workers died while
    running it."""

    def __init__(self, allowed_failures, directory):
        self.directory = directory
        self.workers = []
        env = {
            **os.environ,
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures),
        }
        address_file = directory / "scheduler.json"
        self.scheduler = self._start(
            "scheduler",
            ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0"],
            ["--scheduler-file", str(address_file)],
            env=env,
        )
        deadline = time.monotonic() + TIMEOUT
        while not address_file.exists():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"no scheduler:\n{self._logs()}")
            time.sleep(0.01)
        self.client = distributed.Client(
            scheduler_file=str(address_file), timeout=TIMEOUT
        )

    def _start(self, name, command, options, env=None):
        log = open(self.directory / f"{name}-{time.monotonic_ns()}.log", "w")
        with log:
            return subprocess.Popen(
                [sys.executable, "-m", *command, "--no-dashboard", *options],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def _logs(self):
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-2000:]}"
            for path in sorted(self.directory.glob("*.log"))
        )

    def _scheduler_workers(self):
        return self.client.run_on_scheduler(
            lambda dask_scheduler: sorted(dask_scheduler.workers)
        )

    def healthy(self, n_workers=2):
        """Reap the dead workers, start new ones up to ``n_workers``, and wait
        until the scheduler has exactly the live ones."""
        self.workers = [w for w in self.workers if w.poll() is None]
        while len(self.workers) < n_workers:
            self.workers.append(
                self._start(
                    "worker",
                    ["distributed.cli.dask_worker", self.client.scheduler.address],
                    ["--no-nanny", "--nthreads", "1", "--death-timeout", "60"],
                )
            )
        live = {worker.pid for worker in self.workers}
        deadline = time.monotonic() + TIMEOUT
        while True:
            if len(self._scheduler_workers()) == n_workers:
                try:
                    if set(_worker_pids(self.client).values()) == live:
                        return self.client
                except OSError:  # one was removed meanwhile
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the scheduler has not the workers {live}:\n{self._logs()}"
                )
            time.sleep(0.05)

    def close(self):
        if getattr(self, "client", None) is not None:
            self.client.close()
        for process in [*self.workers, self.scheduler]:
            process.terminate()
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _cluster(allowed_failures, directory):
    cluster = _Cluster(allowed_failures, directory)
    try:
        assert (
            cluster.client.run_on_scheduler(
                lambda dask_scheduler: dask_scheduler.allowed_failures
            )
            == allowed_failures
        )
        yield cluster
    finally:
        cluster.close()


# One cluster at a time: each class of tests has its own.
@pytest.fixture(scope="class")
def tolerant_cluster(tmp_path_factory):
    """A task survives the death of one worker."""
    yield from _cluster(1, tmp_path_factory.mktemp("tolerant"))


@pytest.fixture
def tolerant(tolerant_cluster):
    return tolerant_cluster.healthy()


@pytest.fixture(scope="class")
def fragile_cluster(tmp_path_factory):
    """A task fails at the death of its worker."""
    yield from _cluster(0, tmp_path_factory.mktemp("fragile"))


@pytest.fixture
def fragile(fragile_cluster):
    return fragile_cluster.healthy()


def _worker_pids(client):
    return client.run(os.getpid)


@pytest.fixture(scope="module")
def initial_parameters():
    """Explicit initial parameters (one EM iteration on a sample of the data)."""
    X = np.concatenate(
        [
            _chunk(
                {None: {"array-location": [(0, 500), (0, 3)], "chunk-location": (i,)}},
                seed=0,
                directory="/nonexistent",
            )
            for i in range(2)
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = OTGaussianMixture(3, max_iter=1, random_state=0).fit(X)
    return {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


def _estimator(initial_parameters, reg_m, **params):
    init = dict(initial_parameters)
    if reg_m == np.inf:
        init["weights_init"] = None  # fixed weights: the targets
    params = {"tol": 1e-8, "max_iter": 50, **params}
    return OTGaussianMixture(3, reg_m=reg_m, **init, **params)


class _Killer(threading.Thread):
    """Waits for the pid of the blocked task's worker, checks it is one of the
    cluster's worker processes, and kills it."""

    def __init__(self, directory, worker_pids):
        super().__init__(daemon=True)
        self.directory = directory
        self.worker_pids = worker_pids
        self.stop = threading.Event()
        self.killed = None
        self.error = None

    def run(self):
        path = self.directory / "pid"
        deadline = time.monotonic() + TIMEOUT
        while not path.exists():
            if self.stop.wait(0.01) or time.monotonic() > deadline:
                return
        pid = int(path.read_text())
        if pid not in self.worker_pids:
            self.error = f"pid {pid} is not a worker of the cluster {self.worker_pids}"
            return
        os.kill(pid, signal.SIGKILL)
        self.killed = pid


class TestWorkerKilledMidFit:
    """The fault the scheduler recovers from."""

    @pytest.mark.parametrize("reg_m", [0.0, np.inf], ids=["EM", "balanced"])
    def test_fit_ends_as_without_the_fault(
        self, tolerant, tmp_path, initial_parameters, reg_m
    ):
        """A worker process killed in the middle of a fit: its chunks (and,
        with ``reg_m=inf``, the per-chunk costs persisted on it) are
        recomputed, and the fit ends where the fit without a fault ends."""
        client = tolerant
        X = _lazy_data(tmp_path)
        reference = _estimator(initial_parameters, reg_m).fit(X)
        assert reference.converged_ and reference.n_iter_ >= 5
        # A check pass over X, then a pass or more per iteration: the fault
        # comes in the middle of the third iteration or later.
        after = 3 * N_CHUNKS + N_CHUNKS // 2
        _arm(tmp_path, "block", after)
        pids = _worker_pids(client)
        killer = _Killer(tmp_path, set(pids.values()))
        killer.start()
        try:
            faulted = _estimator(initial_parameters, reg_m).fit(X)
        finally:
            _disarm(tmp_path)
            killer.stop.set()
            killer.join(TIMEOUT)
        assert killer.error is None, killer.error
        assert killer.killed is not None, "no worker was killed: no fault"
        # The fit went on after the kill.
        assert _n_calls(tmp_path) > after + N_CHUNKS
        assert killer.killed not in _worker_pids(client).values()

        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert_close_to_scale(
                getattr(faulted, name), getattr(reference, name), 1e-10, name
            )
        assert faulted.n_iter_ == reference.n_iter_
        assert faulted.converged_ == reference.converged_
        np.testing.assert_allclose(
            faulted.lower_bound_, reference.lower_bound_, rtol=1e-10
        )
        np.testing.assert_allclose(
            faulted.lower_bounds_, reference.lower_bounds_, rtol=1e-10
        )
        X_memory = X.compute()
        np.testing.assert_array_equal(
            faulted.predict(X_memory), reference.predict(X_memory)
        )


def _assert_same_attributes(after, before, path="estimator"):
    """``after`` is ``before``: the same attributes, with equal values."""
    if isinstance(before, dict):
        assert isinstance(after, dict), path
        assert after.keys() == before.keys(), (
            f"{path}: attributes added {sorted(set(after) - set(before))}, "
            f"removed {sorted(set(before) - set(after))}"
        )
        for key in before:
            _assert_same_attributes(after[key], before[key], f"{path}.{key}")
    elif isinstance(before, np.ndarray):
        assert isinstance(after, np.ndarray), path
        assert after.dtype == before.dtype, path
        np.testing.assert_array_equal(after, before, err_msg=path, strict=True)
    elif isinstance(before, (list, tuple)):
        assert type(after) is type(before), path
        assert len(after) == len(
            before
        ), f"{path}: length {len(after)} instead of {len(before)}"
        for i, (a, b) in enumerate(zip(after, before)):
            _assert_same_attributes(a, b, f"{path}[{i}]")
    elif hasattr(before, "__dict__") and not isinstance(before, type):
        assert type(after) is type(before), path
        _assert_same_attributes(vars(after), vars(before), path)
    elif isinstance(before, float) and np.isnan(before):
        assert isinstance(after, float) and np.isnan(after), path
    else:
        assert (
            type(after) is type(before) and after == before
        ), f"{path}: {after!r} instead of {before!r}"


# How the failing call is made on the fitted estimator, and after how many
# calls of the generator the poisoned chunk fails: in the third iteration of a
# fit (after a check pass and two iterations' passes); in partial_fit's E-step
# (after its check pass).
OPERATIONS = {
    "refit": (lambda est, X: est.fit(X), 3 * N_CHUNKS),
    "warm_start": (lambda est, X: est.fit(X), 3 * N_CHUNKS),  # warm_start=True
    "partial_fit": (lambda est, X: est.partial_fit(X), N_CHUNKS),
}


class TestUnrecoverableFault:
    """The faults the fit cannot survive: it raises, and leaves the estimator
    as it was."""

    @pytest.mark.parametrize(
        ("mode", "operation"), list(itertools.product(["raise", "kill"], OPERATIONS))
    )
    def test_failed_fit_leaves_the_estimator_as_it_was(
        self, fragile, tmp_path, initial_parameters, mode, operation
    ):
        """A fault in the middle of a second fit: the error reaches the
        caller, and the estimator keeps the first fit."""
        workers = set(fragile.scheduler_info()["workers"])
        first = tmp_path / "first"
        second = tmp_path / "second"
        first.mkdir()
        second.mkdir()
        estimator = _estimator(initial_parameters, 0.0, max_iter=10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # may not converge in 10 iterations
            estimator.fit(_lazy_data(first, seed=0))
        call, after = OPERATIONS[operation]
        if operation == "warm_start":
            estimator.set_params(warm_start=True)
        before = copy.deepcopy(vars(estimator))
        X_first = _lazy_data(first, seed=0).compute()
        densities = estimator.score_samples(X_first)

        # Another data set, so that a second fit that went through would
        # change the parameters.
        X = _lazy_data(second, seed=1)
        _arm(second, mode, after)
        if mode == "raise":
            error_type, message = OSError, r"injected fault: chunk \d+ of the data"
        else:
            error_type = distributed.KilledWorker
            message = (
                r"Attempted to run task .+ on 1 different workers, but all "
                r"those workers died while running it"
            )
        try:
            with pytest.raises(error_type, match=message) as error:
                call(estimator, X)
        finally:
            _disarm(second)
        # The fault came in the middle of the call, not before it.
        assert _n_calls(second) > after
        if mode == "kill":
            # The task (the poisoned chunk's, or another one of the pass that
            # was on the worker when it died) and one of the workers the fit
            # started with.
            assert error.value.allowed_failures == 0
            assert error.value.last_worker.address in workers
            assert error.value.last_worker.address in str(error.value)
        _assert_same_attributes(vars(estimator), before)
        # The estimator still works, with its first fit.
        np.testing.assert_array_equal(estimator.score_samples(X_first), densities)
