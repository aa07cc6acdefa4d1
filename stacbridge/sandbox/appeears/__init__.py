"""An AppEEARS emulator built from the recorded responses in `fixtures/appeears/`.

`AppEEARSSandbox` runs the API (`/api/...`, see `app.py`) and an S3-like data host for the
bundles' signed URLs, on loopback, sharing one `SandboxClock`.  Extraction tasks follow
AppEEARS's lifecycle on that clock and yield real GeoTIFFs clipped to the requested area,
named as AppEEARS names them (`<product>_<layer>_doy<YYYYDDD>_aid0001.tif`).

Recorded and served verbatim: the login answer's shape, the MCD15A3H.061 `/product` entry, the
`LST_Day_1km` layer of MOD11A2.061, `/spatial/proj`, the quality answers, the 2020 task list
and its two `/status` answers (pending; processing — which has no `status` key, only
`progress`), the submit answers' shape, and both 2025 bundles.

**Guesses** (no recording exists; SOURCES.md lists what is missing):

- the MOD11A2.061 and SRTMGL1_NC.003 `/product` entries and every layer but `LST_Day_1km`
  (names from the recorded bundles, values by analogy) — see `catalogue.py`;
- HTTP statuses: `202` for a submitted task, `303` from `/status/{id}` to `/task/{id}` when
  done (inferred in SOURCES.md), `307` from `/bundle/{id}/{file}` to a signed URL, `204` for
  `/logout`, `401` without a token and `403` for an expired one;
- every error body (`{"message": ...}`) and its wording, the validation rules of `POST /task`;
- the `queued` and `error` status shapes (modelled on the recorded `pending` one);
- the bodies of the two recorded 2025 tasks (only their bundles and keys were recorded): their
  `params` are reconstructed from the bundle file names, without `geo`;
- task phase durations (`durations`), the files besides the GeoTIFFs (request JSON, a CSV per
  product for point tasks, README), and the bytes of the recorded bundles' files, which the
  data host does not have (their hrefs answer S3's 404).
"""

from __future__ import annotations

from collections.abc import Mapping

from stacbridge.sandbox._kit import SandboxClock, as_clock
from stacbridge.sandbox.appeears.app import create_appeears_app, new_state, seed_recorded_tasks
from stacbridge.sandbox.appeears.state import AppEEARSState
from stacbridge.sandbox.datahost import create_s3_app
from stacbridge.sandbox.server import ServerThread

__all__ = ["AppEEARSSandbox", "AppEEARSState", "create_appeears_app"]


class AppEEARSSandbox:
    """The AppEEARS API and its data host, each a real HTTP server on loopback.

    with AppEEARSSandbox({"sandbox": "sandbox-password"}) as sb:
        sb.url            # the API base, ".../api/"
        sb.state          # tasks, tokens; sb.state.fail_next("..."), sb.clock.advance(...)
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        clock: SandboxClock | None = None,
        host: str = "127.0.0.1",
        durations: tuple[float, float, float] = (1.0, 1.0, 2.0),
    ) -> None:
        self.clock = as_clock(clock)
        self.state = new_state(dict(users), self.clock)
        self.state.durations = durations
        for user in users:
            seed_recorded_tasks(self.state, user)
        self.data = ServerThread(create_s3_app(self.state.files, clock=self.clock), host=host)
        self.api = ServerThread(create_appeears_app(self.state, data_url=self.data.url), host=host)

    @property
    def url(self) -> str:
        return f"{self.api.url}/api/"

    def start(self) -> AppEEARSSandbox:
        self.data.start()
        self.api.start()
        return self

    def stop(self) -> None:
        self.api.stop()
        self.data.stop()

    def __enter__(self) -> AppEEARSSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
