"""The web pages for coaches, employers and the data team: server-rendered, in Swedish.

`install(app)` mounts them at /web on the API app; see `api.web.pages`.
"""

from api.web.pages import install

__all__ = ["install"]
