"""The discovery image proxy: signed links only, allow-listed hosts, redirects re-checked,
no private addresses, size limit, HEIC → JPEG, blob cache with Cache-Control and ETag."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from reelflow.domain.discovery import sign_image_url
from reelflow.storage.blobs import signing_secret

IMAGES = "/api/v1/discovery/images/"


def _path(url: str) -> str:
    return IMAGES + sign_image_url(signing_secret(), url)


async def test_serves_caches_and_revalidates(client: Any, sandbox: Any) -> None:
    url = f"{sandbox.url}/scrapecreators/cdn/avatar.heic?k=cache-test"
    first = await client.get(_path(url))  # no bearer token: <img> tags cannot send one
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("image/jpeg") and first.content.startswith(b"\xff\xd8\xff")
    assert first.headers["x-cache"] == "miss" and "max-age=" in first.headers["cache-control"]
    etag = first.headers["etag"]
    second = await client.get(_path(url))
    assert second.status_code == 200 and second.headers["x-cache"] == "hit" and second.content == first.content
    assert second.headers["etag"] == etag
    not_modified = await client.get(_path(url), headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    fetched = await sandbox.requests("/scrapecreators/cdn/avatar.heic")
    assert len(fetched) == 1  # the second and third views cost nothing upstream


async def test_heic_becomes_jpeg(client: Any, sandbox: Any) -> None:
    response = await client.get(_path(f"{sandbox.url}/scrapecreators/cdn/avatar.heic?k=h"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/jpeg")
    assert response.content.startswith(b"\xff\xd8\xff")


async def test_signature_required(client: Any, sandbox: Any) -> None:
    url = f"{sandbox.url}/sandbox/media/avatar.jpg"
    token = sign_image_url(b"someone-else", url)
    assert (await client.get(IMAGES + token)).status_code == 403
    assert (await client.get(IMAGES + "not-a-token")).status_code == 403
    good = sign_image_url(signing_secret(), url)
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert (await client.get(IMAGES + tampered)).status_code == 403


async def test_ssrf_rules(client: Any, sandbox: Any) -> None:
    sandbox.set_settings(discovery__image_hosts="*.tiktokcdn.com,localhost,metadata.example.test")
    # a host outside the allow-list
    assert (await client.get(_path("https://evil.example.com/a.jpg"))).status_code == 403
    # plain http to a CDN host is refused (https only)
    assert (await client.get(_path("http://p16.tiktokcdn.com/a.jpg"))).status_code == 403
    # an allowed name that resolves to a private (loopback) address
    refused = await client.get(_path("https://localhost:9/a.jpg"))
    assert refused.status_code == 403 and "loopback" in refused.json()["detail"]
    # literal private and link-local addresses
    assert (await client.get(_path("https://169.254.169.254/latest/meta-data"))).status_code == 403
    assert (await client.get(_path("https://10.0.0.1/a.jpg"))).status_code == 403
    # a redirect from an allowed host is checked again: to a host outside the list, to metadata
    for target in (
        "https://evil.example.com/a.jpg",
        "http://169.254.169.254/latest/meta-data",
        "https://localhost:9/x",
    ):
        hop = f"{sandbox.url}/scrapecreators/cdn/redirect?to={quote(target, safe='')}"
        response = await client.get(_path(hop))
        assert response.status_code == 403, (target, response.text)
    # a redirect to an allowed place is followed
    hop = (
        f"{sandbox.url}/scrapecreators/cdn/redirect?to={quote(sandbox.url + '/sandbox/media/avatar.jpg?k=r', safe='')}"
    )
    assert (await client.get(_path(hop))).status_code == 200
    # URLs with credentials and other schemes
    assert (await client.get(_path("https://user:pw@p16.tiktokcdn.com/a.jpg"))).status_code == 403
    assert (await client.get(_path("file:///etc/passwd"))).status_code == 403


async def test_size_limit_and_non_images(client: Any, sandbox: Any) -> None:
    sandbox.set_settings(discovery__image_max_bytes=1024)
    too_big = await client.get(_path(f"{sandbox.url}/sandbox/media/cover.jpg?k=big"))
    assert too_big.status_code == 413
    not_image = await client.get(_path(f"{sandbox.url}/sandbox/media/tiny-vertical.mp4"))
    assert not_image.status_code in (413, 415)
    sandbox.set_settings(discovery__image_max_bytes=10_000_000)
    video = await client.get(_path(f"{sandbox.url}/sandbox/media/tiny-vertical.mp4?k=2"))
    assert video.status_code == 415
