"""A seeded, deterministic world of creators and videos for the sandbox.

Everything about a video follows from its id, so stats for any id (100,000+ for the
engagement benchmark) are computed on demand without storing anything:

- ids look like TikTok's: the top 32 bits are the creation time (unix seconds), the low
  bits pick the author (`(low >> 12) % creators`) and a per-author counter;
- description, hashtags, duration, sound and region come from a hash of the id;
- counters follow a curve over the simulated clock: most videos saturate within hours to
  days, about 2% go viral after a delay (logistic take-off), about 3% are deleted/private.

Only searches need an index: the world's own ids (`creators × videos_per_creator` on
average, created over the last ~120 days and the next 3, relative to the hour the world was
built) are indexed by keyword, hashtag, username and region, lazily on first search.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from dataclasses import dataclass, field
from functools import lru_cache

MASK64 = (1 << 64) - 1

TOPICS: dict[str, tuple[list[str], list[str]]] = {
    # topic: (keywords that appear in captions, hashtags)
    "fitness": (
        ["workout", "gym", "protein", "cardio", "squat", "running"],
        ["fitness", "gymtok", "workout", "fitfam"],
    ),
    "food": (["recipe", "pasta", "breakfast", "vegan", "baking", "coffee"], ["foodtok", "recipe", "cooking", "foodie"]),
    "travel": (
        ["beach", "hotel", "roadtrip", "hiking", "tokyo", "paris"],
        ["travel", "traveltok", "wanderlust", "vacation"],
    ),
    "tech": (["iphone", "laptop", "gadget", "coding", "setup", "ai"], ["tech", "techtok", "gadgets", "coding"]),
    "beauty": (
        ["skincare", "makeup", "serum", "lipstick", "routine", "glow"],
        ["beauty", "skincare", "makeup", "grwm"],
    ),
    "gaming": (
        ["minecraft", "fortnite", "speedrun", "console", "stream", "boss"],
        ["gaming", "gamer", "gamingtok", "esports"],
    ),
    "music": (["guitar", "cover", "piano", "beat", "singing", "remix"], ["music", "cover", "newmusic", "singer"]),
    "comedy": (["prank", "skit", "fail", "roommate", "office", "mom"], ["comedy", "funny", "skit", "lol"]),
    "fashion": (
        ["outfit", "sneakers", "thrift", "streetwear", "dress", "haul"],
        ["fashion", "ootd", "style", "thrifted"],
    ),
    "pets": (["puppy", "kitten", "dog", "cat", "parrot", "training"], ["pets", "dogsoftiktok", "catsoftiktok", "cute"]),
    "finance": (
        ["budget", "investing", "crypto", "savings", "stocks", "sidehustle"],
        ["money", "finance", "investing", "fintok"],
    ),
    "diy": (["woodworking", "crafts", "garden", "repair", "paint", "upcycle"], ["diy", "crafts", "howto", "lifehack"]),
}
TOPIC_NAMES = sorted(TOPICS)
GENERIC_TAGS = ["fyp", "foryou", "viral", "trending"]
PHRASES = [
    "My {kw} routine that changed everything",
    "You have to try this {kw} trick",
    "Day 12 of learning {kw}",
    "POV: your first {kw} experience",
    "Rating every {kw} so you don't have to",
    "3 {kw} mistakes everyone makes",
    "Honest review: {kw} edition",
    "The {kw} hack nobody talks about",
    "Things I wish I knew about {kw}",
    "Quick {kw} tutorial for beginners",
]
FIRST = ["mia", "leo", "ava", "noah", "zoe", "kai", "lena", "omar", "ivy", "theo", "nina", "ravi", "sofia", "jay",
         "ella", "finn", "yuki", "amir", "lucy", "max"]  # fmt: skip
REGIONS = ["US", "US", "US", "GB", "DE", "FR", "BR", "MX", "ID", "JP", "KR", "IN", "CA", "AU", "ES", "IT", "PH"]
SHORT_KEY = 0x5A17_C0DE_5A17_C0DE
TIKTOK_EPOCH = 1_451_606_400  # 2016-01-01: ids whose time bits are older are not videos


def mix64(x: int) -> int:
    """splitmix64: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def unit(h: int) -> float:
    return (h >> 11) / float(1 << 53)


@dataclass(slots=True)
class Creator:
    idx: int
    user_id: str
    handle: str
    nickname: str
    bio: str
    region: str
    topic: str
    followers: int
    following: int
    likes: int
    video_count: int
    verified: bool
    email: str | None
    bio_url: str | None


@dataclass(slots=True)
class Video:
    id: int
    author: Creator
    create_time: int
    description: str
    hashtags: list[str]
    keywords: list[str]
    region: str
    music_id: int
    duration: int
    width: int = 1080
    height: int = 1920


@dataclass(slots=True)
class Stats:
    views: int
    likes: int
    comments: int
    shares: int
    saves: int


@dataclass
class SearchIndex:
    ids_desc: list[int]
    neg_times: list[int] = field(default_factory=list)  # -(create_time), ascending, for bisect
    by_keyword: dict[str, list[int]] = field(default_factory=dict)
    by_hashtag: dict[str, list[int]] = field(default_factory=dict)
    by_username: dict[str, list[int]] = field(default_factory=dict)
    by_region: dict[str, list[int]] = field(default_factory=dict)


class World:
    def __init__(self, seed: int, n_creators: int, videos_per_creator: int, anchor: float) -> None:
        self.seed = seed
        self.anchor = int(anchor // 3600 * 3600)
        self.videos_per_creator = videos_per_creator
        rng = random.Random(seed)
        self.creators: list[Creator] = []
        self.by_handle: dict[str, Creator] = {}
        for idx in range(n_creators):
            topic = TOPIC_NAMES[rng.randrange(len(TOPIC_NAMES))]
            first = FIRST[rng.randrange(len(FIRST))]
            handle = f"{first}.{topic}{idx}"
            # a handful of very large accounts first (brands: Instagram shows no related profiles)
            followers = int(rng.uniform(3e6, 9e6)) if idx < 5 else int(math.exp(rng.gauss(9.5, 1.8)))
            followers = max(50, followers)
            email = f"{first}{idx}@example.com" if rng.random() < 0.3 else None
            kw = TOPICS[topic][0][rng.randrange(6)]
            bio = f"{topic.title()} creator · {kw} every week" + (f" · {email}" if email else "")
            creator = Creator(
                idx=idx,
                user_id=str(6_800_000_000_000_000_000 + mix64(seed * 1_000_003 + idx) % 10**17),
                handle=handle,
                nickname=f"{first.title()} {topic.title()}",
                bio=bio,
                region=REGIONS[rng.randrange(len(REGIONS))],
                topic=topic,
                followers=followers,
                following=rng.randrange(20, 2000),
                likes=int(followers * rng.uniform(2, 30)),
                video_count=0,
                verified=followers > 1_000_000 or rng.random() < 0.02,
                email=email,
                bio_url=f"https://linktr.ee/{first}{idx}" if rng.random() < 0.2 else None,
            )
            self.creators.append(creator)
            self.by_handle[handle] = creator
        self._index: SearchIndex | None = None
        self._lock = threading.Lock()

    # --- videos, derived from the id --------------------------------------------------------

    def make_id(self, create_time: int, author_idx: int, n: int) -> int:
        low = ((author_idx & 0xFFFFF) << 12) | (n & 0xFFF)
        return (create_time << 32) | low

    def video(self, video_id: int) -> Video:
        return _video(self, video_id)

    def stats(self, video_id: int, now: float) -> Stats | None:
        """Counters at `now`; None when the video is deleted/private or not yet posted."""
        return video_stats(self.seed, video_id, self.creator_for(video_id).followers, now)

    def creator_for(self, video_id: int) -> Creator:
        return self.creators[((video_id & 0xFFFFFFFF) >> 12) % len(self.creators)]

    def videos_of(self, creator: Creator, now: float) -> list[int]:
        return [v for v in self.index.by_username.get(creator.handle, []) if (v >> 32) <= now]

    # --- search ---------------------------------------------------------------------------------

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._build_index()
        return self._index

    def _build_index(self) -> SearchIndex:
        rng = random.Random(self.seed + 1)
        ids: list[int] = []
        for creator in self.creators:
            count = rng.randint(1, 2 * self.videos_per_creator - 1)
            creator.video_count = count
            for n in range(count):
                age = rng.expovariate(1 / (20 * 86400))
                age = min(age, 120 * 86400) - 3 * 86400 * rng.random() ** 4  # a few still to come
                ids.append(self.make_id(int(self.anchor - age), creator.idx, n))
        ids.sort(reverse=True)
        index = SearchIndex(ids_desc=ids, neg_times=[-(v >> 32) for v in ids])
        for vid in ids:
            video = self.video(vid)
            for kw in video.keywords:
                index.by_keyword.setdefault(kw, []).append(vid)
            for tag in video.hashtags:
                index.by_hashtag.setdefault(tag, []).append(vid)
            index.by_username.setdefault(video.author.handle, []).append(vid)
            index.by_region.setdefault(video.region, []).append(vid)
        return index

    def ids_between(self, start: float, end: float) -> list[int]:
        """World ids created in [start, end), newest first."""
        index = self.index
        lo = bisect.bisect_right(index.neg_times, -int(end))  # skip create_time >= end
        hi = bisect.bisect_right(index.neg_times, -int(start))  # keep create_time >= start
        return index.ids_desc[lo:hi]

    def related_profiles(self, creator: Creator, count: int = 80) -> list[Creator]:
        if creator.followers > 3_000_000:
            return []
        same = [c for c in self.creators if c.topic == creator.topic and c.idx != creator.idx]
        rng = random.Random(self.seed * 7 + creator.idx)
        rng.shuffle(same)
        return same[:count]


def _video(world: World, video_id: int) -> Video:
    return _video_cached(world, video_id)


@lru_cache(maxsize=200_000)
def _video_cached(world: World, video_id: int) -> Video:
    author = world.creator_for(video_id)
    h = mix64(video_id ^ (world.seed * 0x9E3779B1))
    keywords_pool, tags_pool = TOPICS[author.topic]
    kw = keywords_pool[h % len(keywords_pool)]
    kw2 = keywords_pool[(h >> 8) % len(keywords_pool)]
    phrase = PHRASES[(h >> 16) % len(PHRASES)].format(kw=kw)
    tags = [tags_pool[(h >> 20) % len(tags_pool)], tags_pool[(h >> 24) % len(tags_pool)]]
    if (h >> 28) % 3 == 0:
        tags.append(GENERIC_TAGS[(h >> 30) % len(GENERIC_TAGS)])
    tags = list(dict.fromkeys(tags))
    extra = f" with {kw2}" if kw2 != kw else ""
    description = f"{phrase}{extra} " + " ".join(f"#{t}" for t in tags)
    return Video(
        id=video_id,
        author=author,
        create_time=video_id >> 32,
        description=description,
        hashtags=tags,
        keywords=sorted({kw, kw2}),
        region=author.region,
        music_id=7_000_000_000_000_000_000 + (h >> 40) * 7919 % 10**15,
        duration=5 + (h >> 33) % 170,
    )


def video_stats(seed: int, video_id: int, followers: int, now: float) -> Stats | None:
    create_time = video_id >> 32
    age_h = (now - create_time) / 3600.0
    if age_h < 0 or create_time < TIKTOK_EPOCH:
        return None  # not posted yet, or not a TikTok-style id at all
    h = mix64(video_id ^ seed)
    if unit(h) < 0.03:
        return None  # deleted or private
    h2 = mix64(h)
    h3 = mix64(h2)
    z = unit(h2) + unit(h3) + unit(mix64(h3)) - 1.5  # about normal(0, 0.5)
    reach = max(200.0, followers * 0.4) * math.exp(1.6 * z)
    kind = unit(mix64(h ^ 0xABCDEF))
    if kind < 0.02:  # viral: slow start, then a surge after t0 hours
        final = reach * (30 + 120 * unit(h3))
        t0 = 6 + 42 * unit(h2)
        slope = 2 + 6 * unit(mix64(h2))
        progress = (1 / (1 + math.exp(-(age_h - t0) / slope)) - 1 / (1 + math.exp(t0 / slope))) / (
            1 - 1 / (1 + math.exp(t0 / slope))
        )
    else:  # most videos: fast rise, then decay to a plateau
        final = reach
        tau = 3 + 40 * unit(h3)
        progress = 1 - math.exp(-age_h / tau)
    views = int(final * max(0.0, progress)) + int(age_h > 0.05) * (1 + h % 37)
    like_rate = 0.03 + 0.09 * unit(mix64(h ^ 1))
    likes = int(views * like_rate)
    return Stats(
        views=views,
        likes=likes,
        comments=int(likes * (0.01 + 0.04 * unit(mix64(h ^ 2)))),
        shares=int(likes * (0.02 + 0.13 * unit(mix64(h ^ 3)))),
        saves=int(likes * (0.05 + 0.15 * unit(mix64(h ^ 4)))),
    )


def short_code(video_id: int) -> str:
    """An opaque, reversible short-link code (like www.tiktok.com/t/ZT...)."""
    value = video_id ^ SHORT_KEY
    chars = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while value:
        value, rem = divmod(value, 36)
        out = chars[rem] + out
    return "ZT" + (out or "0")


def from_short_code(code: str) -> int | None:
    if not code.startswith("ZT"):
        return None
    try:
        return int(code[2:], 36) ^ SHORT_KEY
    except ValueError:
        return None


_world: World | None = None
_world_lock = threading.Lock()


def get_world() -> World:
    """The process's world, built from settings (seed, sizes) on first use."""
    global _world
    if _world is None:
        with _world_lock:
            if _world is None:
                import time

                from reelflow.settings import get_settings

                s = get_settings()
                _world = World(s.sandbox.seed, s.sandbox.creators, s.sandbox.videos_per_creator, time.time())
    return _world
