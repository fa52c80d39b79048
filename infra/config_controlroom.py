"""The ``[controlroom]`` section of the site configuration (docs/controlroom.md).

What the operator sees beside the Prefect UI: the image previews server ``pyros up`` runs (PNG
thumbnails of the latest frames, linked from the Prefect artifacts) and how much the artifacts
that are updated in place keep. The previews server follows ``[security]`` like every listener
of the stack (infra/config_security.py): loopback unless ``bind_hosts`` lists its address, and
loopback clients only unless ``allowed_peers`` names their network: frames are the observatory's
data.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ControlRoomSection(BaseModel):
    """Image previews and the bounded artifacts of the control room.

    Attributes
    ----------
    previews_enabled : bool
        Render a preview of each analysed frame and run the previews server with the stack.
    previews_host : str
        Address the previews server binds: loopback, or an address ``[security] bind_hosts``
        lists.
    previews_port : int
        Its port.
    previews_keep : int
        Latest frames whose previews are kept on disk, served and listed in the artifact.
    preview_size_px : int
        Longest side of a preview, in pixels.
    preview_stretch : str
        ``zscale`` (linear between IRAF's zscale limits) or ``asinh`` (asinh stretch over the
        99.5 % percentile interval: faint and bright sources both visible).
    nrt_artifact_frames : int
        Latest frames listed in the NRT results artifact (with the run's totals).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    previews_enabled: bool = True
    previews_host: str = "127.0.0.1"
    previews_port: Annotated[int, Field(ge=1, le=65535)] = 8280
    previews_keep: int = Field(default=12, ge=1, le=500)
    preview_size_px: int = Field(default=512, ge=32, le=4096)
    preview_stretch: Literal["zscale", "asinh"] = "zscale"
    nrt_artifact_frames: int = Field(default=20, ge=1, le=1000)

    def previews_base_url(self) -> str:
        """``http://host:port`` the previews are linked from (loopback when bound to all)."""
        host = self.previews_host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.previews_port}"
