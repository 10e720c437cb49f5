"""Settings from the environment (prefix SETROOM_), built once by create_app's caller."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SETROOM_", extra="ignore")

    database_url: str = "sqlite:///var/setroom.db"
    broker_url: str = "memory://"
    broker_ping_interval: float = 5.0
    broker_ping_timeout: float = 3.0
    """The Redis broker pings its subscriber connection `interval` seconds after the last
    answer and drops it when a ping goes unanswered for `timeout`: a silent link is noticed
    within their sum (8 s by default; see app.rooms.redis_broker)."""
    broker_command_timeout: float = 2.0
    """Seconds a Redis connect or command may take (publishing, reconnecting)."""
    broker_heartbeat_interval: float = 3.0
    broker_heartbeat_lapse: float = 15.0
    """Each worker beats a heartbeat in Redis every `interval` seconds; one silent for `lapse`
    seconds is taken for dead, and the others record its connections as gone (see
    app.rooms.presence). A worker cut off from Redis that long counts its sockets again when
    it is back."""
    presence_sweep_seconds: float = 5.0
    """How often each worker looks for lapsed workers to sweep."""
    public_url: str = "http://127.0.0.1:8000"
    """Where people reach this server; join links printed at start use it."""
    demo: bool = False
    """Create (on first start) the demo set and print fresh join links at every start."""
    max_message_bytes: int = 16 * 1024
    send_queue_limit: int = 1000
    """Messages waiting for one slow socket before it is closed (it then resyncs on reconnect)."""
    replay_buffer: int = 500
    """Recent events each live room keeps to bring reconnecting clients up to date."""
    gc_freeze_seconds: float = 1.0
    """How often the worker moves its surviving objects out of the garbage collector's reach
    (gc.freeze, see app.collector); 0 turns it off."""
    gc_thaw_minutes: float = 30.0
    """How often, at the latest, the frozen objects go back to the collector, so that garbage
    cycles among them are reclaimed at the price of one full collection; 0: never."""
    gc_churn_thaw_seconds: float = 300.0
    """When sockets have closed since the last thaw, thaw after at most this many seconds (at
    once when no socket is left open): a closed socket's garbage cycles were frozen with it.
    Each thaw is one full collection, a pause of a few hundred ms with many sockets (see
    app.collector); 0: only every gc_thaw_minutes."""
    join_link_days: int = 120
    session_days: int = 30
    cookie_secure: bool = False
    smtp_host: str = ""
    """Mail (password resets, reminders) goes by SMTP when set; otherwise it is logged."""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "Setroom <setroom@localhost>"
    retention_days: int | None = None
    """How long a closed meeting's content is kept before `python -m app purge` removes it
    (app.db.retention); None: until someone runs the purge with --days."""
    login_limit: str = "5/minute"
    """Sign-in attempts allowed per address and per client (the `limits` library's notation)."""
    ws_allowed_origins: str = ""
    """Origins (comma-separated, e.g. `https://rooms.example.org`) allowed to open the room's
    socket besides public_url's and the server's own host (docs/protocol.md, Origin)."""
    ws_message_rate: str = "120/10 seconds"
    """Messages one socket may send in a moving window (the `limits` library's notation, several
    separated by ';'); past it each message is refused with `too_fast`."""
    ws_throttle_strikes: int = 10
    """Messages refused with `too_fast` one after another before the socket is closed (1008)."""
    ws_max_sockets_per_person: int = 4
    """Sockets one person may hold in one meeting; a further one closes their oldest (4001)."""
    ws_ping_interval: float = 20.0
    """`python -m app`: seconds between WebSocket protocol pings (browsers answer them)."""
    ws_ping_timeout: float = 20.0
    """`python -m app`: a socket that does not answer a ping within this is closed (1011)."""
