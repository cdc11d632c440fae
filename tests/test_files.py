"""Files gptmagic writes whole (exports, images): a failed write leaves the old file, no debris.

A write is made to fail for real by a file-size limit (``RLIMIT_FSIZE``): the kernel gets
``EFBIG`` part-way through, like a full disk.
"""

from __future__ import annotations

import contextlib
import signal

import pytest

from gptmagic.files import without_lone_surrogates, write_atomic, write_new
from tests.conftest import run

resource = pytest.importorskip("resource")  # POSIX only


@contextlib.contextmanager
def file_size_limit(size: int):
    """Writes past ``size`` bytes fail with EFBIG (instead of the signal killing us)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_save_that_fails_while_writing_leaves_the_old_file_and_no_temporary_file(
    shell, tmp_path, capsys
):
    run(shell, "%%gpt\n" + "a long question " * 100)
    path = tmp_path / "chat.json"
    path.write_text("the old save", encoding="utf-8")
    with file_size_limit(500):
        result = run(shell, f"%gpt save {path}")
    err = capsys.readouterr().err
    assert not result.success and err.startswith("UsageError: Cannot save to")
    assert "File too large" in err and "Traceback" not in err
    assert path.read_text(encoding="utf-8") == "the old save"
    assert [p.name for p in tmp_path.iterdir()] == ["chat.json"]


def test_a_save_replaces_the_old_file_and_keeps_its_permissions(shell, tmp_path):
    run(shell, "%%gpt\nhello")
    path = tmp_path / "chat.md"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o640)
    assert run(shell, f"%gpt save {path}").success
    assert "### User\n\nhello" in path.read_text(encoding="utf-8")
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["chat.md"]


def test_a_save_through_a_symlink_updates_the_file_it_points_to_and_keeps_the_link(shell, tmp_path):
    """The rename replaced the link itself with a new file: the file it pointed to (in a
    synced folder, say) kept the old conversation, and the link was gone."""
    run(shell, "%%gpt\nhello")
    real = tmp_path / "synced" / "chat.md"
    real.parent.mkdir()
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "chat.md"
    link.symlink_to(real)
    assert run(shell, f"%gpt save {link}").success
    assert link.is_symlink() and link.resolve() == real
    assert "### User\n\nhello" in real.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["chat.md", "chat.md", "synced"]


def test_a_new_save_is_readable_by_others_like_any_file(shell, tmp_path):
    run(shell, f"%gpt save {tmp_path / 'chat.json'}")
    assert (tmp_path / "chat.json").stat().st_mode & 0o777 == 0o644


def test_an_image_that_fails_while_saving_leaves_no_partial_file(shell, tmp_path, capsys):
    target = tmp_path / "fox.png"
    with file_size_limit(100):  # the test server's PNG is larger
        result = run(shell, f"%gptimage --save {target} a red fox")
    assert not result.success and "Could not save the image" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def no_hard_links(source, target):
    raise PermissionError(1, "Operation not permitted")


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard links", "no hard links"])
def test_write_new_never_overwrites_and_leaves_no_temporary_file(tmp_path, monkeypatch, hard_links):
    """Without hard links (some network or FAT file systems) the name is claimed with an
    exclusive create instead, which fails on an existing file just the same."""
    if not hard_links:
        monkeypatch.setattr("os.link", no_hard_links)
    path = tmp_path / "a.png"
    write_new(path, b"first")
    with pytest.raises(FileExistsError):
        write_new(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_write_atomic_into_a_missing_folder_fails_before_touching_anything(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "x.json", b"{}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain é", "plain é"),
        ("a\ud800b", "a\ufffdb"),  # half an emoji
        ("\udc00\ud800", "\ufffd\ufffd"),  # halves in the wrong order are two halves
        ("x\ud83d\ude00y", "x😀y"),  # a pair written as two halves is the emoji
    ],
)
def test_lone_surrogates_are_replaced_and_pairs_joined(text, expected):
    assert without_lone_surrogates(text) == expected
    without_lone_surrogates(text).encode("utf-8")
