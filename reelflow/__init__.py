"""Reelflow: the backend of a short-video business on TikTok and YouTube Shorts."""

__version__ = "0.1.0"
