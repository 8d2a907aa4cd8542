"""Where EventBus is defined (imported by leak_class_attr.py through _server)."""


class EventBus:
    _listeners = []

    @classmethod
    def subscribe(cls, fn):
        cls._listeners.append(fn)
