"""``%%gpt --code``: ask for code, then hand it over as a new cell below (never run).

``set_next_input`` is the only way a kernel can create a cell, and frontends treat it
differently: JupyterLab and Notebook add a cell below on every call, VS Code ignores it, Colab
has added it twice, and headless runs (nbclient, papermill) drop it. So the code is always
also kept in ``_gpt_code`` (and ``NAME_code`` with ``-o NAME``) and shown as a fenced block
that can be copied from any frontend.

A cell inserts code below only on its first run in a kernel: re-running it (same cell id when
the frontend sends one, else the same prompt) shows and stores the new code but does not add
another cell, so re-runs never pile up cells; nor does a new kernel running the notebook again
when the saved notebook already holds that code right below the cell.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import re
import textwrap
from typing import TYPE_CHECKING

from .content import Content, append_text
from .context import split_fences
from .files import running_notebook
from .render import show_markdown

if TYPE_CHECKING:
    from .settings import CellContext

CODE_VARIABLE = "_gpt_code"
PYTHON_INFO = {"python", "py", "python3", "ipython", "ipython3"}
# Appended to the user's prompt (after {name} interpolation), so it is stored in the history
# and shown by --dry-run exactly as sent.
INSTRUCTION = (
    "\n\n(Answer with Python code for a Jupyter cell in one ```python block; keep any "
    "explanation short. The variables named above already exist in the kernel.)"
)


def ask_for_code(prompt: Content) -> Content:
    return append_text(prompt, INSTRUCTION)


def extract_code(answer: str) -> str:
    """The answer's Python: its ```python blocks, else unlabelled blocks that parse as
    Python, else the whole answer if it is code; "" when there is none."""
    blocks = closed_blocks(answer)
    chosen = [body for info, body in blocks if info in PYTHON_INFO]
    if not chosen:
        chosen = [body for info, body in blocks if not info and is_python(body)]
    if chosen:
        return "\n\n".join(body.strip("\n") for body in chosen)
    whole = answer.strip()
    return whole if not blocks and is_python(whole) else ""


def closed_blocks(text: str) -> list[tuple[str, str]]:
    """(info word, body) of each fenced block that has its closing fence."""
    blocks = []
    for is_code, part in split_fences(text):
        lines = part.splitlines(keepends=True)
        if not is_code or len(lines) < 2:
            continue
        opener, closer = lines[0].strip(), lines[-1].strip()
        fence = re.match(r"`+|~+", opener).group()  # type: ignore[union-attr]
        if not (closer.startswith(fence) and set(closer) == {fence[0]}):
            continue  # cut off (max_tokens): never hand over half a block
        words = opener[len(fence) :].split()
        blocks.append((words[0].lower() if words else "", textwrap.dedent("".join(lines[1:-1]))))
    return blocks


def is_python(text: str) -> bool:
    """Parses as Python and is more than a bare name or constant (plain prose is not code)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Name | ast.Constant))
        for node in tree.body
    )


def deliver(ctx: CellContext, prompt: str, answer: str, out: str | None) -> None:
    """Store the answer's code, insert it below (first run of this cell only) and show it."""
    from IPython.display import display

    code = extract_code(answer)
    names = [CODE_VARIABLE] + ([f"{out}_code"] if out else [])
    for name in names:
        ctx.shell.user_ns[name] = code
    where = " and ".join(f"`{n}`" for n in names)
    if not code:
        text = f"No Python code found in the answer; nothing inserted ({where} set to `''`)."
        show_markdown(text)
        return
    inserted = insert_below(ctx, prompt, code)
    if inserted:
        head = f"Code inserted in a new cell below (not run); also in {where}."
    else:
        head = (
            f"Code in {where}. Not inserted again: this cell already added a cell below on an "
            "earlier run (re-runs do not pile up cells); copy it from here if you want it."
        )
    fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", code)), default=0))
    display(
        {"text/markdown": f"{head}\n\n{fence}python\n{code}\n{fence}", "text/plain": code},
        raw=True,
        metadata={"gptmagic": {"code": {"inserted": inserted, "variables": names}}},
    )


def insert_below(ctx: CellContext, prompt: str, code: str) -> bool:
    """``set_next_input`` unless this cell (id, else prompt) inserted code before, in this
    kernel or, as the saved notebook shows, in an earlier one."""
    session = ctx.session
    key = hashlib.sha256((session.cell_id or prompt).encode()).hexdigest()
    first = key not in session.inserted_cells and not saved_below(session.cell_id, code)
    session.inserted_cells.add(key)
    if first:
        ctx.shell.set_next_input(code, replace=False)
    return first


MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # a larger saved notebook is not read for this


def saved_below(cell_id: str | None, code: str) -> bool:
    """Whether the saved notebook this kernel runs for already holds ``code`` in the cell
    right below cell ``cell_id``: a notebook run again from the top in a new kernel (Restart
    and Run All, the replay cache answering alike) then gets no second copy of each cell.
    Unsaved changes are not seen: Jupyter names the file, not the open document."""
    import json

    path = running_notebook()
    if not cell_id or path is None or path.suffix != ".ipynb":
        return False
    try:
        if not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return False
        cells = json.loads(path.read_bytes()).get("cells")
    except (OSError, ValueError, AttributeError):  # gone, unreadable, not a notebook
        return False
    if not isinstance(cells, list):
        return False
    for cell, below in itertools.pairwise(cells):
        if isinstance(cell, dict) and cell.get("id") == cell_id:
            if not isinstance(below, dict) or below.get("cell_type") != "code":
                return False
            source = below.get("source")
            source = "".join(source) if isinstance(source, list) else source
            return isinstance(source, str) and source.strip() == code.strip()
    return False
