"""gptmagic: OpenAI-compatible chat and image models as IPython magics.

Importing the package costs nothing: the magics (and, later, the ``openai`` SDK) are only
imported when IPython loads the extension.
"""

__version__ = "0.1.0"


def load_ipython_extension(ipython):
    """Called by ``%load_ext gptmagic``."""
    from .extension import load

    load(ipython)


def unload_ipython_extension(ipython):
    """Called by ``%unload_ext gptmagic`` and ``%reload_ext gptmagic``."""
    from .extension import unload

    unload(ipython)
