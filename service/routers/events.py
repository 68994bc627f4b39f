from __future__ import annotations

import asyncio

from fastapi import APIRouter

from service.dependencies import Authorized, StateDep
from service.schemas import EventsRequest, EventsResponse
from steadyrec.core.event_log import Event

router = APIRouter(tags=["events"])


@router.post("/events", response_model=EventsResponse, dependencies=[Authorized])
async def post_events(body: EventsRequest, state: StateDep) -> EventsResponse:
    """Ingest a batch of interactions: durably appended (fsynced) before the answer, then visible to
    `/recommend` by `user_id` at once and to fine-tune jobs as fresh logs. Unknown items are kept."""
    events = sorted((Event(e.user, e.item, e.timestamp) for e in body.events), key=lambda e: e.timestamp)
    async with state.events_lock:
        await asyncio.to_thread(state.event_log.append, events)
        state.events.add(events)
    for event in events:  # in time order: a user's first event judges the list served to them
        state.hits.interacted(event.user, event.item)
    return EventsResponse(accepted=len(events), users=len({e.user for e in events}))
