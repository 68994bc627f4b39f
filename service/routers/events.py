from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from service.dependencies import Authorized, StateDep
from service.errors import Unavailable
from service.schemas import EventsRequest, EventsResponse
from steadyrec.core.event_log import Event

router = APIRouter(tags=["events"])
log = logging.getLogger(__name__)


@router.post("/events", response_model=EventsResponse, dependencies=[Authorized])
async def post_events(body: EventsRequest, state: StateDep) -> EventsResponse:
    """Ingest a batch of interactions: committed to the event log before the answer, then visible to
    `/recommend` by `user_id` at once (on every replica) and to fine-tune jobs as fresh logs. Unknown items
    are kept."""
    events = sorted((Event(e.user, e.item, e.timestamp) for e in body.events), key=lambda e: e.timestamp)
    async with state.events_lock:
        try:
            ids = await asyncio.to_thread(state.event_log.append, events)
        except SQLAlchemyError as err:
            log.warning("the event log refused a batch of %d events: %s", len(events), err)
            raise Unavailable("the event log's database is unavailable: the batch was not stored; retry") from None
        await state.events.add(list(zip(ids, events, strict=True)))
    # in time order: a user's first event judges the list served to them
    await state.hits.record_events((event.user, event.item) for event in events)
    return EventsResponse(accepted=len(events), users=len({e.user for e in events}))
