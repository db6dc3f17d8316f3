"""Connected accounts and OAuth, publishing, publications, publish config, experiments.

Thin: parse, authorise, call `reelflow.services.{accounts,publishing,experiments}`, shape.
The platform clients (`platforms`, a `PublishingPlatforms`) are injected by the app factory.
The OAuth callback is the one unauthenticated GET that writes: the platform redirects the
browser there; the single-use `state` is what authenticates it."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.services import accounts as accounts_service
from reelflow.services import experiments as experiments_service
from reelflow.services import publishing as publishing_service
from reelflow.settings import get_settings
from reelflow.storage.models.publishing import ClipPublication, ConnectedAccount, Experiment, ExperimentVariant
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.jobs import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from reelflow.web.openapi import problems
from reelflow.web.schemas.jobs import JobOut, job_out
from reelflow.web.schemas.publishing import (
    AccountOut,
    ExperimentIn,
    ExperimentOut,
    MetricsIn,
    MetricsOut,
    OAuthStartOut,
    PublicationOut,
    PublishConfigIn,
    PublishConfigOut,
    PublishOut,
    TikTokPublishIn,
    VariantOut,
    VariantPostOut,
    YouTubePublishIn,
)

EDITORS = ("owner", "admin", "editor")
MANAGERS = ("owner", "admin")
TAGS = ["publishing"]


def account_out(a: ConnectedAccount) -> AccountOut:
    return AccountOut(
        id=a.id,
        platform=a.platform,
        external_id=a.external_id,
        display_name=a.display_name,
        username=a.username,
        avatar_url=a.avatar_url,
        status=a.status,  # type: ignore[arg-type]
        last_error=a.last_error,
        scopes=list(a.scopes or []),
        token_expires_at=a.access_expires_at,
        refreshed_at=a.refreshed_at,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


def publication_out(p: ClipPublication, *, created: bool = True) -> PublicationOut:
    return PublicationOut(
        id=p.id,
        clip_id=p.clip_id,
        account_id=p.account_id,
        platform=p.platform,
        status=p.status,
        caption=p.caption,
        title=p.title,
        privacy=p.privacy,
        scheduled_at=p.scheduled_at,
        job_id=p.run_id,
        external_id=p.external_id,
        url=p.url,
        published_at=p.published_at,
        adopted=p.adopted,
        error=p.error,
        attempts=p.attempts,
        experiment_id=p.experiment_id,
        variant_id=p.variant_id,
        created=created,
        created_at=p.created_at,
    )


def _redirect_uri(request: Request[Any, Any, Any], provider: str) -> str:
    base = get_settings().web.public_base_url or str(request.base_url)
    return f"{base.rstrip('/')}/api/v1/oauth/{provider}/callback"


class OAuthController(Controller):
    path = "/oauth"
    tags = TAGS
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/{provider:str}/start", guards=[requires_role(*MANAGERS, "editor")])
    async def start(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        platforms: Any,
        provider: str,
        login_hint: str | None = None,
    ) -> OAuthStartOut:
        """The consent URL for TikTok (`tiktok`) or YouTube (`google`), with a 10-minute single-use state."""
        member = accounts_service.Member(principal.workspace_id, principal.user_id)
        out = await accounts_service.start_oauth(
            db_session,
            member,
            provider,
            redirect_uri=_redirect_uri(request, provider),
            platforms=platforms,
            login_hint=login_hint,
        )
        return OAuthStartOut(**out)


@get("/oauth/{provider:str}/callback", opt={"exclude_from_auth": True}, tags=TAGS, responses=problems(422, 502))
async def oauth_callback(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    platforms: Any,
    provider: str,
) -> AccountOut:
    """Where the platform sends the browser back (`?code=&state=` or `?error=`): exchanges
    the code, stores the account."""
    query = request.query_params
    account = await accounts_service.complete_oauth(
        db_session,
        provider,
        state=query.get("state"),
        code=query.get("code"),
        error=query.get("error"),
        platforms=platforms,
    )
    return account_out(account)


class AccountsController(Controller):
    path = "/accounts"
    tags = TAGS
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/")
    async def list_accounts(
        self, db_session: AsyncSession, principal: Principal, platform: str | None = None
    ) -> list[AccountOut]:
        return [
            account_out(a) for a in await accounts_service.list_accounts(db_session, principal.workspace_id, platform)
        ]

    @get("/{account_id:uuid}")
    async def get_account(self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> AccountOut:
        return account_out(await accounts_service.get_account(db_session, principal.workspace_id, account_id))

    @delete("/{account_id:uuid}", status_code=200, guards=[requires_role(*MANAGERS)])
    async def disconnect(
        self, db_session: AsyncSession, principal: Principal, platforms: Any, account_id: uuid.UUID
    ) -> AccountOut:
        """Revoke at the platform and delete the tokens; the account stays as `revoked`."""
        account = await accounts_service.disconnect(
            db_session, principal.workspace_id, account_id, platforms=platforms, actor=principal
        )
        return account_out(account)


class PublishController(Controller):
    path = "/publish"
    tags = TAGS
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    async def _publish(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, platforms: Any, req: Any
    ) -> Response[PublishOut]:
        outcomes = await publishing_service.publish(
            db_session,
            principal.workspace_id,
            req,
            platforms=platforms,
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER) or None,
            actor=principal,
        )
        body = PublishOut(
            publications=[publication_out(o.publication, created=o.created) for o in outcomes],
            job_ids=[o.job_id for o in outcomes if o.job_id is not None],
        )
        if any(o.created for o in outcomes):
            return Response(body, status_code=202)
        return Response(body, status_code=200, headers={REPLAYED_HEADER: "true"})

    @post("/tiktok", guards=[requires_role(*EDITORS)], status_code=202)
    async def tiktok(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        platforms: Any,
        data: TikTokPublishIn,
    ) -> Response[PublishOut]:
        """One job per account; an existing (clip, account) publication is returned, not repeated."""
        req = publishing_service.PublishRequest(
            platform="tiktok",
            clip_id=data.clip_id,
            account_ids=data.account_ids,
            caption=data.caption,
            privacy=data.privacy,
            scheduled_at=data.scheduled_at,
            experiment_id=data.experiment_id,
            variant_id=data.variant_id,
            options={
                "disable_comment": data.disable_comment,
                "disable_duet": data.disable_duet,
                "disable_stitch": data.disable_stitch,
                "is_aigc": data.is_aigc,
            },
        )
        return await self._publish(request, db_session, principal, platforms, req)

    @post("/youtube", guards=[requires_role(*EDITORS)], status_code=202)
    async def youtube(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        platforms: Any,
        data: YouTubePublishIn,
    ) -> Response[PublishOut]:
        options: dict[str, Any] = {}
        if data.category_id is not None:
            options["category_id"] = data.category_id
        if data.made_for_kids is not None:
            options["made_for_kids"] = data.made_for_kids
        req = publishing_service.PublishRequest(
            platform="youtube",
            clip_id=data.clip_id,
            account_ids=data.account_ids,
            title=data.title,
            description=data.description,
            tags=data.tags,
            privacy=data.privacy,
            scheduled_at=data.scheduled_at,
            experiment_id=data.experiment_id,
            variant_id=data.variant_id,
            options=options,
        )
        return await self._publish(request, db_session, principal, platforms, req)


class PublicationsController(Controller):
    path = "/publications"
    tags = TAGS
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/")
    async def list_publications(
        self,
        db_session: AsyncSession,
        principal: Principal,
        clip_id: uuid.UUID | None = None,
        account_id: uuid.UUID | None = None,
        status: str | None = None,
        experiment_id: uuid.UUID | None = None,
    ) -> list[PublicationOut]:
        pubs = await publishing_service.list_publications(
            db_session,
            principal.workspace_id,
            clip_id=clip_id,
            account_id=account_id,
            status=status,
            experiment_id=experiment_id,
        )
        return [publication_out(p) for p in pubs]

    @get("/{publication_id:uuid}")
    async def get_publication(
        self, db_session: AsyncSession, principal: Principal, publication_id: uuid.UUID
    ) -> PublicationOut:
        return publication_out(
            await publishing_service.get_publication(db_session, principal.workspace_id, publication_id)
        )

    @post("/{publication_id:uuid}/retry", status_code=202, guards=[requires_role(*EDITORS)])
    async def retry(self, db_session: AsyncSession, principal: Principal, publication_id: uuid.UUID) -> PublicationOut:
        """Run a failed publication again; it reconciles with the platform first (never a blind re-post)."""
        return publication_out(
            await publishing_service.retry(db_session, principal.workspace_id, publication_id, actor=principal)
        )

    @post("/{publication_id:uuid}/cancel", status_code=200, guards=[requires_role(*EDITORS)])
    async def cancel(self, db_session: AsyncSession, principal: Principal, publication_id: uuid.UUID) -> PublicationOut:
        """Cancel a scheduled publication (409 once it has started)."""
        return publication_out(
            await publishing_service.cancel(db_session, principal.workspace_id, publication_id, actor=principal)
        )


class PublishConfigController(Controller):
    path = "/publish-config"
    tags = TAGS
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/")
    async def get_config(self, db_session: AsyncSession, principal: Principal) -> PublishConfigOut:
        config = await publishing_service.get_config(db_session, principal.workspace_id)
        if config is None:
            return PublishConfigOut(None, None, None, [], [], None, False, None)
        return _config_out(config)

    @put("/", guards=[requires_role(*EDITORS)])
    async def put_config(
        self, db_session: AsyncSession, principal: Principal, data: PublishConfigIn
    ) -> PublishConfigOut:
        values = {
            "tiktok_privacy": data.tiktok_privacy,
            "youtube_privacy": data.youtube_privacy,
            "caption_template": data.caption_template,
            "hashtags": list(data.hashtags),
            "default_account_ids": list(data.default_account_ids),
            "youtube_category_id": data.youtube_category_id,
            "youtube_made_for_kids": data.youtube_made_for_kids,
        }
        return _config_out(await publishing_service.put_config(db_session, principal.workspace_id, values))


def _config_out(config: Any) -> PublishConfigOut:
    return PublishConfigOut(
        tiktok_privacy=config.tiktok_privacy,
        youtube_privacy=config.youtube_privacy,
        caption_template=config.caption_template,
        hashtags=list(config.hashtags),
        default_account_ids=list(config.default_account_ids),
        youtube_category_id=config.youtube_category_id,
        youtube_made_for_kids=config.youtube_made_for_kids,
        updated_at=config.updated_at,
    )


def experiment_out(
    experiment: Experiment, variants: list[ExperimentVariant], posts: list[tuple[ClipPublication, Any]]
) -> ExperimentOut:
    by_variant: dict[uuid.UUID, list[VariantPostOut]] = {}
    for pub, metric in posts:
        if pub.variant_id is None:
            continue
        by_variant.setdefault(pub.variant_id, []).append(
            VariantPostOut(
                publication_id=pub.id,
                account_id=pub.account_id,
                platform=pub.platform,
                status=pub.status,
                external_id=pub.external_id,
                views=metric.views if metric else None,
                likes=metric.likes if metric else None,
                comments=metric.comments if metric else None,
                shares=metric.shares if metric else None,
                measured_at=metric.measured_at if metric else None,
            )
        )
    return ExperimentOut(
        id=experiment.id,
        project_id=experiment.project_id,
        name=experiment.name,
        status=experiment.status,
        min_views=experiment.min_views,
        confidence=experiment.confidence,
        ends_at=experiment.ends_at,
        started_at=experiment.started_at,
        decided_at=experiment.decided_at,
        winner_variant_id=experiment.winner_variant_id,
        decision=experiment.decision,
        variants=[
            VariantOut(
                id=v.id,
                label=v.label,
                clip_id=v.clip_id,
                caption=v.caption,
                title=v.title,
                thumbnail_s=v.thumbnail_s,
                posts=by_variant.get(v.id, []),
            )
            for v in variants
        ],
    )


class ExperimentsController(Controller):
    path = "/experiments"
    tags = TAGS
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", guards=[requires_role(*EDITORS)])
    async def create(self, db_session: AsyncSession, principal: Principal, data: ExperimentIn) -> ExperimentOut:
        experiment, variants = await experiments_service.create_experiment(
            db_session,
            principal.workspace_id,
            project_id=data.project_id,
            name=data.name,
            variants=[
                experiments_service.VariantIn(v.label, v.clip_id, v.caption, v.title, v.thumbnail_s)
                for v in data.variants
            ],
            min_views=data.min_views,
            confidence=data.confidence,
            ends_at=data.ends_at,
        )
        return experiment_out(experiment, variants, [])

    @get("/")
    async def list_experiments(self, db_session: AsyncSession, principal: Principal) -> list[ExperimentOut]:
        out = []
        for experiment in await experiments_service.list_experiments(db_session, principal.workspace_id):
            e, variants, posts = await experiments_service.get_experiment(
                db_session, principal.workspace_id, experiment.id
            )
            out.append(experiment_out(e, variants, posts))
        return out

    @get("/{experiment_id:uuid}")
    async def get_experiment(
        self, db_session: AsyncSession, principal: Principal, experiment_id: uuid.UUID
    ) -> ExperimentOut:
        """The experiment, each variant's posts with their latest counters, and the decision (winner and figures)."""
        return experiment_out(
            *await experiments_service.get_experiment(db_session, principal.workspace_id, experiment_id)
        )

    @post("/{experiment_id:uuid}/collect", guards=[requires_role(*EDITORS)])
    async def collect(
        self, db_session: AsyncSession, principal: Principal, experiment_id: uuid.UUID
    ) -> Response[JobOut]:
        """Collect this experiment's post metrics now and apply the winner rule (a job)."""
        run = await experiments_service.start_collection(db_session, principal.workspace_id, experiment_id)
        return Response(job_out(run), status_code=202, headers={"Location": f"/api/v1/jobs/{run.id}"})

    @post("/{experiment_id:uuid}/metrics", status_code=200, guards=[requires_role(*EDITORS)])
    async def push_metrics(
        self, db_session: AsyncSession, principal: Principal, experiment_id: uuid.UUID, data: MetricsIn
    ) -> MetricsOut:
        """Pushed counters per variant post; idempotent per (post, measured_at)."""
        result = await experiments_service.push_metrics(
            db_session,
            principal.workspace_id,
            experiment_id,
            [
                experiments_service.MetricIn(
                    m.publication_id, m.measured_at, m.views, m.likes, m.comments, m.shares, m.watch_time_s
                )
                for m in data.metrics
            ],
        )
        return MetricsOut(**result)


route_handlers = [
    OAuthController,
    oauth_callback,
    AccountsController,
    PublishController,
    PublicationsController,
    PublishConfigController,
    ExperimentsController,
]
