"""Several twilio-python clients hitting the server at once."""

from concurrent.futures import ThreadPoolExecutor

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from support import LocalHttpClient, uniq

THREADS = 8


def _clients(account, n):
    # One client (and HTTP session) per thread, as applications would do.
    return [Client(account.sid, account.token, http_client=LocalHttpClient(account.base_url))
            for _ in range(n)]


def test_parallel_messages_get_distinct_indexes(account):
    conv = account.v1.conversations.create(friendly_name="busy")
    clients = _clients(account, THREADS)

    def send(i):
        c = clients[i].conversations.v1.conversations(conv.sid)
        return [c.messages.create(author=f"t{i}", body=f"{i}-{j}") for j in range(10)]

    with ThreadPoolExecutor(THREADS) as pool:
        sent = [m for batch in pool.map(send, range(THREADS)) for m in batch]
    indexes = [m.index for m in sent]
    assert len(set(indexes)) == len(indexes) == THREADS * 10
    listed = account.v1.conversations(conv.sid).messages.list(page_size=25)
    assert sorted(m.sid for m in listed) == sorted(m.sid for m in sent)
    assert [m.index for m in listed] == sorted(indexes)
    # Per author, messages keep the order they were sent in.
    for i in range(THREADS):
        mine = [m.body for m in listed if m.author == f"t{i}"]
        assert mine == [f"{i}-{j}" for j in range(10)]


def test_racing_unique_name_has_one_winner(account):
    unique = uniq("race")
    clients = _clients(account, THREADS)

    def create(i):
        try:
            return clients[i].conversations.v1.conversations.create(unique_name=unique).sid
        except TwilioRestException as e:
            return (e.status, e.code)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(create, range(THREADS)))
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1, results
    assert losers == [(409, 50353)] * (THREADS - 1)
    assert account.v1.conversations(unique).fetch().sid == winners[0]


def test_racing_participant_identity_has_one_winner(account):
    conv = account.v1.conversations.create()
    identity = uniq("racer")
    clients = _clients(account, THREADS)

    def join(i):
        try:
            return clients[i].conversations.v1.conversations(conv.sid).participants.create(
                identity=identity).sid
        except TwilioRestException as e:
            return (e.status, e.code)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(join, range(THREADS)))
    assert sum(isinstance(r, str) for r in results) == 1, results
    assert [r for r in results if not isinstance(r, str)] == [(409, 50433)] * (THREADS - 1)
    # The user behind the identity was created exactly once.
    assert account.v1.users(identity).fetch().identity == identity
