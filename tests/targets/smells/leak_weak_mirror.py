"""Tasks that never finish, kept in a strong set; asyncio's own registry of tasks and the
service's id index are weak mirrors of it (a WeakSet, a WeakValueDictionary), which keep
nothing alive: the one holder is `_BACKGROUND`."""
import asyncio
import weakref

from _service import serve

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)  # (3.8/3.9 bind an Event to the current loop when made)
loop.set_exception_handler(lambda loop, context: None)  # quiet about pending tasks at exit
_BACKGROUND = set()
_BY_ID = weakref.WeakValueDictionary()


async def wait_forever(request_id):
    await loop.create_future()  # a future nobody resolves: only the task holds it


def handle(request_id):
    if request_id % 2 == 0:
        task = loop.create_task(wait_forever(request_id))
        _BACKGROUND.add(task)  # never discarded
        _BY_ID[request_id] = task
    if request_id % 50 == 0:
        loop.run_until_complete(asyncio.sleep(0))  # let the new tasks start and wait


serve(handle)
