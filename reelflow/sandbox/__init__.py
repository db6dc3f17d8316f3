"""The local stand-in for TikTok, YouTube and the scrapers (a Litestar app of its own)."""
