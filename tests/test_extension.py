"""The setuptools integration: `pip wheel .` of examples/kernel_package generates and compiles its kernels."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

# Runs where the wheel was unpacked, with aotgraph unimportable: the kernels need numpy alone.
CHECK = """
import sys
sys.modules["aotgraph"] = None
sys.path.insert(0, sys.argv[1])
import numpy as np
import kernel_demo
from kernel_demo import kernels
x = np.array([[1.0, 2.0, 0.5], [-1.0, -0.5, -2.0], [2.0, 1.0, 1.0], [-2.0, -1.0, 0.0]])
y = np.array([1.0, 0.0, 1.0, 0.0])
print(repr(float(kernels.train(x, y))), repr(float(kernels.train(x, y, 0.1))))
print(kernels.get_value("w").tolist(), float(kernels.get_value("b")))
print(kernel_demo.predict(x).tolist())
"""


def _reference_steps(x, y, lrs):
    """Logistic regression by hand with numpy: the cost before each step, then w and b."""
    w, b, costs = np.zeros(3), 0.0, []
    for lr in lrs:
        p = 1 / (1 + np.exp(-(x @ w + b)))
        costs.append(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
        w, b = w - lr * x.T @ (p - y) / len(y), b - lr * (p - y).mean()
    return costs, w, b


def test_pip_wheel_of_a_project_builds_its_kernels(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "kernel_package", project)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
           "-w", str(tmp_path / "dist"), str(project)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "dist").glob("kernel_demo-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    assert "kernel_demo/kernels/__init__.pyi" in names and "kernel_demo/kernels/aotgraph_data.npz" in names
    assert not [n for n in names if n.endswith((".pyx", "setup.py", "kernel_spec.py"))]  # build inputs stay out
    run = subprocess.run([sys.executable, "-I", "-c", CHECK, str(tmp_path / "site")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    costs_line, state_line, predicted = run.stdout.splitlines()
    x = np.array([[1.0, 2.0, 0.5], [-1.0, -0.5, -2.0], [2.0, 1.0, 1.0], [-2.0, -1.0, 0.0]])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    costs, w, b = _reference_steps(x, y, [0.5, 0.1])
    np.testing.assert_allclose([float(c) for c in costs_line.split()], costs, rtol=1e-12)
    np.testing.assert_allclose(eval(state_line.split("] ")[0] + "]"), w, rtol=1e-12)
    np.testing.assert_allclose(float(state_line.split("] ")[1]), b, rtol=1e-12)
    assert predicted == str(((x @ w + b) > 0).tolist())
