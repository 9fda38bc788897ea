"""A made-up catalog of tracks with the variety of a real bot's history.

Titles and artists mix English, accented Latin, Japanese, Korean, Chinese, Cyrillic and Arabic
text, emoji (including ZWJ sequences and flags), YouTube decorations, collaborations and a few
very long names. Artists also come with the spelling variants that grouping must fold together.
Every value is built from the word lists below with a seeded `random.Random`, so one seed always
gives the same catalog.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from service.rules import STREAM_DURATION_MS


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Column limits of track_plays in the MySQL schema, in characters.
MAX_TITLE_LENGTH = 1000
MAX_ARTIST_LENGTH = 1000

ENGLISH_WORDS = _words(
    "love night city dream fire heart light rain summer midnight river golden electric "
    "broken wild young forever ocean star shadow paper neon velvet silver echo ghost honey "
    "thunder desert highway window mirror garden winter storm moon sun island memory secret "
    "lonely dancing falling running burning waiting calling holding shining fading lost "
    "home road sky blue red black white sweet bitter cold warm slow fast last first little "
    "big crazy happy sad empty perfect strange beautiful dangerous feel time world way life "
    "kids boy girl song radio money party weekend tonight morning lights waves lines "
    "colours stars roses tears bones wings hands eyes lips diamonds satellites machines "
    "animals strangers"
)
ROMANCE_WORDS = _words(
    "corazón noche amor fuego cielo luna vida sueño mañana niña canción café déjà vu "
    "fiancée cœur été rêve lumière l'éternité soleil garçon naïve über schön mädchen straße "
    "träume ästhetik nåden fjäril ação coração saudade"
)
JAPANESE_WORDS = _words(
    "夜 空 花 夢 星 雨 君 青 光 海 月 風 恋 春 夏 秋 冬 桜 声 心 涙 街 "
    "さよなら ありがとう きみ よる ひかり ないしょ もしも "
    "メロディ ラブ シティ ポップ ドライブ ミッドナイト サマー ダンス"
)
KATAKANA_SYLLABLES = _words("ア カ サ タ ナ ハ マ ヤ ラ ワ イ キ シ チ ニ ミ リ ユ ヨ ル レ ロ ン")
KOREAN_WORDS = _words("사랑 밤 하늘 별 너 꿈 노래 우리 바다 봄날 그대 기억 눈물 시간 빛")
HANGUL_SYLLABLES = _words("민 지 수 현 하 은 서 윤 준 태 아 연 진 혜 성 우")
CHINESE_WORDS = _words("月亮 星空 晚安 你 我 夜曲 青春 故乡 江湖 海洋 思念 梦想 烟火 彩虹")
CYRILLIC_WORDS = _words("ночь звезда любовь город зима песня небо мечта")
ARABIC_WORDS = _words("حب ليل قمر حلم سماء قلب")
EMOJI = _words("🎵 🎶 🔥 💜 ✨ 🌙 🎧 👑 🥀 💔 🌊 ⭐ 🖤 🌸 🍒 ❤️ 😭 🤍 👨‍👩‍👧 🏳️‍🌈 🇯🇵 🇰🇷 🇧🇷 👍🏽")
FIRST_NAMES = _words(
    "Ava Noah Mia Leo Zoë Mateo Chloé Luca Aiko Hana Min-jun Ji-woo Priya Omar Sofía Elias "
    "Nina Kai Yara Ivan Olga Björn Amélie Tomás Fatima Chen Wei Ryo Sakura Lena Jonah"
)
LAST_NAMES = (
    "Rivers", "Stone", "Park", "Kim", "Tanaka", "Nakamura", "García", "Müller", "Dubois",
    "Rossi", "Nguyen", "Ivanova", "Haddad", "O'Brien", "McAllister", "Van der Berg", "Lefèvre",
    "Santos", "Okafor", "Lindqvist", "Moreau", "Wright", "Holloway",
)  # fmt: skip
TITLE_SUFFIXES = (
    " (Official Video)",
    " (Official Music Video)",
    " [Official Audio]",
    " (Lyrics)",
    " (Lyric Video)",
    " - Remastered 2011",
    " (Live)",
    " (Acoustic)",
    " (Sped Up)",
    " (Slowed + Reverb)",
    " [Nightcore]",
    " (Radio Edit)",
    " (Extended Mix)",
    " | Lofi Hip Hop",
    " (Official Visualizer)",
    " 4K",
)
TITLE_PREFIXES = ("【MV】", "[MV] ", "(Live) ", "【Official】", "[Free] ", "♪ ")
# Artist names that name no one, which recommendations skip.
PLACEHOLDER_ARTISTS = ("Unknown Artist", "Various Artists", "unknown")
SOURCES = ("youtube", "spotify", "soundcloud", "http")
SOURCE_WEIGHTS = (75, 13, 8, 4)
_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Track:
    """One playable track: where it comes from, what it is called and how long it lasts."""

    source: str
    source_id: str
    url: str
    title: str
    artist: str
    duration_ms: int


def _pick(rng: random.Random, words: tuple[str, ...] | list[str], low: int, high: int) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(low, high)))


def _latin_phrase(rng: random.Random, low: int = 1, high: int = 4) -> str:
    return _pick(rng, ENGLISH_WORDS, low, high).title()


def _katakana_name(rng: random.Random) -> str:
    return "".join(rng.choice(KATAKANA_SYLLABLES) for _ in range(rng.randint(3, 6)))


def _hangul_name(rng: random.Random) -> str:
    return "".join(rng.choice(HANGUL_SYLLABLES) for _ in range(rng.randint(2, 3)))


def make_artist(rng: random.Random) -> str:
    """Return one artist name in one of the styles seen in a bot's history."""
    style = rng.random()
    if style < 0.22:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    elif style < 0.38:
        name = f"The {_latin_phrase(rng, 1, 2)}s"
    elif style < 0.46:
        name = f"{rng.choice(('DJ', 'Lil', 'MC', 'Young', 'Big'))} {_latin_phrase(rng, 1, 1)}"
    elif style < 0.56:
        name = _katakana_name(rng) if rng.random() < 0.6 else _pick(rng, JAPANESE_WORDS, 1, 2)
    elif style < 0.64:
        name = (
            _hangul_name(rng)
            if rng.random() < 0.5
            else "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(3, 7)))
        )
    elif style < 0.69:
        name = "".join(rng.choice(CHINESE_WORDS) for _ in range(rng.randint(1, 2)))
    elif style < 0.72:
        name = _pick(rng, CYRILLIC_WORDS, 1, 2).capitalize()
    elif style < 0.74:
        name = _pick(rng, ARABIC_WORDS, 1, 2)
    elif style < 0.80:
        name = _pick(rng, ROMANCE_WORDS, 1, 2).title()
    elif style < 0.85:
        name = _pick(rng, ENGLISH_WORDS, 1, 2).lower()
    elif style < 0.89:
        name = f"{rng.choice(EMOJI)} {_latin_phrase(rng, 1, 2)} {rng.choice(EMOJI)}"
    elif style < 0.97:
        name = f"{_latin_phrase(rng, 1, 2)} & {rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    else:
        name = (
            f"The {_latin_phrase(rng, 2, 3)} Philharmonic Orchestra and Chorus of "
            f"{_latin_phrase(rng, 1, 2)}, conducted by {rng.choice(FIRST_NAMES)} "
            f"{rng.choice(LAST_NAMES)}"
        )
        if rng.random() < 0.1:
            name = (name + ", with " + _latin_phrase(rng, 20, 60))[:MAX_ARTIST_LENGTH]
    if rng.random() < 0.08:
        # YouTube's auto-generated channels name the artist this way.
        name += " - Topic"
    return name


def spelling_variant(rng: random.Random, artist: str) -> str:
    """Return the artist as some uploads spell it: another case, padding or inner spacing."""
    variant = rng.random()
    if variant < 0.4:
        return artist.lower()
    if variant < 0.6:
        return artist.upper()
    if variant < 0.8:
        return artist.replace(" ", "  ", 1)
    return f" {artist} "


def make_title(rng: random.Random, artist: str) -> str:
    """Return one track title, sometimes decorated the way uploads are, rarely very long."""
    style = rng.random()
    if style < 0.45:
        title = _latin_phrase(rng, 1, 5)
    elif style < 0.57:
        title = _pick(rng, JAPANESE_WORDS, 1, 4).replace(" ", "")
    elif style < 0.64:
        title = _pick(rng, KOREAN_WORDS, 1, 3)
    elif style < 0.69:
        title = "".join(rng.choice(CHINESE_WORDS) for _ in range(rng.randint(1, 3)))
    elif style < 0.78:
        title = _pick(rng, ROMANCE_WORDS, 1, 4).capitalize()
    elif style < 0.81:
        title = _pick(rng, CYRILLIC_WORDS, 1, 3).capitalize()
    elif style < 0.83:
        title = _pick(rng, ARABIC_WORDS, 1, 3)
    elif style < 0.88:
        title = f"{_latin_phrase(rng, 1, 3)} {rng.choice(EMOJI)}"
    elif style < 0.93:
        title = (
            f"Don't {_latin_phrase(rng, 1, 2)}" if rng.random() < 0.5 else f'"{_latin_phrase(rng)}"'
        )
    elif style < 0.96:
        title = f"{_latin_phrase(rng, 1, 3)} (feat. {make_artist(rng)})"
    elif style < 0.995:
        title = f"{_latin_phrase(rng, 1, 3)} \\ {_latin_phrase(rng, 1, 2)} / {rng.randint(1, 99)}%"
    else:
        title = (
            f"{rng.choice(TITLE_PREFIXES)}{artist} - {_latin_phrase(rng, 2, 4)} | "
            f"{rng.randint(1, 12)} HOURS of {_latin_phrase(rng, 1, 2)} {rng.choice(EMOJI)} | "
            + _pick(rng, ENGLISH_WORDS, 30, 170)
        )
    if rng.random() < 0.25:
        title += rng.choice(TITLE_SUFFIXES)
    if rng.random() < 0.08:
        title = rng.choice(TITLE_PREFIXES) + title
    return title[:MAX_TITLE_LENGTH]


def _random_id(rng: random.Random, length: int, alphabet: str = _ID_ALPHABET) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _slug(rng: random.Random) -> str:
    return "-".join(rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(1, 4)))


def make_source(rng: random.Random) -> tuple[str, str, str]:
    """Return a (source, source id, url) triple in the form each source uses."""
    source = rng.choices(SOURCES, weights=SOURCE_WEIGHTS)[0]
    if source == "youtube":
        source_id = _random_id(rng, 11, _ID_ALPHABET + "-_")
        return source, source_id, f"https://www.youtube.com/watch?v={source_id}"
    if source == "spotify":
        source_id = _random_id(rng, 22)
        return source, source_id, f"https://open.spotify.com/track/{source_id}"
    if source == "soundcloud":
        source_id = str(rng.randint(10**8, 2 * 10**9))
        return source, source_id, f"https://soundcloud.com/{_slug(rng)}/{_slug(rng)}"
    path = "/".join(_slug(rng) for _ in range(rng.randint(1, 3)))
    url = f"https://radio.example.org/{path}.mp3?listener={_random_id(rng, 16)}"
    return source, url, url


def make_duration_ms(rng: random.Random, source: str) -> int:
    """Return a track length: mostly 2 to 6 minutes, a few long mixes, clips and live streams."""
    if source == "http" and rng.random() < 0.5:
        return STREAM_DURATION_MS
    kind = rng.random()
    if kind < 0.015:
        return rng.randint(5_000, 29_000)
    if kind < 0.035:
        return rng.randint(20 * 60_000, 12 * 3600_000)
    seconds = rng.lognormvariate(5.35, 0.3)
    return int(min(max(seconds, 40.0), 900.0) * 1000)


def build_catalog(rng: random.Random, track_count: int, artist_count: int) -> list[Track]:
    """Return `track_count` tracks by `artist_count` artists, the more popular ones first."""
    artists = [make_artist(rng) for _ in range(max(1, artist_count))]
    for index in range(7, len(artists), 97):
        artists[index] = rng.choice(PLACEHOLDER_ARTISTS)
    tracks = []
    for index in range(track_count):
        # Popular tracks tend to be by popular artists.
        artist_index = min(int(rng.paretovariate(1.1)) - 1 + index // 20, len(artists) - 1)
        artist = (
            artists[rng.randrange(len(artists))] if rng.random() < 0.3 else artists[artist_index]
        )
        if rng.random() < 0.03:
            artist = spelling_variant(rng, artist)
        source, source_id, url = make_source(rng)
        tracks.append(
            Track(
                source=source,
                source_id=source_id,
                url=url,
                title=make_title(rng, artist.strip()),
                artist=artist,
                duration_ms=make_duration_ms(rng, source),
            )
        )
    return tracks
