"""Execute every tutorial notebook in ``notebooks/`` top to bottom (slow; ``pytest -m notebooks``).

Each notebook runs in a fresh kernel of *this* interpreter (a kernelspec written for ``sys.executable``
into a temporary directory, so a user-level ``python3`` kernelspec pointing at another Python cannot be
picked up), with ``notebooks/`` as its working directory. A failing cell fails the test with the cell
and its traceback. The executed copy is kept in memory only: the stored notebooks stay without outputs.
"""
import pathlib
import sys
import time

import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL = "pdlf-brian-notebooks"
CELL_TIMEOUT_S = 600


def test_notebooks_exist_and_are_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    assert PATHS, f"no notebooks in {NOTEBOOKS}"
    for path in PATHS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        dirty = [i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
        assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    kernels = tmp_path / "kernels"
    write_kernel_spec(kernels / KERNEL)                      # argv[0] = sys.executable
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))

    nb = nbformat.read(path, as_version=4)
    probe = nbformat.v4.new_code_cell("import sys; print(sys.executable)")
    nb.cells.insert(0, probe)
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    client.execute()                                          # raises CellExecutionError on a failing cell
    seconds = time.perf_counter() - start
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream").strip()
    assert pathlib.Path(printed).resolve() == pathlib.Path(sys.executable).resolve(), \
        f"the kernel ran {printed!r}, not this interpreter {sys.executable!r}"
    print(f"{path.name}: {seconds:.1f} s")
