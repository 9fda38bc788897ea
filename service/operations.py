"""The description of each route in the OpenAPI document: parameters, bodies, responses, examples.

`operations` returns one entry per method and full path template. `build_openapi` checks the
entries against the mounted routes, so a route added to the app needs its entry here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from service import docs
from service.idempotency import IDEMPOTENCY_KEY_HEADER, MAX_KEY_LENGTH
from service.models import (
    MAX_LISTENERS,
    SNOWFLAKE_PATTERN,
    CreateSessionRequest,
    CreateTrackPlayRequest,
    EndSessionRequest,
    EndTrackPlayRequest,
    Listener,
    Session,
    TrackPlay,
)
from service.openapi import Operation, Parameter, Reply, error_replies
from service.parsing import DEFAULT_LIMIT, MAX_GUILD_IDS, MAX_LIMIT, MAX_SNOWFLAKE
from service.routes.artists import MAX_SEED_COUNT

IDEMPOTENCY_KEY_PARAMETER = Parameter(
    name=IDEMPOTENCY_KEY_HEADER,
    location="header",
    schema={"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]+$"},
    description=(
        "Optional key that makes a retry safe: the same key with the same body within 24 hours "
        "returns the first response (with Idempotent-Replayed: true) and creates nothing; "
        "with another body, or while the first request runs, it is a 409."
    ),
    example="5c0f8e3a-7b2d-4f61-9a0e-2d1c7b9e4f10",
)

# Response envelopes: the list routes wrap the Go service's objects in camelCase keys.


class SessionList(BaseModel):
    sessions: list[Session]
    count: int = Field(ge=0)


class TrackPlayList(BaseModel):
    trackPlays: list[TrackPlay]
    count: int = Field(ge=0)


class GuildRecentTrackPlays(TrackPlayList):
    guildId: str = Field(description="The guildId of the path, as sent")


class UserRecentTrackPlays(TrackPlayList):
    userId: str = Field(description="The userId of the path, as sent")


class ListenerList(BaseModel):
    listeners: list[Listener]
    count: int = Field(ge=0)


class RecommendedArtist(BaseModel):
    artist: str = Field(description="Spelling of the artist's most recent play")
    weight: float = Field(gt=0, description="exp(-age / tau) x ln(1 + plays), at least 0.0001")


class RecommendedArtists(BaseModel):
    recommended_artists: list[RecommendedArtist] = Field(
        description="Artists ordered by their most recent play, newest first"
    )


class HealthStatus(BaseModel):
    status: Literal["ok"]


class ReadyStatus(TypedDict):
    status: Literal["ready", "unavailable"]
    error: NotRequired[Annotated[str, Field(description="Why the service is not ready")]]


# Examples, shared by the request and response descriptions.

SESSION_ID = "hWfHbg5sVkVn4Z9sJZkD3q"
TRACK_PLAY_ID = "Cq2tbZ7mkN5fQUCWr8Y3pD"
GUILD_ID = 1129282748398809188
USER_ID = 214749282473574401

SESSION_EXAMPLE = {
    "ID": SESSION_ID,
    "GuildID": GUILD_ID,
    "StartedAt": "2026-01-16T10:30:00.123Z",
    "EndedAt": None,
}
ENDED_SESSION_EXAMPLE = {**SESSION_EXAMPLE, "EndedAt": "2026-01-16T11:42:10.500Z"}
TRACK_PLAY_EXAMPLE = {
    "ID": TRACK_PLAY_ID,
    "SessionID": SESSION_ID,
    "GuildID": GUILD_ID,
    "Source": "youtube",
    "SourceID": "dQw4w9WgXcQ",
    "URL": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "Title": "Never Gonna Give You Up",
    "Artist": "Rick Astley",
    "StartedAt": "2026-01-16T10:31:02.000Z",
    "EndedAt": None,
    "DurationMs": 213000,
    "PlayedDurationMs": 0,
    "QueuedByUser": USER_ID,
    "IsValid": True,
}
ENDED_TRACK_PLAY_EXAMPLE = {
    **TRACK_PLAY_EXAMPLE,
    "EndedAt": "2026-01-16T10:34:35.000Z",
    "PlayedDurationMs": 213000,
}
TRACK_PLAY_LIST_EXAMPLE = {"trackPlays": [ENDED_TRACK_PLAY_EXAMPLE], "count": 1}


def _record_id(name: str, what: str, example: str) -> Parameter:
    return Parameter(
        name,
        "path",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,36}$"},
        f"Id of the {what}, as returned when it was created",
        example=example,
    )


def _snowflake_path(name: str, what: str, example: int) -> Parameter:
    return Parameter(
        name,
        "path",
        {"type": "string", "pattern": SNOWFLAKE_PATTERN},
        f"Discord snowflake of the {what}, from 1 to {MAX_SNOWFLAKE}",
        example=str(example),
    )


SESSION_ID_PARAMETER = _record_id("sessionId", "listening session", SESSION_ID)
TRACK_PLAY_ID_PARAMETER = _record_id("trackPlayId", "track play", TRACK_PLAY_ID)
GUILD_ID_PARAMETER = _snowflake_path("guildId", "guild", GUILD_ID)
USER_ID_PARAMETER = _snowflake_path("userId", "user", USER_ID)
LIMIT_PARAMETER = Parameter(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    f"Maximum number of items to return; larger values are treated as {MAX_LIMIT}",
    example=20,
)
GUILD_IDS_PATTERN = "^[1-9][0-9]{0,18}(,[1-9][0-9]{0,18})*$"
GUILD_IDS_PARAMETER = Parameter(
    "guildIds",
    "query",
    {"type": "string", "pattern": GUILD_IDS_PATTERN},
    f"Comma-separated guild snowflakes, at most {MAX_GUILD_IDS} distinct ones; "
    "spaces around items and empty items are ignored",
    required=True,
    example=f"{GUILD_ID},1129282748398809199",
)


def _seed_count_parameter(default: int) -> Parameter:
    return Parameter(
        "seedCount",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_SEED_COUNT, "default": default},
        "Number of the newest valid plays that seed the recommendation; "
        f"larger values are treated as {MAX_SEED_COUNT}",
        example=200,
    )


READ_ERRORS = (400, 401, 503)
RECORD_ERRORS = (400, 401, 404, 503)
WRITE_ERRORS = (400, 401, 413, 415, 503)


REQUEST_EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    CreateSessionRequest: {"guildId": str(GUILD_ID)},
    # No endedAt: a fixed time would be before the start of any session or play created later.
    EndSessionRequest: {},
    CreateTrackPlayRequest: {
        "source": "youtube",
        "sourceId": "dQw4w9WgXcQ",
        "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "title": "Never Gonna Give You Up",
        "artist": "Rick Astley",
        "durationMs": 213000,
        "queuedByUser": str(USER_ID),
        "listenerIds": [str(USER_ID), "301234567890123456"],
    },
    EndTrackPlayRequest: {"playedDurationMs": 213000},
}

SESSION_LINKS = {
    "GetSession": {"operationId": "get_session", "parameters": {"sessionId": "$response.body#/ID"}},
    "CreateTrackPlay": {
        "operationId": "create_track_play",
        "parameters": {"sessionId": "$response.body#/ID"},
    },
    "EndSession": {"operationId": "end_session", "parameters": {"sessionId": "$response.body#/ID"}},
}
TRACK_PLAY_LINKS = {
    "GetTrackPlay": {
        "operationId": "get_track_play",
        "parameters": {"trackPlayId": "$response.body#/ID"},
    },
    "EndTrackPlay": {
        "operationId": "end_track_play",
        "parameters": {"trackPlayId": "$response.body#/ID"},
    },
    "ListListeners": {
        "operationId": "list_listeners",
        "parameters": {"trackPlayId": "$response.body#/ID"},
    },
}

PROMETHEUS_MEDIA_TYPES = ("text/plain", "application/openmetrics-text")


def operations(
    seed_count_default: int, metrics_public: bool = False
) -> dict[tuple[str, str], Operation]:
    """Return the description of every route, keyed by method and full path template."""
    seed_count = _seed_count_parameter(seed_count_default)
    metrics_responses: dict[int, Reply | str] = {
        200: Reply("The metrics", media_type=PROMETHEUS_MEDIA_TYPES, schema={"type": "string"})
    }
    if not metrics_public:
        metrics_responses[401] = "Unauthorized"
    return {
        ("GET", "/api/v1/health"): Operation(
            summary="Liveness probe",
            description="Returns 200 while the process serves requests; touches no database.",
            tag="probes",
            public=True,
            responses={200: Reply("The process is up", HealthStatus, {"status": "ok"})},
        ),
        ("GET", "/api/v1/ready"): Operation(
            summary="Readiness probe",
            description="Ready when the database responds and every migration is applied.",
            tag="probes",
            public=True,
            responses={
                200: Reply("Ready to serve", ReadyStatus, {"status": "ready"}),
                503: Reply(
                    "Not ready; `error` says why",
                    ReadyStatus,
                    {"status": "unavailable", "error": "database unavailable"},
                ),
            },
        ),
        ("GET", "/api/v1/sessions"): Operation(
            summary="List the sessions of some guilds",
            description="Newest first.",
            tag="sessions",
            parameters=(GUILD_IDS_PARAMETER, LIMIT_PARAMETER),
            responses={
                200: Reply(
                    "The sessions", SessionList, {"sessions": [ENDED_SESSION_EXAMPLE], "count": 1}
                ),
                **error_replies(*READ_ERRORS),
            },
        ),
        ("POST", "/api/v1/sessions"): Operation(
            summary="Start a listening session in a guild",
            tag="sessions",
            parameters=(IDEMPOTENCY_KEY_PARAMETER,),
            body=CreateSessionRequest,
            body_example=REQUEST_EXAMPLES[CreateSessionRequest],
            responses={
                201: Reply("The new session", Session, SESSION_EXAMPLE),
                **error_replies(*WRITE_ERRORS, 409),
            },
            links={201: SESSION_LINKS},
        ),
        ("GET", "/api/v1/sessions/{sessionId}"): Operation(
            summary="Read one session",
            tag="sessions",
            parameters=(SESSION_ID_PARAMETER,),
            responses={
                200: Reply("The session", Session, ENDED_SESSION_EXAMPLE),
                **error_replies(*RECORD_ERRORS),
            },
        ),
        ("PATCH", "/api/v1/sessions/{sessionId}"): Operation(
            summary="End a session",
            description=(
                "Ends the session at `endedAt`, or now when the body is empty or has no `endedAt`; "
                "`endedAt` must not be before the session started. "
                "A session without track plays is deleted instead, and the answer is 204. "
                "Ending a session that already ended returns it unchanged."
            ),
            tag="sessions",
            parameters=(SESSION_ID_PARAMETER,),
            body=EndSessionRequest,
            body_example=REQUEST_EXAMPLES[EndSessionRequest],
            body_required=False,
            responses={
                200: Reply("The ended session", Session, ENDED_SESSION_EXAMPLE),
                204: "The session had no track plays and was deleted; no body",
                **error_replies(*WRITE_ERRORS, 404),
            },
        ),
        ("GET", "/api/v1/sessions/{sessionId}/tracks"): Operation(
            summary="List the track plays of a session",
            description="Oldest first.",
            tag="track plays",
            parameters=(SESSION_ID_PARAMETER,),
            responses={
                200: Reply("The track plays", TrackPlayList, TRACK_PLAY_LIST_EXAMPLE),
                **error_replies(*RECORD_ERRORS),
            },
        ),
        ("POST", "/api/v1/sessions/{sessionId}/tracks"): Operation(
            summary="Start a track play in an open session",
            description=(
                f"Stores the play and its listeners (at most {MAX_LISTENERS}; repeats are stored "
                "once). The play counts as valid until it ends."
            ),
            tag="track plays",
            parameters=(SESSION_ID_PARAMETER, IDEMPOTENCY_KEY_PARAMETER),
            body=CreateTrackPlayRequest,
            body_example=REQUEST_EXAMPLES[CreateTrackPlayRequest],
            responses={
                201: Reply("The new track play", TrackPlay, TRACK_PLAY_EXAMPLE),
                **error_replies(*WRITE_ERRORS, 404, 409),
            },
            links={201: TRACK_PLAY_LINKS},
        ),
        ("GET", "/api/v1/tracks/{trackPlayId}"): Operation(
            summary="Read one track play",
            tag="track plays",
            parameters=(TRACK_PLAY_ID_PARAMETER,),
            responses={
                200: Reply("The track play", TrackPlay, ENDED_TRACK_PLAY_EXAMPLE),
                **error_replies(*RECORD_ERRORS),
            },
        ),
        ("PATCH", "/api/v1/tracks/{trackPlayId}"): Operation(
            summary="End a track play",
            description=(
                "Stores how long the track played, ended at `endedAt` or now; `endedAt` must "
                "not be before the play started. The play counts as a listen when it played for "
                "at least MIN_LISTEN_MS, or for MIN_LISTEN_FRACTION of a shorter track; a track "
                "shorter than MIN_LISTEN_MS never counts. The first end wins: later ends return "
                "the play as first stored."
            ),
            tag="track plays",
            parameters=(TRACK_PLAY_ID_PARAMETER,),
            body=EndTrackPlayRequest,
            body_example=REQUEST_EXAMPLES[EndTrackPlayRequest],
            responses={
                200: Reply("The play counted as a listen", TrackPlay, ENDED_TRACK_PLAY_EXAMPLE),
                204: "The play did not count as a listen; no body",
                **error_replies(*WRITE_ERRORS, 404),
            },
        ),
        ("GET", "/api/v1/tracks/{trackPlayId}/listeners"): Operation(
            summary="List the listeners of a track play",
            tag="track plays",
            parameters=(TRACK_PLAY_ID_PARAMETER,),
            responses={
                200: Reply(
                    "The listeners",
                    ListenerList,
                    {"listeners": [{"TrackPlayID": TRACK_PLAY_ID, "UserID": USER_ID}], "count": 1},
                ),
                **error_replies(*RECORD_ERRORS),
            },
        ),
        ("GET", "/api/v1/guilds/{guildId}/tracks/recent"): Operation(
            summary="Recently played tracks of a guild",
            description="Valid plays, newest first.",
            tag="recents",
            parameters=(GUILD_ID_PARAMETER, LIMIT_PARAMETER),
            responses={
                200: Reply(
                    "The recent track plays",
                    GuildRecentTrackPlays,
                    {**TRACK_PLAY_LIST_EXAMPLE, "guildId": str(GUILD_ID)},
                ),
                **error_replies(*READ_ERRORS),
            },
        ),
        ("GET", "/api/v1/users/{userId}/tracks/recent"): Operation(
            summary="Recently played tracks a user listened to",
            description="Valid plays, newest first.",
            tag="recents",
            parameters=(USER_ID_PARAMETER, LIMIT_PARAMETER),
            responses={
                200: Reply(
                    "The recent track plays",
                    UserRecentTrackPlays,
                    {**TRACK_PLAY_LIST_EXAMPLE, "userId": str(USER_ID)},
                ),
                **error_replies(*READ_ERRORS),
            },
        ),
        ("GET", "/api/v1/guilds/{guildId}/artists/recommended"): Operation(
            summary="Recommended artists of a guild",
            description="Weighted by how recently and how often the guild played them.",
            tag="artists",
            parameters=(GUILD_ID_PARAMETER, seed_count),
            responses={
                200: Reply(
                    "The recommended artists",
                    RecommendedArtists,
                    {"recommended_artists": [{"artist": "Rick Astley", "weight": 0.6931}]},
                ),
                **error_replies(*READ_ERRORS),
            },
        ),
        ("GET", "/api/v1/users/{userId}/artists/recommended"): Operation(
            summary="Recommended artists of a user",
            description="Weighted by how recently and how often the user listened to them.",
            tag="artists",
            parameters=(USER_ID_PARAMETER, seed_count),
            responses={
                200: Reply(
                    "The recommended artists",
                    RecommendedArtists,
                    {"recommended_artists": [{"artist": "Rick Astley", "weight": 0.6931}]},
                ),
                **error_replies(*READ_ERRORS),
            },
        ),
        ("GET", "/api/v1/openapi.json"): Operation(
            summary="This OpenAPI document",
            tag="documentation",
            public=True,
            responses={
                200: Reply(
                    "The OpenAPI 3.1 document",
                    schema={"type": "object", "required": ["openapi", "info", "paths"]},
                    example={"openapi": "3.1.0", "info": {"title": "mocbot-archive"}, "paths": {}},
                )
            },
        ),
        ("GET", "/api/v1/docs"): Operation(
            summary="Interactive documentation",
            description="Swagger UI, with every asset served by this service.",
            tag="documentation",
            public=True,
            responses={200: Reply("The page", media_type="text/html", schema={"type": "string"})},
        ),
        ("GET", "/api/v1/docs/assets/{name}"): Operation(
            summary="A script, style sheet or icon of the documentation page",
            description="Public for the listed names; any other name needs the API key.",
            tag="documentation",
            public=True,
            parameters=(
                Parameter(
                    "name",
                    "path",
                    {"type": "string", "enum": sorted(docs.ASSETS)},
                    "File name of the asset",
                ),
            ),
            responses={
                200: Reply(
                    "The file",
                    media_type=("text/css", "text/javascript", "image/png"),
                    schema={"type": "string"},
                ),
                401: "Unauthorized",
                404: "NotFound",
            },
        ),
        ("GET", "/metrics"): Operation(
            summary="Prometheus metrics",
            description=(
                "Requests, database pool and query latency, track plays and process metrics, in "
                "the Prometheus text format, or OpenMetrics when the Accept header requests it. "
                "Needs the API key unless METRICS_PUBLIC is true."
            ),
            tag="probes",
            public=metrics_public,
            responses=metrics_responses,
        ),
    }
