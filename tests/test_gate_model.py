"""A property-based test of the queue gate's Lua scripts against a simple model.

Random sequences of enqueue, claim (including stale redeliveries), complete, retry,
cancel, lease expiry and pump passes: the limit is never exceeded, no free slot stays
unused while jobs wait, and no waiting job is ever lost.
"""

from __future__ import annotations

import uuid

import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from celery_actions.core.protocol import Outcome
from celery_actions.core.settings import Settings
from celery_actions.redis.connection import ProcessClient
from celery_actions.redis.records import AttemptOutcome, Claim, JobSpec, NewJob
from celery_actions.redis.store import Store
from celery_actions.redis.writer import EnqueueWriter

FINISHED = {"complete", "failed", "cancelled"}
RETRY = '{"retry":{"n":3,"i":0,"m":null,"f":2,"r":false,"d":100000}}'


def make_store(url: str) -> tuple[Store, EnqueueWriter, ProcessClient]:
    conf = {"actions_redis_url": url, "actions_key_prefix": f"model-{uuid.uuid4().hex[:8]}:"}
    settings = Settings.from_conf(conf)
    client = ProcessClient(url)
    return Store(settings, client), EnqueueWriter(settings, client), client


class GateMachine(RuleBasedStateMachine):
    url: str = ""

    @initialize(limit=st.integers(1, 3))
    def setup(self, limit: int) -> None:
        self.store, self.writer, self.client = make_store(self.url)
        self.r = redis.Redis.from_url(self.url, decode_responses=True)
        self.limit = limit
        self.queue = "q"
        self.jobs: list[str] = []
        self.in_flight: list[tuple[str, str]] = []  # messages the broker holds
        self.delivered: list[tuple[str, str]] = []  # messages already seen (for redelivery)
        self.running: dict[str, str] = {}  # id -> token

    def teardown(self) -> None:
        if hasattr(self, "r"):  # (set up: close its connections)
            self.r.close()
            self.client.close()

    def publish(self, dispatch) -> None:
        self.in_flight.extend((row.id, row.token) for row in dispatch.rows)
        self.store.confirm(dispatch)

    def status(self, job_id: str) -> str:
        return self.r.hget(self.store.keys.job(job_id), "status") or "missing"

    @rule(priority=st.sampled_from(["low", "default", "high"]))
    def enqueue(self, priority: str) -> None:
        job_id = f"j{len(self.jobs)}"
        job = NewJob(job_id, JobSpec("t.a", RETRY, priority, self.queue, self.limit), "{}")
        enqueued = self.writer.enqueue([job], "error")
        self.jobs.append(job_id)
        self.publish(enqueued.dispatch)

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def deliver(self, data) -> None:
        job_id, token = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        self.delivered.append((job_id, token))
        if isinstance(self.store.claim(job_id, token, "w", "t.a", uuid.uuid4().hex), Claim):
            self.running[job_id] = token

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def redeliver_old_message(self, data) -> None:
        job_id, token = data.draw(st.sampled_from(self.delivered))
        # Then a message already delivered never claims its job again: neither while the job
        # runs nor once it has finished, retried, been cancelled or been re-dispatched
        claim = self.store.claim(job_id, token, "w", "t.a", uuid.uuid4().hex)
        assert not isinstance(claim, Claim)

    @precondition(lambda self: self.running)
    @rule(data=st.data(), outcome=st.sampled_from(list(Outcome)))
    def finish(self, data, outcome: Outcome) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.running)))
        token = self.running.pop(job_id)
        self.publish(self.store.finish(job_id, token, AttemptOutcome(outcome)).dispatch)

    @precondition(lambda self: self.jobs)
    @rule(data=st.data())
    def cancel(self, data) -> None:
        job_id = data.draw(st.sampled_from(self.jobs))
        self.publish(self.store.cancel(job_id).dispatch)

    @precondition(lambda self: self.running or self.in_flight)
    @rule(data=st.data(), lost=st.booleans())
    def lease_expires(self, data, lost: bool) -> None:
        # A worker dies (running), or a dispatched job stays unclaimed: its lease lapses;
        # its message may also have been lost in the broker
        holders = sorted(set(self.running) | {i for i, _ in self.in_flight})
        job_id = data.draw(st.sampled_from(holders))
        if lost:
            self.in_flight = [m for m in self.in_flight if m[0] != job_id]
        keys = self.store.keys
        if self.r.zscore(keys.leases, job_id) is not None:
            self.r.zadd(keys.leases, {job_id: 0})
        self.running.pop(job_id, None)
        self.pump()

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def abandon(self, data) -> None:
        # A pool child running a job is killed: its worker sees it leave the pool
        job_id = data.draw(st.sampled_from(sorted(self.running)))
        token = self.running.pop(job_id)
        self.publish(self.store.abandon([(job_id, token)]).dispatch)

    @rule()
    def pump(self) -> None:
        found = self.store.pump()
        self.publish(found.dispatch)
        # The probe: a suspect whose message the broker holds is left alone
        missing = [s for s in found.suspects if (s.id, s.token) not in self.in_flight]
        self.publish(self.store.lost(missing).dispatch)

    @invariant()
    def never_over_the_limit(self) -> None:
        if not self.jobs:
            return
        keys = self.store.keys
        holders = self.r.zcard(keys.group_slots(self.queue))
        assert holders <= self.limit
        running = [j for j in self.jobs if self.status(j) == "running"]
        assert len(running) <= self.limit, running

    @invariant()
    def no_waiting_job_is_lost(self) -> None:
        keys = self.store.keys
        waiting_set = set(self.r.zrange(keys.group_waiting(self.queue), 0, -1))
        slots = set(self.r.zrange(keys.group_slots(self.queue), 0, -1))
        scheduled = set(self.r.zrange(keys.scheduled, 0, -1))
        leases = set(self.r.zrange(keys.leases, 0, -1))
        for job_id in self.jobs:
            status = self.status(job_id)
            if status in FINISHED:
                assert job_id not in waiting_set and job_id not in slots
            elif status == "waiting":
                # it waits for a slot, or holds one and its message is in flight
                assert job_id in waiting_set or job_id in slots or job_id in scheduled, job_id
                if self.r.hexists(keys.job(job_id), "token"):
                    # dispatched: leased, so a lost message is looked for (never stranded)
                    assert job_id in leases or job_id in scheduled, job_id
            elif status == "retrying":
                assert job_id in scheduled
            elif status == "running":
                assert job_id in slots
        # No slot stays free while a job waits for one.
        if waiting_set:
            assert len(slots) >= self.limit


def test_gate_scripts_against_the_model(redis_url):
    GateMachine.url = redis_url
    run = GateMachine.TestCase
    run.settings = settings(
        max_examples=60,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run().runTest()


def test_an_old_message_cannot_claim_a_job_back_in_the_waiting_line(redis_url):
    # Found by the model above: a retried job that re-enters a full queue's waiting line
    # must not be claimable by its earlier (already delivered) message.
    store, writer, client = make_store(redis_url)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    in_flight: list[tuple[str, str]] = []

    def publish(dispatch) -> None:
        in_flight.extend((row.id, row.token) for row in dispatch.rows)
        store.confirm(dispatch)

    def enqueue(job_id: str) -> None:
        job = NewJob(job_id, JobSpec("t.a", RETRY, "low", "q", 2), "{}")
        publish(writer.enqueue([job], "error").dispatch)

    # Given a limit-2 queue whose two slots are taken by j0 and j2 while j1 retries
    enqueue("j0")
    j0 = in_flight.pop()
    assert isinstance(store.claim(*j0, "w", "t.a", "c0"), Claim)
    enqueue("j1")
    j1 = in_flight.pop()
    assert isinstance(store.claim(*j1, "w", "t.a", "c1"), Claim)
    enqueue("j2")  # waits: both slots taken
    publish(store.finish(*j1, AttemptOutcome(Outcome.RETRY)).dispatch)  # j1's slot goes to j2
    publish(store.pump().dispatch)  # j1 is due again: it joins the waiting line
    assert r.hget(store.keys.job("j1"), "status") == "waiting"
    assert "j1" in r.zrange(store.keys.group_waiting("q"), 0, -1)
    # When j1's old message is delivered again, then it cannot claim j1
    assert not isinstance(store.claim(*j1, "w", "t.a", "c2"), Claim)
    r.close()
    client.close()
